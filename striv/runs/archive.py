"""Archiving finished runs' logs (claimed in the database, so two refreshers never archive one run twice) and
pruning old runs together with their archives."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from striv.archivers import get_archiver
from striv.archivers.base import ArchiveError, RunLogs
from striv.drivers.base import Driver, DriverError
from striv.runs.logs import STREAMS, run_task_names
from striv.runs.models import Run

logger = logging.getLogger(__name__)

# How long an archive claim holds before another refresher may take the run over.
ARCHIVE_CLAIM = timedelta(minutes=10)
# Failed log reads of one run before its logs are given up as expired.
MAX_ARCHIVE_ATTEMPTS = 20


@dataclass
class ArchiveReport:
    """What one archiving pass did: runs archived, runs whose logs were gone, and the failures to retry."""

    archived: int = 0
    expired: int = 0
    failures: list[str] = field(default_factory=list)


def _claim(limit: int) -> tuple[str, list[Run]]:
    """Claim up to ``limit`` runs to archive; another refresher cannot claim them until the claim expires."""
    token = uuid.uuid4().hex
    now = timezone.now()
    free = Q(archive_claimed_until__isnull=True) | Q(archive_claimed_until__lt=now)
    with transaction.atomic():
        candidates = Run.objects.to_archive().filter(free).order_by("finished", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        # The conditional update is the claim itself (SQLite has no row locks); the lock only avoids contention.
        Run.objects.filter(pk__in=ids).filter(free).update(
            archive_claim=token, archive_claimed_until=now + ARCHIVE_CLAIM
        )
    claimed = list(Run.objects.filter(archive_claim=token).select_related("job__execution"))
    return token, claimed


def runs_archive(*, limit: int = 500) -> ArchiveReport:
    """Archive the logs of finished, un-archived runs (at most ``limit`` this call); returns what it did.

    A run is marked archived only after the archive write succeeded; a failed write or an unreachable cluster leaves
    it for the next pass. Runs whose logs the cluster no longer has are marked ``logs_expired``. Never raises for
    one run's failure: it is listed in the report's failures.
    """
    report = ArchiveReport()
    token, runs = _claim(limit)
    archiver = get_archiver()
    drivers: dict[int, Driver] = {}
    denied: dict[int, str] = {}  # executions whose token may not read logs: their runs wait, untouched
    for run in runs:
        execution = run.job.execution
        if execution.pk in denied:
            _archive_release(run, token)
            continue
        driver = drivers.setdefault(execution.pk, execution.get_driver())
        try:
            logs = _run_logs_collect(driver, run)
        except DriverError as exc:
            if exc.status == 403:
                # A refusal of the token, not of this run: the logs are still there once the policy allows them.
                # One request per execution and pass; the attempts that end in "expired" are not spent on it.
                denied[execution.pk] = exc.message
                logger.warning("archiving logs of execution %s refused: %s", execution.key, exc.message)
                report.failures.append(f"archive logs of execution {execution.key}: {exc.message}")
                Run.objects.filter(pk=run.pk, archive_claim=token).update(
                    archive_error=exc.message, archive_claim="", archive_claimed_until=None
                )
                continue
            # A lost run's node is gone with its logs; other failures are retried a bounded number of times.
            gone = exc.status == 404 or not exc.retryable or run.status == Run.Status.LOST
            if gone or run.archive_attempts + 1 >= MAX_ARCHIVE_ATTEMPTS:
                Run.objects.filter(pk=run.pk, archive_claim=token).update(
                    logs_expired=True, archive_error=exc.message, archive_claim="", archive_claimed_until=None
                )
                report.expired += 1
            else:
                _archive_failed(run, token, exc.message, report)
            continue
        key = archiver.run_key(execution_key=execution.key, job_id=str(run.job_id), run_id=run.external_id)
        try:
            archiver.store(key=key, logs=logs)
        except ArchiveError as exc:
            _archive_failed(run, token, exc.message, report)
            continue
        Run.objects.filter(pk=run.pk, archive_claim=token).update(
            archived_at=timezone.now(), log_archive_key=key, archive_error="", archive_claim="",
            archive_claimed_until=None,
        )  # fmt: skip
        report.archived += 1
    return report


def _archive_release(run: Run, token: str) -> None:
    Run.objects.filter(pk=run.pk, archive_claim=token).update(archive_claim="", archive_claimed_until=None)


def _archive_failed(run: Run, token: str, message: str, report: ArchiveReport) -> None:
    logger.warning("archiving logs of run %s failed (retried next pass): %s", run.pk, message)
    report.failures.append(f"archive run {run.pk}: {message}")
    Run.objects.filter(pk=run.pk, archive_claim=token).update(
        archive_attempts=F("archive_attempts") + 1, archive_error=message, archive_claim="", archive_claimed_until=None
    )


def _run_logs_collect(driver: Driver, run: Run) -> RunLogs:
    """Read every task's stdout and stderr whole. A stream the cluster never had is empty; a gone run raises 404."""
    tasks: dict[str, dict[str, bytes]] = {}
    missing = 0
    names = run_task_names(run)
    for task in names:
        tasks[task] = {}
        for stream in STREAMS:
            try:
                tasks[task][stream] = driver.fetch_logs(run_ref=run.external_id, task=task, stream=stream).data
            except DriverError as exc:
                if exc.status != 404:
                    raise  # unreachable node, a cut stream, a refusal: nothing is stored from a partial read
                missing += 1
                tasks[task][stream] = b""
    if names and missing == len(names) * len(STREAMS):
        raise DriverError("the cluster no longer has this run's logs", status=404)
    return RunLogs(tasks=tasks)


# --- pruning -----------------------------------------------------------------------------------------------------


@dataclass
class PruneReport:
    """What one prune did: runs deleted, archives deleted, and the runs kept because their archive could not go."""

    runs: int = 0
    archives: int = 0
    failures: list[str] = field(default_factory=list)


def runs_prune(*, older_than: timedelta, dry_run: bool = False, chunk: int = 1000) -> PruneReport:
    """Delete runs created more than ``older_than`` ago, and their archived logs first; returns the counts.

    Nothing younger than the limit is touched. An archive that cannot be deleted keeps its run for the next prune.
    With ``dry_run`` only counts. Raises ValueError for an age limit that is not positive.
    """
    if older_than <= timedelta(0):
        raise ValueError("the age limit must be positive")
    cutoff = timezone.now() - older_than
    report = PruneReport()
    old = Run.objects.filter(created__lt=cutoff)
    if dry_run:
        report.runs = old.count()
        report.archives = old.exclude(log_archive_key="").filter(archived_at__isnull=False).count()
        return report
    archiver = get_archiver()
    while True:
        rows = list(old.order_by("id").values_list("id", "log_archive_key", "archived_at")[:chunk])
        if not rows:
            return report
        deletable = []
        for pk, key, archived_at in rows:
            if key and archived_at:
                try:
                    archiver.delete(key=key)
                    report.archives += 1
                except ArchiveError as exc:
                    report.failures.append(f"run {pk}: {exc.message}")
                    continue
            deletable.append(pk)
        report.runs += Run.objects.filter(pk__in=deletable).delete()[0]
        if len(deletable) < len(rows):
            old = old.exclude(pk__in=[pk for pk, _, _ in rows if pk not in deletable])
