"""The state document, declared: pydantic models for its shape, and the checks that need a driver or templating.

``state_parse`` turns evaluated state data into a ``StateDocument`` or raises ``StateError`` listing every problem,
each a ``StateProblem`` whose ``path`` is data (``("executions", "greeter", "driver_config", "address")``).
The shape is checked by the models (types, required and unknown fields, key syntax, registered drivers); each
execution's ``driver_config`` is checked by its driver (``config_problems``), params by templating's param rules, and
templates by compiling them. ``python -m striv.state.schema`` prints the document's JSON Schema, as published in
docs/state-format.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from striv import templating
from striv.drivers import DRIVERS, driver_class

logger = logging.getLogger(__name__)

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
KEY_RULE = "keys use letters, digits, '_' and '-', starting with a letter or digit"

Path = tuple[str | int, ...]

# Keys of executions, dimensions and values: their identity in state files, URLs and the API.
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN, max_length=100)]
# Names and labels, as long as their database columns allow.
Label = Annotated[str, StringConstraints(max_length=200)]
# A keyed map refuses keys that do not match (patternProperties alone would let them through).
_KEYED: JsonDict = {"additionalProperties": False}


class _Strict(BaseModel):
    """Strict JSON types (no "1" for 1, no true for 1) and no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ExecutionState(_Strict):
    """One execution: a job template for one cluster, with its driver's configuration and default params."""

    name: Label | None = Field(default=None, description="Shown in the UI; defaults to the key.")
    driver: str = Field(max_length=30, description="A registered driver, such as `nomad`.")
    driver_config: dict[str, Any] = Field(
        default_factory=dict, description="The driver's configuration, checked by the driver (docs/drivers.md)."
    )
    default_params: dict[str, Any] = Field(default_factory=dict, description="Params every job of it starts from.")
    payload_template: str = Field(min_length=1, description="Jsonnet text that sees the merged params as `params`.")
    logstore: Annotated[str, StringConstraints(max_length=30)] | None = Field(
        default=None, description="Accepted for older state files; has no effect."
    )

    @field_validator("driver")
    @classmethod
    def _registered(cls, driver: str) -> str:
        if driver not in DRIVERS:
            raise PydanticCustomError(
                "unknown_driver",
                "unknown driver {driver} (known: {known})",
                {"driver": repr(driver), "known": ", ".join(sorted(DRIVERS))},
            )
        return driver


class ValueState(_Strict):
    """One value of a dimension, with the params it gives the jobs that use it."""

    params: dict[str, Any] = Field(default_factory=dict, description="Params of jobs using this value.")
    label: Label | None = Field(default=None, description="Shown in the UI.")


class DimensionState(_Strict):
    """One dimension and its values; a higher priority wins when the params of several dimensions merge."""

    priority: int = Field(default=0, description="Higher wins when params merge.")
    label: Label | None = Field(default=None, description="Shown in the UI.")
    description: str | None = Field(default=None, description="Shown in the UI.")
    values: dict[Key, ValueState] = Field(default_factory=dict, json_schema_extra=_KEYED)


