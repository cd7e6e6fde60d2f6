"""State: executions and dimensions as kept in git, loaded and dumped as one document.

``state_read`` evaluates a jsonnet (or JSON) file, ``state_parse`` checks its shape, ``state_load`` replaces the
executions and dimensions in one transaction, refusing when a job would be left broken; ``state_dump`` writes the
current state in the same format.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _gojsonnet
from django.db import transaction

from striv import templating
from striv.dimensions.models import Dimension, DimensionValue
from striv.drivers import DRIVERS, driver_class
from striv.executions.models import Execution
from striv.jobs import rendering as job_rendering
from striv.jobs import sync as job_sync
from striv.jobs.models import Job

logger = logging.getLogger(__name__)

KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
EXECUTION_FIELDS = {"name", "driver", "driver_config", "default_params", "payload_template", "logstore"}
DIMENSION_FIELDS = {"priority", "label", "description", "values"}
VALUE_FIELDS = {"params", "label"}
# Jobs listed by name in a refusal; the rest are counted.
MAX_LISTED = 50


class StateError(Exception):
    """The state cannot be loaded. ``problems`` lists every reason; nothing was changed."""

    def __init__(self, summary: str, problems: Iterable[str] = ()) -> None:
        self.summary = summary
        self.problems = list(problems)
        super().__init__("\n".join([summary, *(f"  - {p}" for p in self.problems)]))


@dataclass
class ExecutionState:
    key: str
    name: str
    driver: str
    driver_config: dict[str, Any]
    default_params: dict[str, Any]
    payload_template: str
    logstore: str = ""


@dataclass
class ValueState:
    key: str
    params: dict[str, Any]
    label: str = ""


@dataclass
class DimensionState:
    key: str
    priority: int
    label: str = ""
    description: str = ""
    values: dict[str, ValueState] = field(default_factory=dict)


@dataclass
class State:
    executions: dict[str, ExecutionState] = field(default_factory=dict)
    dimensions: dict[str, DimensionState] = field(default_factory=dict)


@dataclass
class StateDiff:
    """What a load changed (or, with dry_run, would change)."""

    dry_run: bool = False
    executions_added: list[str] = field(default_factory=list)
    executions_changed: list[str] = field(default_factory=list)
    executions_removed: list[str] = field(default_factory=list)
    dimensions_added: list[str] = field(default_factory=list)
    dimensions_changed: list[str] = field(default_factory=list)
    dimensions_removed: list[str] = field(default_factory=list)
    values_added: list[str] = field(default_factory=list)
    values_changed: list[str] = field(default_factory=list)
    values_removed: list[str] = field(default_factory=list)
    jobs_changed: list[tuple[str, str]] = field(default_factory=list)  # (job id, name)
    jobs_rendered: int = 0

    @property
    def changed(self) -> bool:
        return any(
            getattr(self, name)
            for name in (
                "executions_added", "executions_changed", "executions_removed", "dimensions_added",
                "dimensions_changed", "dimensions_removed", "values_added", "values_changed", "values_removed",
            )
        )  # fmt: skip

    def lines(self) -> list[str]:
        """The report printed by load-state, one line per change."""
        out = []
        for label, items in (
            ("execution added", self.executions_added),
            ("execution changed", self.executions_changed),
            ("execution removed", self.executions_removed),
            ("dimension added", self.dimensions_added),
            ("dimension changed", self.dimensions_changed),
            ("dimension removed", self.dimensions_removed),
            ("dimension value added", self.values_added),
            ("dimension value changed", self.values_changed),
            ("dimension value removed", self.values_removed),
        ):
            out += [f"{label}: {item}" for item in items]
        out += [f"job spec changes: {name} ({job_id}), marked out of sync" for job_id, name in self.jobs_changed]
        verb = "would change" if self.dry_run else "changed"
        if not self.changed:
            out.append("no changes" + (" (dry run)" if self.dry_run else ""))
        else:
            out.append(
                f"{verb}: executions +{len(self.executions_added)} ~{len(self.executions_changed)} "
                f"-{len(self.executions_removed)}, dimension values +{len(self.values_added)} "
                f"~{len(self.values_changed)} -{len(self.values_removed)}, jobs re-rendered {self.jobs_rendered}, "
                f"jobs with a changed spec {len(self.jobs_changed)}"
                + (" (dry run, nothing saved)" if self.dry_run else "")
            )
        return out


# --- reading ---------------------------------------------------------------------------------------------------

_LOCATION_RE = re.compile(r"(?P<file>[^\s:]+(?::[^\s:]+)*?):(?P<line>\d+):(?P<col>\d+)")


def state_read(path: str | Path) -> Any:
    """Evaluate a state file (jsonnet or JSON); imports and importstr resolve relative to it.

    Returns the evaluated data. Raises StateError with ``file:line:column`` when it does not evaluate.
    """
    path = Path(path)
    if not path.is_file():
        raise StateError(f"{path}: no such file")
    try:
        text = _gojsonnet.evaluate_file(str(path))
    except RuntimeError as exc:
        raise StateError(f"{path}: does not evaluate", [_jsonnet_error_text(str(exc))]) from None
    import json

    return json.loads(text)


def _jsonnet_error_text(message: str) -> str:
    message = message.strip()
    lines = message.splitlines()
    first = lines[0] if lines else message
    if first.startswith("RUNTIME ERROR: "):
        reason = first.removeprefix("RUNTIME ERROR: ")
        for line in lines[1:]:
            match = _LOCATION_RE.search(line)
            if match:
                return f"{match['file']}:{match['line']}:{match['col']}: {reason}"
        return reason
    match = _LOCATION_RE.match(first)
    if match:
        return f"{match['file']}:{match['line']}:{match['col']}: {first[match.end() :].lstrip(' -0123456789)').strip()}"
    return first


# --- parsing ---------------------------------------------------------------------------------------------------


class _Problems(list):
    def add(self, path: str, message: str) -> None:
        self.append(f"{path}: {message}")


def _check_object(problems: _Problems, path: str, value: Any) -> bool:
    if not isinstance(value, dict):
        problems.add(path, f"must be an object, got {_type_name(value)}")
        return False
    return True


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _check_fields(problems: _Problems, path: str, value: dict, allowed: set[str]) -> None:
    for name in value:
        if name not in allowed:
            problems.add(f"{path}.{name}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _check_params(problems: _Problems, path: str, params: Any, layer: str) -> dict:
    if not _check_object(problems, path, params):
        return {}
    try:
        templating.params_validate(params, layer=layer)
    except templating.RenderError as exc:
        problems.add(f"{path}.{exc.param}" if exc.param else path, exc.message)
    return params


def _check_key(problems: _Problems, path: str, key: str) -> None:
    if not KEY_RE.match(key):
        problems.add(path, "keys use letters, digits, '_' and '-', starting with a letter or digit")


def state_parse(data: Any, *, source: str = "state") -> State:
    """Check the shape of evaluated state data and return it as a State.

    Raises StateError listing every problem with its path (``dimensions.customer.values.acme.params``).
    """
    problems = _Problems()
    state = State()
    if not _check_object(problems, "(top level)", data):
        raise StateError(f"{source}: invalid state", problems)
    _check_fields(problems, "(top level)", data, {"executions", "dimensions"})
    executions = data.get("executions", {})
    if _check_object(problems, "executions", executions):
        for key, spec in executions.items():
            path = f"executions.{key}"
            _check_key(problems, path, key)
            if not _check_object(problems, path, spec):
                continue
            _check_fields(problems, path, spec, EXECUTION_FIELDS)
            state.executions[key] = _parse_execution(problems, path, key, spec)
    dimensions = data.get("dimensions", {})
    if _check_object(problems, "dimensions", dimensions):
        for key, spec in dimensions.items():
            path = f"dimensions.{key}"
            _check_key(problems, path, key)
            if not _check_object(problems, path, spec):
                continue
            _check_fields(problems, path, spec, DIMENSION_FIELDS)
            state.dimensions[key] = _parse_dimension(problems, path, key, spec)
    if problems:
        raise StateError(f"{source}: invalid state", problems)
    return state


def _string(problems: _Problems, path: str, value: Any, *, required: bool = False, default: str = "") -> str:
    if value is None:
        if required:
            problems.add(path, "required")
        return default
    if not isinstance(value, str):
        problems.add(path, f"must be a string, got {_type_name(value)}")
        return default
    return value


def _parse_execution(problems: _Problems, path: str, key: str, spec: dict) -> ExecutionState:
    driver = _string(problems, f"{path}.driver", spec.get("driver"), required=True)
    if driver and driver not in DRIVERS:
        problems.add(f"{path}.driver", f"unknown driver {driver!r} (known: {', '.join(sorted(DRIVERS))})")
    driver_config = spec.get("driver_config", {})
    if _check_object(problems, f"{path}.driver_config", driver_config) and driver in DRIVERS:
        for name, message in driver_class(driver).config_problems(driver_config).items():
            problems.add(f"{path}.driver_config.{name}" if name else f"{path}.driver_config", message)
    template = _string(problems, f"{path}.payload_template", spec.get("payload_template"), required=True)
    if template:
        try:
            templating.template_check(template, execution_key=key)
        except templating.RenderError as exc:
            problems.add(f"{path}.payload_template", str(exc))
    logstore = spec.get("logstore", "")
    return ExecutionState(
        key=key,
        name=_string(problems, f"{path}.name", spec.get("name"), default=key) or key,
        driver=driver,
        driver_config=driver_config if isinstance(driver_config, dict) else {},
        default_params=_check_params(
            problems, f"{path}.default_params", spec.get("default_params", {}), templating.layer_name_execution(key)
        ),
        payload_template=template,
        logstore=_string(problems, f"{path}.logstore", logstore),
    )


def _parse_dimension(problems: _Problems, path: str, key: str, spec: dict) -> DimensionState:
    priority = spec.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        problems.add(f"{path}.priority", f"must be an integer, got {_type_name(priority)}")
        priority = 0
    dimension = DimensionState(
        key=key,
        priority=priority,
        label=_string(problems, f"{path}.label", spec.get("label")),
        description=_string(problems, f"{path}.description", spec.get("description")),
    )
    values = spec.get("values", {})
    if _check_object(problems, f"{path}.values", values):
        for value_key, value_spec in values.items():
            value_path = f"{path}.values.{value_key}"
            _check_key(problems, value_path, value_key)
            if not _check_object(problems, value_path, value_spec):
                continue
            _check_fields(problems, value_path, value_spec, VALUE_FIELDS)
            dimension.values[value_key] = ValueState(
                key=value_key,
                label=_string(problems, f"{value_path}.label", value_spec.get("label")),
                params=_check_params(
                    problems,
                    f"{value_path}.params",
                    value_spec.get("params", {}),
                    templating.layer_name_dimension(key, value_key),
                ),
            )
    return dimension


# --- dumping ---------------------------------------------------------------------------------------------------


def state_dump() -> dict[str, Any]:
    """Return the current executions and dimensions in the state format; loading it back changes nothing."""
    executions = {}
    for execution in Execution.objects.order_by("key"):
        item = {
            "name": execution.name,
            "driver": execution.driver,
            "driver_config": execution.driver_config,
            "default_params": execution.default_params,
            "payload_template": execution.payload_template,
        }
        if execution.logstore:
            item["logstore"] = execution.logstore
        executions[execution.key] = item
    dimensions: dict[str, Any] = {}
    for dimension in Dimension.objects.order_by("key"):
        item = {"priority": dimension.priority, "values": {}}
        if dimension.label:
            item["label"] = dimension.label
        if dimension.description:
            item["description"] = dimension.description
        dimensions[dimension.key] = item
    for value in DimensionValue.objects.select_related("dimension").order_by("dimension__key", "key"):
        entry: dict[str, Any] = {"params": value.params}
        if value.label:
            entry["label"] = value.label
        dimensions[value.dimension.key]["values"][value.key] = entry
    return {"executions": executions, "dimensions": dimensions}


# --- loading ---------------------------------------------------------------------------------------------------


def _execution_fields(item: ExecutionState) -> dict[str, Any]:
    return {
        "name": item.name,
        "driver": item.driver,
        "driver_config": item.driver_config,
        "default_params": item.default_params,
        "payload_template": item.payload_template,
        "logstore": item.logstore,
    }


def _differs(obj: Any, fields: Mapping[str, Any]) -> bool:
    return any(getattr(obj, name) != value for name, value in fields.items())


def _job_label(job: Job) -> str:
    return f"job {job.name!r} ({job.pk})"


def _listed(items: list[str]) -> list[str]:
    if len(items) <= MAX_LISTED:
        return items
    return [*items[:MAX_LISTED], f"... and {len(items) - MAX_LISTED} more"]


ProgressWrapper = Callable[[Iterable[Any], int], Iterable[Any]]


@transaction.atomic
def state_load(*, state: State, dry_run: bool = False, progress: ProgressWrapper | None = None) -> StateDiff:
    """Replace executions and dimensions with ``state`` in one transaction.

    Keys present are created or updated, keys absent are deleted. Every job the change touches is re-rendered;
    jobs whose spec changes are marked out of sync. Returns the StateDiff. Raises StateError, changing nothing,
    when a removed execution or dimension value is still used by jobs, or when any job would fail to render.
    With ``dry_run`` the same checks and report happen and the transaction is rolled back.
    """
    diff = StateDiff(dry_run=dry_run)
    problems: list[str] = []

    executions = {e.key: e for e in Execution.objects.select_for_update().order_by("key")}
    dimensions = {d.key: d for d in Dimension.objects.select_for_update().order_by("key")}
    values = {(v.dimension.key, v.key): v for v in DimensionValue.objects.select_related("dimension")}

    # Removals that would orphan jobs are refused up front.
    removed_executions = [key for key in executions if key not in state.executions]
    for key in removed_executions:
        users = list(Job.objects.filter(execution=executions[key]).order_by("name")[: MAX_LISTED + 1])
        if users:
            problems.append(
                f"execution {key} is removed but used by jobs: " + ", ".join(_listed([_job_label(j) for j in users]))
            )
    removed_values = [
        pair for pair in values if pair[0] not in state.dimensions or pair[1] not in state.dimensions[pair[0]].values
    ]
    for pair in removed_values:
        users = list(Job.objects.for_value(values[pair]).order_by("name")[: MAX_LISTED + 1])
        if users:
            problems.append(
                f"dimension value {pair[0]}={pair[1]} is removed but used by jobs: "
                + ", ".join(_listed([_job_label(j) for j in users]))
            )
    if problems:
        raise StateError("state refused: removed items are still in use", problems)

    touched_executions: set[int] = set()
    touched_values: set[int] = set()
    touched_dimensions: set[int] = set()

    for key, item in state.executions.items():
        fields = _execution_fields(item)
        existing = executions.get(key)
        if existing is None:
            execution = Execution(key=key, **fields)
            execution.full_clean()
            execution.save()
            executions[key] = execution
            diff.executions_added.append(key)
        elif _differs(existing, fields):
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.full_clean()
            existing.save()
            touched_executions.add(existing.pk)
            diff.executions_changed.append(key)

    for key, item in state.dimensions.items():
        fields = {"priority": item.priority, "label": item.label, "description": item.description}
        dimension = dimensions.get(key)
        if dimension is None:
            dimension = Dimension(key=key, **fields)
            dimension.full_clean()
            dimension.save()
            dimensions[key] = dimension
            diff.dimensions_added.append(key)
        elif _differs(dimension, fields):
            if dimension.priority != item.priority:
                touched_dimensions.add(dimension.pk)
            for name, value in fields.items():
                setattr(dimension, name, value)
            dimension.full_clean()
            dimension.save()
            diff.dimensions_changed.append(key)
        for value_key, value_item in item.values.items():
            value_fields = {"params": value_item.params, "label": value_item.label}
            value = values.get((key, value_key))
            if value is None:
                value = DimensionValue(dimension=dimension, key=value_key, **value_fields)
                value.full_clean()
                value.save()
                diff.values_added.append(f"{key}={value_key}")
            elif _differs(value, value_fields):
                for name, field_value in value_fields.items():
                    setattr(value, name, field_value)
                value.full_clean()
                value.save()
                touched_values.add(value.pk)
                diff.values_changed.append(f"{key}={value_key}")

    for pair in removed_values:
        values[pair].delete()
        diff.values_removed.append(f"{pair[0]}={pair[1]}")
    for key in [k for k in dimensions if k not in state.dimensions]:
        dimensions[key].delete()
        diff.dimensions_removed.append(key)
    for key in removed_executions:
        executions[key].delete()
        diff.executions_removed.append(key)

    affected = Job.objects.none()
    if touched_executions or touched_values or touched_dimensions:
        from django.db.models import Q

        affected = (
            Job.objects.filter(
                Q(execution_id__in=touched_executions)
                | Q(job_values__value_id__in=touched_values)
                | Q(job_values__dimension_id__in=touched_dimensions)
            )
            .distinct()
            .order_by("execution_id", "name", "id")
        )
    _rerender(affected, diff, progress=progress)

    if dry_run:
        transaction.set_rollback(True)
    return diff


def _rerender(jobs: Any, diff: StateDiff, *, progress: ProgressWrapper | None) -> None:
    """Render ``jobs`` against the new state; raise StateError listing every failure, else store changed specs."""
    total = jobs.count()
    diff.jobs_rendered = total
    results = job_rendering.jobs_render_many(jobs)
    if progress:
        results = progress(results, total)
    failures: list[str] = []
    changed: list[Job] = []
    for job, result in results:
        if isinstance(result, templating.RenderError):
            failures.append(f"{_job_label(job)}: {result}")
            continue
        rendered, new_hash = result
        if new_hash != job.spec_hash:
            job.spec = rendered.spec
            job.spec_hash = new_hash
            if new_hash != job.pushed_hash:
                job.sync_status = Job.SyncStatus.OUT_OF_SYNC
            changed.append(job)
            diff.jobs_changed.append((str(job.pk), job.name))
    if failures:
        raise StateError(f"state refused: {len(failures)} job(s) would fail to render", _listed(failures))
    Job.objects.bulk_update(changed, ["spec", "spec_hash", "sync_status"], batch_size=500)


def state_after_load(diff: StateDiff, *, progress: ProgressWrapper | None = None) -> list[str]:
    """After a committed load, push the jobs whose spec changed; returns report lines.

    A job that cannot be pushed now stays pending and is retried by sync-jobs and the refresher.
    """
    if diff.dry_run or not diff.jobs_changed:
        return []
    ids = [job_id for job_id, _ in diff.jobs_changed]
    report = job_sync.jobs_sync(jobs=Job.objects.filter(pk__in=ids), progress=progress)
    lines = [f"push: {report.summary()}"]
    lines += [f"push failed: {label}: {reason}" for label, reason in report.failed]
    return lines
