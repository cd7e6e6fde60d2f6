"""Job services: create, update, delete and run jobs.

Every writer (web UI, API, load-state) goes through these functions so that one set of checks applies. A save
renders the job once in preview mode (what is stored and shown) and, when the cluster's copy is out of date, once
in push mode (what the cluster gets); both use the same layers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from striv.dimensions.models import DimensionValue
from striv.drivers.base import DriverError, RunNowResult
from striv.executions.models import Execution
from striv.jobs.layers import job_layers, job_values
from striv.jobs.models import Job, JobValue
from striv.jobs.redaction import driver_error_redact, job_redactor
from striv.jobs.rendering import JobRenderError, desired_hash, layers_render
from striv.jobs.sync import PUSH_LEASE, PushOutcome, job_remove, jobs_sync, push_in_save, sync_label
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


def _job_prepare(job: Job, *, values: list[DimensionValue]) -> Sequence[Layer]:
    """Render ``job`` in preview mode, set its spec, hash and sync status, check it, and return its layers.

    Writes nothing. Raises JobRenderError when it does not render, ValidationError when a field is invalid.
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
    return layers


def _needs_push(job: Job) -> bool:
    return not (job.spec_hash == job.pushed_hash and job.sync_status == Job.SyncStatus.IN_SYNC)


def _values_store(job: Job, values: Iterable[DimensionValue]) -> None:
    values = list(values)
    JobValue.objects.filter(job=job).exclude(value__in=values).delete()
    existing = set(JobValue.objects.filter(job=job).values_list("value_id", flat=True))
    JobValue.objects.bulk_create(
        [
            JobValue(job=job, dimension_id=value.dimension_id, value=value)
            for value in values
            if value.pk not in existing
        ]
    )


# The fields a save writes; the sync fields belong to push_in_save and the sync passes.
_SAVED_FIELDS = ["name", "execution", "params", "spec", "spec_hash", "sync_status", "version", "next_sync_at"]


def _refused(message: str) -> ValidationError:
    return ValidationError({"__all__": ValidationError(f"The cluster refused the job: {message}", code="refused")})


def job_create(
    *,
    name: str,
    execution: Execution,
    values: Iterable[DimensionValue] = (),
    params: dict[str, Any] | None = None,
    push: bool = True,
) -> JobSaved:
    """Create a job: render, store, then push it to its cluster.

    The job is stored in a short transaction and pushed after it commits, so the cluster call holds no lock; when
    the cluster refuses it, the job is deleted again. Raises JobRenderError (a ValidationError carrying the
    RenderError) when it does not render, ValidationError for invalid fields or, when the cluster refuses the job,
    with the cluster's message; either way nothing is kept. When the cluster cannot be reached the job is saved
    with sync status ``pending``. Returns the job and the outcome of its push.
    """
    values = job_values_check(values)
    job = Job(name=name, execution=execution, params=params or {})
    layers = _job_prepare(job, values=values)
    if push and _needs_push(job):
        job.next_sync_at = timezone.now() + PUSH_LEASE
    with transaction.atomic():
        job.save(force_insert=True)
        _values_store(job, values)
    if not push:
        return JobSaved(job, PushOutcome(PushOutcome.SKIPPED))
    outcome = push_in_save(job, layers)
    if outcome.status == PushOutcome.FAILED:
        Job.objects.filter(pk=job.pk, version=job.version).delete()
        raise _refused(outcome.message)
    return JobSaved(job, outcome)


def job_update(*, job: Job, changes: JobChanges, expected_version: int | None = None, push: bool = True) -> JobSaved:
    """Apply ``changes`` to ``job``, re-render it and push it when its spec changed.

    With ``expected_version`` the update is refused with StaleVersion when the stored version differs (optimistic
    concurrency); without it the last writer wins. The new version is stored by a conditional update in a short
    transaction, then pushed outside it; a refusal restores the previous version. Raises JobRenderError or
    ValidationError when the result does not render, is invalid or the cluster refuses it (nothing changes then).
    Returns the job as stored and the outcome.
    """
    for _ in range(5):
        saved = _job_update_once(job=job, changes=changes, expected_version=expected_version, push=push)
        if saved is not None:
            return saved
    current = Job.objects.get(pk=job.pk)
    raise StaleVersion(current, current.version)


