"""The contract every orchestrator driver honours.

Drivers are small plugins: they take an execution's ``driver_config``, talk to one cluster, return small
dataclasses (never models) and raise one error type, ``DriverError``, that says whether retrying may help.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.db import models


class RunStatus(models.TextChoices):
    """The status of a run, as drivers report it and striv stores it (``Run.status``), filters and shows it.

    The one definition: the model's choices, the API's filters and the forms' choices all derive from it.
    """

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCESSFUL = "successful", "Successful"
    FAILED = "failed", "Failed"
    LOST = "lost", "Lost"


#: The statuses a run never leaves (a finished run never goes back to running).
FINISHED_RUN_STATUSES: tuple[RunStatus, ...] = (RunStatus.SUCCESSFUL, RunStatus.FAILED, RunStatus.LOST)
#: The statuses a job's latest run has when the job counts as failing.
FAILING_RUN_STATUSES: tuple[RunStatus, ...] = (RunStatus.FAILED, RunStatus.LOST)


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


class DriverConfigError(DriverError):
    """An execution's driver_config is invalid. ``problems`` maps a config field to what is wrong with it."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        text = "; ".join(f"{key}: {msg}" for key, msg in self.problems.items())
        super().__init__(f"invalid driver_config: {text}", retryable=False)


@dataclass(frozen=True)
class PushResult:
    """What a push did: ``changed`` is False when the cluster already held an identical job."""

    external_id: str
    changed: bool
    warnings: str = ""


@dataclass(frozen=True)
class RunNowResult:
    """A run started on demand; ``external_id`` is the orchestrator's id of the launched job/run when known."""

    external_id: str
    eval_id: str = ""


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


class Driver:
    """Base class of drivers. Subclasses set ``name``/``label`` and implement the methods below.

    ``config`` is the execution's driver_config; ``__init__`` validates it and raises DriverConfigError.
    ``decrypt`` turns a secret's ciphertext into cleartext, used only when a config value is a secret.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def __init__(self, config: Mapping[str, Any], *, decrypt: Any = None) -> None:
        problems = self.config_problems(config)
        if problems:
            raise DriverConfigError(problems)
        self.config = dict(config)
        self.decrypt = decrypt

    @classmethod
    def config_problems(cls, config: Any) -> dict[str, str]:
        """Return {field: problem} for an invalid driver_config, empty when it is valid. Does no I/O."""
        return {} if isinstance(config, Mapping) else {"": "must be an object"}

    @classmethod
    def cluster_key(cls, config: Mapping[str, Any]) -> tuple:
        """A hashable identity of the cluster (and namespace) a config points at, so it is queried once."""
        return tuple(sorted((k, str(v)) for k, v in config.items()))

    def external_id(self, job_id: str, spec: Mapping[str, Any] | None = None) -> str:
        """The orchestrator's id for striv job ``job_id``, stable across renames."""
        raise NotImplementedError

    @classmethod
    def validate_spec(cls, spec: Mapping[str, Any]) -> None:
        """Check a rendered spec without I/O (e.g. cron syntax); raises templating.RenderError naming the field."""

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

    def read(self, *, job_id: str) -> dict[str, Any] | None:
        """Return the live job as the cluster holds it, or None when it has no such job."""
        raise NotImplementedError

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
