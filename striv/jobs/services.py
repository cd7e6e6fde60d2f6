"""Job services: create, update, delete and run jobs.

Every writer (web UI, API, load-state) goes through these functions so that one set of checks applies. A save
renders the job once in preview mode (what is stored and shown) and, when the cluster's copy is out of date, once
in push mode (what the cluster gets); both use the same layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from striv.dimensions.models import DimensionValue
from striv.drivers.base import DriverError, RunNowResult
from striv.executions.models import Execution
from striv.jobs.layers import job_layers, job_values
from striv.jobs.models import Job, JobValue
from striv.jobs.rendering import JobRenderError, desired_hash, layers_render
from striv.jobs.sync import PushOutcome, job_remove, jobs_sync, push_in_save
from striv.templating import Layer, RenderError


class StaleVersion(Exception):
    """Raised when a job was saved by someone else since the caller read it."""

    def __init__(self, job: Job, expected: int) -> None:
        self.job = job
        self.expected = expected
        super().__init__(f"job {job.pk} is at version {job.version}, not {expected}: someone else saved it first")


@dataclass(frozen=True)
class JobSaved:
    """A saved job and what its save did with the cluster."""

    job: Job
    outcome: PushOutcome


@dataclass
class JobChanges:
    """Fields to change on a job; None leaves a field as it is."""

    name: str | None = None
    execution: Execution | None = None
    values: list[DimensionValue] | None = None
    params: dict[str, Any] | None = None


def job_values_check(values: Iterable[DimensionValue]) -> list[DimensionValue]:
    """Return ``values`` as a list, refusing two values of one dimension (ValidationError on ``values``)."""
    seen: dict[int, DimensionValue] = {}
    result = []
    for value in values:
        if value.dimension_id in seen:
            other = seen[value.dimension_id]
            raise ValidationError(
                {"values": f"A job has at most one value per dimension: {other} and {value} are both {value.dimension}"}
            )
        seen[value.dimension_id] = value
        result.append(value)
    return result


def _job_store(job: Job, *, values: list[DimensionValue]) -> Sequence[Layer]:
    """Render ``job`` in preview mode, store it with its values and return its layers (for the push).

    Raises JobRenderError when it does not render, ValidationError when a field is invalid.
    """
    layers = job_layers(execution=job.execution, values=values, params=job.params)
    try:
        rendered = layers_render(execution=job.execution, layers=layers)
    except RenderError as exc:
        raise JobRenderError(exc) from None
    job.spec = rendered.spec
    job.spec_hash = desired_hash(spec=rendered.spec, layers=layers, name=job.name, execution=job.execution)
    if job.spec_hash != job.pushed_hash:
        job.sync_status = Job.SyncStatus.OUT_OF_SYNC
    elif job.sync_status == Job.SyncStatus.OUT_OF_SYNC:
        job.sync_status = Job.SyncStatus.IN_SYNC
    job.full_clean(exclude=["values"])
    job.save()
    JobValue.objects.filter(job=job).exclude(value__in=values).delete()
    existing = set(JobValue.objects.filter(job=job).values_list("value_id", flat=True))
    JobValue.objects.bulk_create(
        [
            JobValue(job=job, dimension_id=value.dimension_id, value=value)
            for value in values
            if value.pk not in existing
        ]
    )
    return layers


@transaction.atomic
def job_create(
    *,
    name: str,
    execution: Execution,
    values: Iterable[DimensionValue] = (),
    params: dict[str, Any] | None = None,
    push: bool = True,
) -> JobSaved:
    """Create a job: render, store, then push it to its cluster.

    Raises JobRenderError (a ValidationError carrying the RenderError) when it does not render, ValidationError for
    invalid fields or, when the cluster refuses the job, with the cluster's message; either way nothing is saved.
    When the cluster cannot be reached the job is saved with sync status ``pending``. Returns the job and the
    outcome of its push.
    """
    values = job_values_check(values)
    job = Job(name=name, execution=execution, params=params or {})
    layers = _job_store(job, values=values)
    outcome = push_in_save(job, layers) if push else PushOutcome(PushOutcome.SKIPPED)
    return JobSaved(job, outcome)


@transaction.atomic
def job_update(*, job: Job, changes: JobChanges, expected_version: int | None = None, push: bool = True) -> JobSaved:
    """Apply ``changes`` to ``job``, re-render it and push it when its spec changed.

    With ``expected_version`` the update is refused with StaleVersion when the stored version differs (optimistic
    concurrency); without it the last writer wins. Raises JobRenderError or ValidationError when the result does not
    render, is invalid or the cluster refuses it (nothing changes then). Returns the job as stored and the outcome.
    """
    locked = Job.objects.select_for_update().select_related("execution").get(pk=job.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked, expected_version)
    if changes.name is not None:
        locked.name = changes.name
    if changes.execution is not None:
        locked.execution = changes.execution
    if changes.params is not None:
        locked.params = changes.params
    values = job_values_check(changes.values) if changes.values is not None else job_values(locked)
    locked.version += 1  # the row is locked, so this cannot race
    layers = _job_store(locked, values=values)
    outcome = push_in_save(locked, layers) if push else PushOutcome(PushOutcome.SKIPPED)
    locked.refresh_from_db()
    return JobSaved(locked, outcome)


@transaction.atomic
def job_delete(*, job: Job) -> PushOutcome:
    """Remove a job from its cluster (purged) and from striv.

    When the cluster cannot be reached the job is kept with sync status ``deleting`` and removed by a later sync.
    Raises ValidationError when the cluster refuses (e.g. permission denied); the job is then kept as it was.
    """
    outcome = job_remove(job)
    if outcome.status == PushOutcome.REMOVED:
        job.delete()
    return outcome


def job_run_now(*, job: Job) -> RunNowResult:
    """Start a run of ``job`` at once (periodic force, or dispatch for a job without a schedule).

    A job whose cluster copy is out of date is pushed first. Raises DriverError.
    """
    if job.sync_status != Job.SyncStatus.IN_SYNC:
        report = jobs_sync(jobs=Job.objects.filter(pk=job.pk))
        if report.failed:
            raise DriverError(f"the job could not be pushed before running it: {report.failed[0][1]}", retryable=True)
    return job.execution.get_driver().run_now(job_id=str(job.pk))