class StateDocument(_Strict):
    """Every execution and dimension; a key left out is deleted by load-state."""

    model_config = ConfigDict(
        title="striv state",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    executions: dict[Key, ExecutionState] = Field(default_factory=dict, json_schema_extra=_KEYED)
    dimensions: dict[Key, DimensionState] = Field(default_factory=dict, json_schema_extra=_KEYED)


def state_json_schema() -> dict[str, Any]:
    """The JSON Schema of a state document (after jsonnet evaluation), as published in docs/state-format.md."""
    return StateDocument.model_json_schema()


# --- problems ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateProblem:
    """One reason a state is refused. ``path`` locates it in the document (``()`` for the document itself), or is
    None when the problem is not about one place in it (a file that does not evaluate, a job that would break)."""

    path: Path | None
    message: str

    @property
    def where(self) -> str | None:
        """The path as printed: ``executions.greeter.driver``; ``(top level)`` and ``(top level).jobs`` for the
        document itself and its unknown fields; None without a path."""
        if self.path is None:
            return None
        if not self.path:
            return "(top level)"
        dotted = ".".join(str(part) for part in self.path)
        if len(self.path) == 1 and self.path[0] not in StateDocument.model_fields:
            return f"(top level).{dotted}"
        return dotted

    @property
    def field(self) -> str | None:
        """The dotted path of a place inside the document, None for the document as a whole or no place."""
        where = self.where
        return None if where is None or where.startswith("(top level)") else where

    def __str__(self) -> str:
        return self.message if self.where is None else f"{self.where}: {self.message}"


class StateError(Exception):
    """The state cannot be loaded; nothing was changed.

    ``summary`` says why in one line (naming the file), ``errors`` lists each problem with its path.
    """

    def __init__(self, summary: str, errors: Iterable[StateProblem | str] = ()) -> None:
        self.summary = summary
        self.errors = [e if isinstance(e, StateProblem) else StateProblem(None, e) for e in errors]
        super().__init__("\n".join([summary, *(f"  - {e}" for e in self.errors)]))

    @property
    def problems(self) -> list[str]:
        """Each problem as printed, path first."""
        return [str(e) for e in self.errors]


# --- parsing -------------------------------------------------------------------------------------------------


def state_parse(data: Any, *, source: str = "state") -> StateDocument:
    """Check evaluated state data and return it as a StateDocument.

    Raises StateError (``<source>: invalid state``) listing every problem, each with its path.
    """
    try:
        document = StateDocument.model_validate(data)
    except ValidationError as exc:
        # Report the content of the parts whose shape is right too, so one pass lists every problem.
        problems = _shape_problems(exc) + _content_problems(_valid_parts(data))
        raise StateError(f"{source}: invalid state", problems) from None
    problems = _content_problems(document)
    if problems:
        raise StateError(f"{source}: invalid state", problems)
    return document


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _model_at(path: Path) -> type[BaseModel] | None:
    """The model that validates the object at ``path`` (keys of keyed maps included), None if there is none."""
    model: type[BaseModel] = StateDocument
    parts = list(path)
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        if field is None or not parts:
            return None
        parts.pop(0)  # the key inside the keyed map
        value_type = getattr(field.annotation, "__args__", (None, None))[-1]
        if not (isinstance(value_type, type) and issubclass(value_type, BaseModel)):
            return None
        model = value_type
    return model


def _shape_message(error: Mapping[str, Any], path: Path) -> str:
    kind, value = error["type"], error["input"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        allowed = f" (allowed: {', '.join(sorted(model.model_fields))})" if model else ""
        return f"unknown field{allowed}"
    if kind in ("model_type", "dict_type"):
        return f"must be an object, got {_type_name(value)}"
    if kind == "string_type":
        return f"must be a string, got {_type_name(value)}"
    if kind == "int_type":
        return f"must be an integer, got {_type_name(value)}"
    if kind == "string_pattern_mismatch" and error["loc"][-1] == "[key]":
        return KEY_RULE
    if kind == "string_too_long":
        return f"at most {error['ctx']['max_length']} characters"
    if kind == "string_too_short":
        return "must not be empty"
    return str(error["msg"])


def _shape_problems(exc: ValidationError) -> list[StateProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path = loc[:-1] if loc and loc[-1] == "[key]" else loc
        problems.append(StateProblem(path, _shape_message(error, path)))
    return problems


def _objects(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _valid_parts(data: Any) -> StateDocument:
    """The executions and dimension values of ``data`` whose own shape is right, for their content checks."""
    executions: dict[str, ExecutionState] = {}
    dimensions: dict[str, DimensionState] = {}
    document = _objects(data)
    for key, item in _objects(document.get("executions")).items():
        with suppress(ValidationError):
            executions[key] = ExecutionState.model_validate(item)
    for key, item in _objects(document.get("dimensions")).items():
        values = {}
        for value_key, value in _objects(_objects(item).get("values")).items():
            with suppress(ValidationError):
                values[value_key] = ValueState.model_validate(value)
        dimensions[key] = DimensionState.model_construct(values=values)
    return StateDocument.model_construct(executions=executions, dimensions=dimensions)


def _content_problems(document: StateDocument) -> list[StateProblem]:
    """What the shape cannot say: driver configs (by their driver), params (by templating) and templates."""
    problems: list[StateProblem] = []
    for key, execution in document.executions.items():
        path: Path = ("executions", key)
        for where, message in driver_config_problems(execution.driver, execution.driver_config):
            problems.append(StateProblem((*path, "driver_config", *where), message))
        try:
            templating.template_check(execution.payload_template, execution_key=key)
        except templating.RenderError as exc:
            problems.append(StateProblem((*path, "payload_template"), str(exc)))
        problems += _params_problems(
            (*path, "default_params"), execution.default_params, templating.layer_name_execution(key)
        )
    for key, dimension in document.dimensions.items():
        for value_key, value in dimension.values.items():
            problems += _params_problems(
                ("dimensions", key, "values", value_key, "params"),
                value.params,
                templating.layer_name_dimension(key, value_key),
            )
    return problems


def _params_problems(path: Path, params: Mapping[str, Any], layer: str) -> list[StateProblem]:
    try:
        templating.params_validate(params, layer=layer)
    except templating.RenderError as exc:
        return [StateProblem((*path, exc.param) if exc.param else path, exc.message)]
    return []


def driver_config_problems(driver: str, config: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """The problems the driver finds in ``config``, as (path inside the config, message) pairs.

    Takes what ``config_problems`` returns: a mapping from a field name (``""`` for the config itself) or a path
    tuple to a message, or problems with ``path`` and ``message`` attributes.
    """
    found: Any = driver_class(driver).config_problems(config)
    pairs = found.items() if isinstance(found, Mapping) else ((p.path, p.message) for p in found)
    problems: list[tuple[Path, str]] = []
    for where, message in pairs:
        if isinstance(where, tuple | list):
            path: Path = tuple(where)
        else:
            path = (where,) if where else ()
        problems.append((path, str(message)))
    return problems


if __name__ == "__main__":
    print(json.dumps(state_json_schema(), indent=2))
