"""Pushing jobs to their clusters: the push of a save, sync passes (sync-jobs, the refresher), retries with backoff.

No cluster call happens while a row is locked by a sync pass: rendering and database writes run in the calling
thread, cluster calls in a pool, and each outcome is written only if the job was not saved again meanwhile. Every
message from a cluster is cleaned of the job's secrets (``jobs.redaction``) before it is stored, logged or returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from itertools import groupby
from typing import Any, ClassVar

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from striv import templating
from striv.core import bulkwrite, keys
from striv.dimensions.models import DimensionValue
from striv.drivers.base import Driver, DriverError
from striv.jobs.layers import LayerSource, job_layers
from striv.jobs.models import Job
from striv.jobs.redaction import driver_error_redact, job_redactor
from striv.jobs.rendering import layers_render
from striv.templating import Layer, RenderError

logger = logging.getLogger(__name__)

# Retry delays of pending pushes double from the first to the last.
BACKOFF_FIRST = timedelta(seconds=15)
BACKOFF_MAX = timedelta(minutes=15)


@dataclass(frozen=True)
class PushOutcome:
    """What a save or sync did with the cluster."""

    PUSHED: ClassVar[str] = "pushed"
    UNCHANGED: ClassVar[str] = "unchanged"
    PENDING: ClassVar[str] = "pending"
    FAILED: ClassVar[str] = "failed"
    REMOVED: ClassVar[str] = "removed"
    SKIPPED: ClassVar[str] = "skipped"

    status: str
    message: str = ""


def job_meta(job: Job) -> dict[str, str]:
    """The metadata striv attaches to a job on the cluster, so that runs map back to it."""
    return {"striv_job_id": str(job.pk), "striv_execution": job.execution.key}


def backoff(attempts: int) -> timedelta:
    """How long to wait before the next push attempt after ``attempts`` failed ones."""
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _push_failed(job: Job, error: DriverError) -> PushOutcome:
    job.sync_status = Job.SyncStatus.PENDING
    job.sync_error = error.message
    job.sync_attempts += 1
    job.next_sync_at = timezone.now() + backoff(job.sync_attempts)
    return PushOutcome(PushOutcome.PENDING, error.message)


def _push_succeeded(job: Job, pushed_hash: str, changed: bool, secrets: list[str] | None = None) -> PushOutcome:
    job.pushed_hash = pushed_hash
    if secrets is not None:
        job.pushed_secrets = secrets
    job.sync_status = Job.SyncStatus.IN_SYNC if pushed_hash == job.spec_hash else Job.SyncStatus.OUT_OF_SYNC
    job.sync_error = ""
    job.sync_attempts = 0
    job.next_sync_at = None
    job.synced_at = timezone.now()
    return PushOutcome(PushOutcome.PUSHED if changed else PushOutcome.UNCHANGED)


SYNC_FIELDS = [
    "pushed_hash",
    "pushed_secrets",
    "sync_status",
    "sync_error",
    "sync_attempts",
    "next_sync_at",
    "synced_at",
]


# A save that is about to push keeps sync passes away from its job for this long (their due-only passes skip it),
# so that they do not push the same spec at the same time; a process that dies mid-push loses only this delay.
PUSH_LEASE = timedelta(minutes=2)


def push_in_save(job: Job, layers: Sequence[Layer]) -> PushOutcome:
    """Push a job just saved, rendered from ``layers`` in push mode (the save's second and last rendering).

    Called outside any transaction: the cluster call holds no lock. A refusal (or a push-mode render failure) is
    returned as FAILED and recorded nowhere, so that the caller can undo its save; an unreachable cluster leaves the
    push pending. The outcome is written only if the job was not saved again meanwhile (same version).
    """
    if job.spec_hash == job.pushed_hash and job.sync_status == Job.SyncStatus.IN_SYNC:
        return PushOutcome(PushOutcome.UNCHANGED)
    try:
        rendered = layers_render(execution=job.execution, layers=layers, mode="push")
        result = job.execution.get_driver().push(
            job_id=str(job.pk), name=job.name, spec=rendered.spec, meta=job_meta(job)
        )
    except RenderError as exc:
        return PushOutcome(PushOutcome.FAILED, job_redactor(job=job, layers=layers).text(str(exc)))
    except DriverError as exc:
        exc = driver_error_redact(exc, job_redactor(job=job, layers=layers))
        if not exc.retryable:
            return PushOutcome(PushOutcome.FAILED, exc.message)
        logger.warning("push of job %s left pending: %s", job.pk, exc.message)
        outcome = _push_failed(job, exc)
    else:
        outcome = _push_succeeded(job, job.spec_hash, result.changed, templating.secret_texts(layers))
    written = (
        Job.objects.filter(pk=job.pk, version=job.version)
        .exclude(sync_status=Job.SyncStatus.DELETING)
        .update(**{f: getattr(job, f) for f in SYNC_FIELDS})
    )
    if not written:
        # Saved again (or being deleted) meanwhile: what the caller holds is no longer the stored job.
        job.refresh_from_db()
    return outcome


def job_remove(job: Job) -> PushOutcome:
    """Remove ``job`` (already marked ``deleting`` by the caller) from its cluster, outside any transaction.

    Returns REMOVED (the caller deletes the row), PENDING (the cluster cannot be reached: the job stays ``deleting``
    for a later sync, with the reason and a backoff) or FAILED with the cluster's refusal (nothing recorded here).
    """
    try:
        job.execution.get_driver().remove(job_id=str(job.pk))
    except DriverError as exc:
        exc = driver_error_redact(exc, job_redactor(job=job))
        if not exc.retryable:
            return PushOutcome(PushOutcome.FAILED, exc.message)
        job.sync_attempts += 1
        Job.objects.filter(pk=job.pk, sync_status=Job.SyncStatus.DELETING).update(
            sync_error=exc.message,
            sync_attempts=job.sync_attempts,
            next_sync_at=timezone.now() + backoff(job.sync_attempts),
        )
        job.sync_status = Job.SyncStatus.DELETING
        job.sync_error = exc.message
        return PushOutcome(PushOutcome.PENDING, exc.message)
    return PushOutcome(PushOutcome.REMOVED)


@dataclass
class SyncReport:
    """Counts of a sync pass, with the reason of each failure."""

    pushed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (job label, reason)

    def summary(self) -> str:
        return f"pushed {self.pushed}, unchanged {self.unchanged}, removed {self.removed}, failed {len(self.failed)}"


def jobs_to_sync(*, all_jobs: bool = False, execution_key: str | None = None, due_only: bool = False) -> QuerySet[Job]:
    """The jobs a sync pass should handle: out of sync, pending, deleting (``all_jobs``: every job)."""
    jobs = Job.objects.all()
    if not all_jobs:
        jobs = jobs.filter(
            sync_status__in=[
                Job.SyncStatus.OUT_OF_SYNC, Job.SyncStatus.PENDING, Job.SyncStatus.FAILED, Job.SyncStatus.DELETING,
            ]
        )  # fmt: skip
    if due_only:
        jobs = jobs.filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=timezone.now()))
    if execution_key:
        jobs = jobs.filter(execution__key=execution_key)
    return jobs


@dataclass(frozen=True)
class _Task:
    """One cluster call of a sync pass, and what to record when it succeeds."""

    job: Job
    kind: str  # "push" or "remove"
    call: Callable[[], Any]
    secrets: list[str] | None = None


def jobs_sync(
    *,
    jobs: Any,
    force: bool = False,
    workers: int = 8,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> SyncReport:
    """Push (or, for ``deleting`` jobs, remove) ``jobs`` on their clusters, ``workers`` calls at a time.

    A job whose spec hash equals the hash last pushed is not pushed unless ``force``. Rendering and all database
    writes happen in the calling thread; only the cluster calls run in the pool. A job saved again while its push
    was under way keeps its new spec and stays out of sync. Returns a SyncReport; never raises for one job's failure.
    """
    report = SyncReport()
    drivers: dict[int, Driver] = {}
    tasks: list[_Task] = []

    to_push: list[tuple[Job, list[DimensionValue]]] = []
    for job, values in LayerSource().jobs(jobs.order_by("execution_id", "id")):
        if job.sync_status == Job.SyncStatus.DELETING:
            driver = drivers.setdefault(job.execution_id, job.execution.get_driver())
            tasks.append(_Task(job, "remove", partial(driver.remove, job_id=str(job.pk))))
        elif not force and job.spec_hash == job.pushed_hash and job.sync_status == Job.SyncStatus.IN_SYNC:
            report.unchanged += 1
        else:
            to_push.append((job, values))
    memo: dict[str, str] = {}  # decrypted secrets, for cleaning this pass's messages
    for job, result, secrets in _render_for_push(to_push):
        if isinstance(result, RenderError):
            reason = job_redactor(job=job, ciphertexts=secrets, memo=memo).text(str(result))
            report.failed.append((sync_label(job), reason))
            Job.objects.filter(pk=job.pk).update(sync_status=Job.SyncStatus.FAILED, sync_error=reason)
            continue
        driver = drivers.setdefault(job.execution_id, job.execution.get_driver())
        call = partial(driver.push, job_id=str(job.pk), name=job.name, spec=result, meta=job_meta(job))
        tasks.append(_Task(job, "push", call, secrets))

    def run(task: _Task) -> tuple[_Task, Any]:
        try:
            return task, task.call()
        except DriverError as exc:
            return task, exc

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results: Iterable[tuple[_Task, Any]] = pool.map(run, tasks)
        if progress:
            results = progress(results, len(tasks))
        pending: list[tuple[_Task, Any]] = []
        for task, outcome in results:
            if isinstance(outcome, DriverError):  # a cluster's message may quote the job's secrets
                outcome = driver_error_redact(
                    outcome, job_redactor(job=task.job, ciphertexts=task.secrets or (), memo=memo)
                )
            pending.append((task, outcome))
            if len(pending) >= 200:
                _sync_record_many(pending, report)
                pending = []
        _sync_record_many(pending, report)
    return report


def _sync_record_many(items: list[tuple[_Task, Any]], report: SyncReport) -> None:
    """Store the outcomes of a batch of cluster calls, a few set-based statements per batch (not one per job).

    A push outcome is written only if the job was not saved again meanwhile (its spec hash is what was pushed) and
    is not being deleted; a job saved again after a successful push keeps its new spec and only learns what the
    cluster now holds (``pushed_hash``).
    """
    removed: list[str] = []
    remove_failed: list[Job] = []
    pushes: list[Job] = []
    pushed: list[Job] = []
    for task, result in items:
        kind = _sync_outcome(task, result, report)
        if kind == "removed":
            removed.append(str(task.job.pk))
        elif kind == "remove_failed":
            remove_failed.append(task.job)
        else:
            pushes.append(task.job)
            if kind == "pushed":
                pushed.append(task.job)
    not_deleting = {"sync_status": Job.SyncStatus.DELETING}
    # One transaction per batch of outcomes: a commit per job would dominate on SQLite.
    with transaction.atomic():
        if removed:
            Job.objects.filter(pk__in=removed, sync_status=Job.SyncStatus.DELETING).delete()
        bulkwrite.rows_update(Job, remove_failed, SYNC_FIELDS)
        bulkwrite.rows_update(Job, pushes, SYNC_FIELDS, same=["spec_hash"], exclude=not_deleting)
        bulkwrite.rows_update(Job, pushed, ["pushed_hash"], differ=["spec_hash"], exclude=not_deleting)


def sync_label(job: Job) -> str:
    """How a sync report names a job in its failures."""
    return f"{job.name} ({job.pk})"


def _render_for_push(
    jobs: list[tuple[Job, list[DimensionValue]]],
) -> Iterable[tuple[Job, dict | RenderError, list[str]]]:
    """Render jobs in push mode (cleartext secrets), batched per execution.

    Yields (job, spec or RenderError, ciphertexts of the job's secrets).
    """
    decrypt = keys.decrypt if keys.private_key_pem() else None
    for _, group_iter in groupby(jobs, key=lambda pair: pair[0].execution_id):
        group = list(group_iter)
        execution = group[0][0].execution
        many = [job_layers(execution=execution, values=values, params=job.params) for job, values in group]
        results = templating.job_specs_render(
            execution.payload_template, many, execution_key=execution.key, mode="push", decrypt=decrypt
        )
        for (job, _), layers, result in zip(group, many, results, strict=True):
            spec = result if isinstance(result, RenderError) else result.spec
            yield job, spec, templating.secret_texts(layers)


def _sync_outcome(task: _Task, result: Any, report: SyncReport) -> str:
    """Count the outcome of one cluster call and set the job's sync fields to what should be stored.

    Returns "removed", "remove_failed", "pushed" (the cluster holds the spec) or "push_failed".
    """
    job = task.job
    if task.kind == "remove":
        if isinstance(result, DriverError):
            report.failed.append((sync_label(job), result.message))
            _push_failed(job, result)
            job.sync_status = Job.SyncStatus.DELETING
            return "remove_failed"
        report.removed += 1
        return "removed"
    if isinstance(result, DriverError):
        report.failed.append((sync_label(job), result.message))
        _push_failed(job, result)
        if not result.retryable:
            job.sync_status = Job.SyncStatus.FAILED
        return "push_failed"
    outcome = _push_succeeded(job, job.spec_hash, result.changed, task.secrets)
    if outcome.status == PushOutcome.PUSHED:
        report.pushed += 1
    else:
        report.unchanged += 1
    return "pushed"
