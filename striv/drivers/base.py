"""The contract every orchestrator driver honours.

Drivers are small plugins: they take an execution's ``driver_config``, talk to one cluster, return small
dataclasses (never models) and raise one error type, ``DriverError``, that says whether retrying may help. A driver
imports no striv app and no other striv package: everything it needs is declared here.

A driver is one package, ``striv/drivers/<key>/``, exporting a ``<Key>Driver(Driver)`` that sets ``name``, ``label``
and ``config_model`` (a ``DriverConfig``, the declarative schema of its ``driver_config``) and implements the
operations below; plus one entry in ``striv/drivers/__init__.py``. Operations with a working default here say so
("optional"); the others raise NotImplementedError until the driver implements them.

This module is longer than most on purpose: it is the whole contract (statuses, errors, result types, the config
schema base and every operation), so that a second driver is written from one file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.db import models
from pydantic import BaseModel, ConfigDict, ValidationError, WrapValidator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

# Where a problem is in a driver_config: field names and list indexes, outermost first; () is the config itself.
ConfigPath = tuple[str | int, ...]

# --- statuses ------------------------------------------------------------------------------------------------------


class RunStatus(models.TextChoices):
    """The status of a run, as drivers report it and striv stores it (``Run.status``), filters and shows it.

    The one definition: the model's choices, the API's filters and the forms' choices all derive from it.
    """

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    #: the node running it stopped answering; it may still be running and comes back when the node reconnects
    DISCONNECTED = "disconnected", "Disconnected"
    SUCCESSFUL = "successful", "Successful"
    FAILED = "failed", "Failed"
    LOST = "lost", "Lost"
    #: killed before it ended by itself (the job was stopped, purged or replaced, or the run stopped by hand)
    STOPPED = "stopped", "Stopped"


#: The statuses a run never leaves (a finished run never goes back to running).
FINISHED_RUN_STATUSES: tuple[RunStatus, ...] = (
    RunStatus.SUCCESSFUL,
    RunStatus.FAILED,
    RunStatus.LOST,
    RunStatus.STOPPED,
)
#: The statuses of a run that has not finished yet: the refresher keeps following them.
UNFINISHED_RUN_STATUSES: tuple[RunStatus, ...] = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.DISCONNECTED)
#: The statuses a job's latest run has when the job counts as failing.
FAILING_RUN_STATUSES: tuple[RunStatus, ...] = (RunStatus.FAILED, RunStatus.LOST)

# --- errors --------------------------------------------------------------------------------------------------------


class DriverError(Exception):
    """Any failure talking to the orchestrator.

    ``retryable`` is True when the same call may succeed later (cluster unreachable, 5xx, timeout) and False when the
    cluster refused the request (validation, permission, not found): retrying it unchanged would fail again.
    """

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


def config_path_text(path: ConfigPath) -> str:
    """Return ``path`` as text: ``("tls", "ca_file")`` is ``tls.ca_file``, ``("specs", 0)`` is ``specs[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class DriverConfigError(DriverError):
    """An execution's driver_config is invalid.

    ``errors`` lists ``(path, message)`` with the path as data (a tuple of field names and indexes, ``()`` for the
    config itself); ``problems`` maps the same paths as text (``config_path_text``) to their messages.
    """

    def __init__(self, errors: Sequence[tuple[ConfigPath, str]]) -> None:
        self.errors = list(errors)
        self.problems = {config_path_text(path): message for path, message in self.errors}
        text = "; ".join(f"{key}: {msg}" for key, msg in self.problems.items())
        super().__init__(f"invalid driver_config: {text}", retryable=False)


class SpecError(ValueError):
    """A rendered spec the orchestrator would refuse, found without I/O (a bad job type, a bad cron spec).

    ``message`` is the whole sentence (also ``str(error)``); ``field`` names the spec field at fault (``Type``,
    ``Periodic.Spec``) when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


# --- driver_config schemas -----------------------------------------------------------------------------------------

_WORDED = "striv_worded"


def worded(message: str) -> WrapValidator:
    """Annotate a config field so that any failure of it is one error at the field, saying ``message``.

    ``message`` may hold ``{input}``, replaced by the repr of the value given. Use it so that users read striv's
    wording (``must be a string``) rather than the schema library's, and get one error per field for a union type.
    """

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(_WORDED, message, {"input": repr(value)}) from None

    return WrapValidator(check)


class DriverConfig(BaseModel):
    """Base of the declarative schema of one driver's ``driver_config``.

    Unknown fields are refused, and values are not coerced (``"10"`` is not a number). A subclass declares the
    fields, each with a description (the JSON Schema shows it) and ``worded`` messages, and overrides ``rules``
    for checks that span fields; every problem is reported at once.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @classmethod
    def rules(cls, data: Mapping[str, Any]) -> list[tuple[ConfigPath, str]]:
        """Checks across fields on the given mapping (before validation); returns ``(path, message)`` pairs."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _rules_checked(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        broken = cls.rules(data) if isinstance(data, Mapping) else []
        try:
            model = handler(data)
        except ValidationError as exc:
            if not broken:
                raise
            raise _merged(cls.__name__, exc, broken, data) from None
        if broken:
            raise _merged(cls.__name__, None, broken, data)
        return model

    @classmethod
    def field_names(cls) -> list[str]:
        """The fields this schema knows, by the names a config uses, in declaration order."""
        return [info.alias or name for name, info in cls.model_fields.items()]


def _merged(
    title: str, exc: ValidationError | None, broken: list[tuple[ConfigPath, str]], data: Any
) -> ValidationError:
    """One ValidationError holding the field errors of ``exc`` followed by the cross-field ``broken`` ones."""
    details: list[InitErrorDetails] = []
    for error in exc.errors() if exc is not None else []:
        kind: Any = error["type"]
        if kind == _WORDED:
            kind = PydanticCustomError(_WORDED, error["msg"])
        detail = InitErrorDetails(type=kind, loc=error["loc"], input=error["input"])
        if "ctx" in error and kind is error["type"]:
            detail["ctx"] = error["ctx"]
        details.append(detail)
    for path, message in broken:
        details.append(InitErrorDetails(type=PydanticCustomError(_WORDED, message), loc=path, input=data))
    return ValidationError.from_exception_data(title, details)


def _model_at(model: type[BaseModel], path: ConfigPath) -> type[BaseModel] | None:
    """The nested model that holds the field at ``path`` (its last part), or None when it is not a model."""
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        annotation = fields[part].annotation if part in fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def config_errors_of(model: type[DriverConfig], exc: ValidationError) -> list[tuple[ConfigPath, str]]:
    """Translate a schema's ValidationError into ``(path, message)`` pairs in striv's wording."""
    errors: list[tuple[ConfigPath, str]] = []
    for error in exc.errors():
        path: ConfigPath = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            holder = _model_at(model, path)
            known = holder.field_names() if holder is not None and issubclass(holder, DriverConfig) else []
            message = f"unknown field; known: {', '.join(known)}" if known else "unknown field"
        elif kind == "missing":
            message = "required"
        elif kind in ("model_type", "dict_type") and not path:
            message = "must be an object"
        else:
            message = error["msg"]
        errors.append((path, message))
    return errors


# --- results -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    """What a push did: ``changed`` is False when the cluster already held an identical job."""

    external_id: str
    changed: bool
    warnings: str = ""


@dataclass(frozen=True)
class RunNowResult:
    """A run started on demand; ``external_id`` is the orchestrator's id of the launched job/run when known.

    A RunNowResult means the orchestrator accepted the launch. ``warning`` says what could not be learnt about it
    afterwards (a follow-up read that failed), so nobody launches it again believing it failed.
    """

    external_id: str
    eval_id: str = ""
    warning: str = ""


@dataclass(frozen=True)
class PlanResult:
    """A dry run against the live cluster: whether anything would change and a readable diff."""

    changed: bool
    diff_text: str
    raw: dict[str, Any] = field(default_factory=dict)
    next_launch: datetime | None = None


@dataclass(frozen=True)
class TaskInfo:
    """One task of a run, like one step of a pipeline."""

    name: str
    state: str
    failed: bool = False
    exit_code: int | None = None
    started: datetime | None = None
    finished: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class RunInfo:
    """A run as the orchestrator reports it, in striv's terms (``status`` is a RunStatus)."""

    external_id: str
    job_ref: str
    status: RunStatus
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    tasks: tuple[TaskInfo, ...] = ()
    # The cluster's creation order marker (Nomad: the allocation's CreateIndex), for incremental discovery.
    create_index: int = 0


@dataclass(frozen=True)
class LogChunk:
    """A slice of one task's stream: ``data`` from ``offset``; ``next_offset`` is where to continue."""

    data: bytes
    offset: int
    next_offset: int
    complete: bool


@dataclass(frozen=True)
class Health:
    """Whether the cluster answers, with a short detail (version, leader, error)."""

    ok: bool
    detail: str = ""


# --- the driver ----------------------------------------------------------------------------------------------------


class Driver:
    """Base class of drivers. Subclasses set ``name``, ``label`` and ``config_model`` and implement the methods below.

    ``config`` is the execution's driver_config; ``__init__`` checks it against ``config_model`` and raises
    DriverConfigError. ``decrypt`` turns a secret's ciphertext into cleartext, used only when a config value is a
    secret. Class methods do no I/O and need no instance, so callers use them on configs and specs alone.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    config_model: ClassVar[type[DriverConfig]] = DriverConfig

    def __init__(self, config: Mapping[str, Any], *, decrypt: Callable[[str], str] | None = None) -> None:
        errors = self.config_errors(config)
        if errors:
            raise DriverConfigError(errors)
        self.config = dict(config)
        self.settings = self.config_model.model_validate(self.config)
        self.decrypt = decrypt

    # --- configuration (class methods, no I/O) ---------------------------------------------------------------------

    @classmethod
    def config_errors(cls, config: Any) -> list[tuple[ConfigPath, str]]:
        """Return ``(path, message)`` for every problem of a driver_config, empty when it is valid."""
        if not isinstance(config, Mapping):
            return [((), "must be an object")]
        try:
            cls.config_model.model_validate(dict(config))
        except ValidationError as exc:
            return config_errors_of(cls.config_model, exc)
        return []

    @classmethod
    def config_problems(cls, config: Any) -> dict[str, str]:
        """Return {field path as text: problem} for an invalid driver_config, empty when it is valid."""
        return {config_path_text(path): message for path, message in cls.config_errors(config)}

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """The JSON Schema of this driver's driver_config, for docs and the state file's schema."""
        return cls.config_model.model_json_schema()

    @classmethod
    def cluster_key(cls, config: Mapping[str, Any]) -> tuple[Any, ...]:
        """A hashable identity of the cluster (and namespace) a config points at, so it is queried once. Optional:
        by default every distinct config is its own cluster."""
        return tuple(sorted((k, str(v)) for k, v in config.items()))

    @classmethod
    def job_id_prefix(cls, config: Mapping[str, Any]) -> str:
        """The prefix of the cluster job ids of striv jobs under a (valid) config: ``external_id`` starts with it, and
        the refresher passes the prefixes of a cluster's executions to ``runs_*`` and ``job_ref``."""
        raise NotImplementedError

    # --- specs (class methods, no I/O) -----------------------------------------------------------------------------

    @classmethod
    def validate_spec(cls, spec: Mapping[str, Any]) -> None:
        """Check a rendered spec for what the cluster would refuse (e.g. cron syntax); returns None, raises SpecError
        naming the field. Optional: by default every spec passes."""

    @classmethod
    def next_launches(cls, spec: Mapping[str, Any], *, count: int, after: datetime | None = None) -> list[datetime]:
        """The next ``count`` launch times of a rendered spec strictly after ``after`` (default: now), as aware
        datetimes in order. Returns [] for a spec without a schedule and for one it cannot read; never raises.
        Optional: by default no spec has a schedule."""
        return []

    # --- jobs ------------------------------------------------------------------------------------------------------

    def external_id(self, job_id: str, spec: Mapping[str, Any] | None = None) -> str:
        """The orchestrator's id for striv job ``job_id``, stable across renames."""
        raise NotImplementedError

    def push(self, *, job_id: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> PushResult:
        """Create or update the job on the cluster. Raises DriverError."""
        raise NotImplementedError

    def remove(self, *, job_id: str) -> None:
        """Remove the job from the cluster (purging it); a job that is already gone is not an error."""
        raise NotImplementedError

    def run_now(self, *, job_id: str) -> RunNowResult:
        """Start a run of the job at once. Raises DriverError."""
        raise NotImplementedError

    def plan(self, *, job_id: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> PlanResult:
        """Compare the rendered spec with the live job without changing anything. Raises DriverError."""
        raise NotImplementedError

    @classmethod
    def plan_text(cls, raw: Mapping[str, Any]) -> str:
        """Format a plan's raw answer (``PlanResult.raw``) as readable text, as ``plan`` does for ``diff_text``.

        striv calls it on a copy of ``raw`` whose secret values were replaced, so a plan never formats a secret.
        Optional: the default shows the raw answer as JSON.
        """
        return json.dumps(raw, indent=2, sort_keys=True, default=str)

    def read(self, *, job_id: str) -> dict[str, Any] | None:
        """Return the live job as the cluster holds it, or None when it has no such job."""
        raise NotImplementedError

    # --- runs ------------------------------------------------------------------------------------------------------

    def runs_index(self) -> int:
        """A cheap change marker of the cluster's runs: when it equals the last one seen, nothing changed."""
        raise NotImplementedError

    def runs_new(self, *, after: int, prefixes: Sequence[str]) -> Iterator[RunInfo]:
        """Yield the runs of striv-managed jobs (cluster job ids starting with one of ``prefixes``) created after the
        creation marker ``after`` (0: all), newest first, page by page so memory stays bounded. Raises DriverError."""
        raise NotImplementedError

    def runs_active(self, *, prefixes: Sequence[str]) -> list[RunInfo]:
        """The runs the cluster still considers pending or running. Raises DriverError."""
        raise NotImplementedError

    def run_read(self, *, run_ref: str, prefixes: Sequence[str]) -> RunInfo | None:
        """One run as the cluster has it now, or None when the cluster no longer knows it. Raises DriverError."""
        raise NotImplementedError

    def job_ref(self, external_job_id: str, prefixes: Sequence[str]) -> str | None:
        """The striv job id behind a cluster job id (a periodic child or dispatched run included), or None."""
        raise NotImplementedError

    def fetch_logs(
        self, *, run_ref: str, task: str, stream: str, offset: int = 0, max_bytes: int | None = None
    ) -> LogChunk:
        """Read a slice of a run's task log. Raises DriverError (status 404 when the logs are gone)."""
        raise NotImplementedError

    def health(self) -> Health:
        """Say whether the cluster answers; never raises."""
        raise NotImplementedError