def _job_update_once(*, job: Job, changes: JobChanges, expected_version: int | None, push: bool) -> JobSaved | None:
    """One attempt of job_update; None when a save without ``expected_version`` lost a race and should retry."""
    before = Job.objects.select_related("execution").get(pk=job.pk)
    if expected_version is not None and before.version != expected_version:
        raise StaleVersion(before, expected_version)
    before_values = job_values(before)
    # The new version starts as a copy of the stored one (its own state, so the two stay apart).
    draft = copy.copy(before)
    draft._state = copy.copy(before._state)
    if changes.name is not None:
        draft.name = changes.name
    if changes.execution is not None:
        draft.execution = changes.execution
    if changes.params is not None:
        draft.params = changes.params
    values = job_values_check(changes.values) if changes.values is not None else before_values
    layers = _job_prepare(draft, values=values)
    draft.version = before.version + 1
    if push and _needs_push(draft):
        draft.next_sync_at = timezone.now() + PUSH_LEASE
    draft.modified = timezone.now()
    with transaction.atomic():
        # The version check and the write are one statement, so two saves of one version cannot both win.
        stored = (
            Job.objects.filter(pk=draft.pk, version=before.version)
            .exclude(sync_status=Job.SyncStatus.DELETING)
            .update(modified=draft.modified, **_fields(draft))
        )
        if stored:
            _values_store(draft, values)
    if not stored:
        current = Job.objects.get(pk=job.pk)
        if current.sync_status == Job.SyncStatus.DELETING:
            raise ValidationError("The job is being deleted.", code="deleting")
        if expected_version is not None:
            raise StaleVersion(current, expected_version)
        return None
    outcome = push_in_save(draft, layers) if push else PushOutcome(PushOutcome.SKIPPED)
    if outcome.status == PushOutcome.FAILED:
        with transaction.atomic():
            restored = Job.objects.filter(pk=draft.pk, version=draft.version).update(
                modified=before.modified, **_fields(before)
            )
            if restored:
                _values_store(before, before_values)
        raise _refused(outcome.message)
    # ``draft`` holds what was stored and what the push recorded (push_in_save reads the job again when a later
    # save overtook it), so the answer needs no read back.
    return JobSaved(draft, outcome)


def _fields(job: Job) -> dict[str, Any]:
    return {
        (f"{name}_id" if name == "execution" else name): getattr(job, f"{name}_id" if name == "execution" else name)
        for name in _SAVED_FIELDS
    }


def job_delete(*, job: Job, expected_version: int | None = None) -> PushOutcome:
    """Remove a job from its cluster (purged) and from striv.

    The job is first marked ``deleting`` by a conditional update (refused with StaleVersion when
    ``expected_version`` differs from the stored one); the cluster is then called outside any transaction. When the
    cluster cannot be reached the job is kept with sync status ``deleting`` and removed by a later sync. Raises
    ValidationError when the cluster refuses (e.g. permission denied); the job is then restored as it was.
    """
    before = Job.objects.select_related("execution").get(pk=job.pk)
    if expected_version is not None and before.version != expected_version:
        raise StaleVersion(before, expected_version)
    if before.sync_status != Job.SyncStatus.DELETING:
        claimed = Job.objects.filter(pk=before.pk, version=before.version, sync_status=before.sync_status).update(
            sync_status=Job.SyncStatus.DELETING
        )
        if not claimed:
            current = Job.objects.get(pk=before.pk)
            raise StaleVersion(current, before.version)
    outcome = job_remove(before)
    if outcome.status == PushOutcome.REMOVED:
        Job.objects.filter(pk=before.pk).delete()
    elif outcome.status == PushOutcome.FAILED:
        if before.sync_status != Job.SyncStatus.DELETING:
            Job.objects.filter(pk=before.pk, sync_status=Job.SyncStatus.DELETING).update(sync_status=before.sync_status)
        raise ValidationError(f"The cluster refused to remove the job: {outcome.message}", code="refused")
    else:
        job.refresh_from_db()
    return outcome


def jobs_run_now(*, jobs: Sequence[Job], workers: int = 8) -> list[tuple[Job, RunNowResult | DriverError]]:
    """Start a run of each of ``jobs`` at once, ``workers`` cluster calls at a time, outside any transaction.

    Jobs whose cluster copy is out of date are pushed first (one sync pass); a job whose push fails gets that
    failure. Returns each job with its RunNowResult or DriverError, in the order given.
    """
    stale = [job for job in jobs if job.sync_status != Job.SyncStatus.IN_SYNC]
    failed: dict[str, str] = {}
    if stale:
        report = jobs_sync(jobs=Job.objects.filter(pk__in=[job.pk for job in stale]), workers=workers)
        failed = dict(report.failed)

    def run(job: Job) -> RunNowResult | DriverError:
        reason = failed.get(sync_label(job))
        if reason is not None:
            return DriverError(f"the job could not be pushed before running it: {reason}", retryable=True)
        try:
            return job.execution.get_driver().run_now(job_id=str(job.pk))
        except DriverError as exc:
            return driver_error_redact(exc, job_redactor(job=job))

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1))) as pool:
        return list(zip(jobs, pool.map(run, jobs), strict=True))


def job_run_now(*, job: Job) -> RunNowResult:
    """Start a run of ``job`` at once (periodic force, or dispatch for a job without a schedule).

    A job whose cluster copy is out of date is pushed first. Raises DriverError.
    """
    if job.sync_status != Job.SyncStatus.IN_SYNC:
        report = jobs_sync(jobs=Job.objects.filter(pk=job.pk))
        if report.failed:
            raise DriverError(f"the job could not be pushed before running it: {report.failed[0][1]}", retryable=True)
    try:
        return job.execution.get_driver().run_now(job_id=str(job.pk))
    except DriverError as exc:
        raise driver_error_redact(exc, job_redactor(job=job)) from None
