"""Run services: reading a run's logs (archive first, then the cluster), archiving and pruning."""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Max, Q, Value, When
from django.db.models.constants import OnConflict
from django.utils import timezone

from striv.archivers import get_archiver
from striv.archivers.base import ArchiveError, RunLogs
from striv.drivers import driver_class
from striv.drivers.base import Driver, DriverError, RunInfo
from striv.executions.models import Execution
from striv.jobs.models import Job
from striv.runs.models import ClusterCursor, Run

logger = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr")
DEFAULT_MAX_BYTES = 64 * 1024
MAX_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class LogRead:
    """A slice of one task's stdout or stderr.

    ``source`` is ``archive`` (striv's copy), ``live`` (read from the cluster) or ``expired`` (neither has it).
    ``next_offset`` is where to read on for new bytes; ``running`` is True while the run may still write.
    """

    data: bytes
    offset: int
    next_offset: int
    source: Literal["archive", "live", "expired"]
    running: bool
    size: int | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class LogRequestError(ValueError):
    """The log request itself is wrong (unknown task or stream, bad offset); the message says which parameter."""


def run_task_names(run: Run) -> list[str]:
    return [task.get("name", "") for task in run.tasks or [] if task.get("name")]


def run_logs_read(
    *, run: Run, task: str | None = None, stream: str = "stdout", offset: int = 0, max_bytes: int | None = None
) -> LogRead:
    """Read ``max_bytes`` of a run's task log from ``offset`` (a negative offset counts from the end: a tail).

    The archived copy is used when there is one, otherwise the cluster's live log. When neither has it the answer
    says ``expired`` with no data. Raises LogRequestError for an unknown task or stream or a bad max_bytes.
    """
    if stream not in STREAMS:
        raise LogRequestError(f"stream must be one of {', '.join(STREAMS)}, not {stream!r}")
    tasks = run_task_names(run)
    if task is None:
        if not tasks:
            return LogRead(b"", 0, 0, "expired", not run.is_finished)
        task = tasks[0]
    elif tasks and task not in tasks:
        raise LogRequestError(f"task must be one of {', '.join(tasks)}, not {task!r}")
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if max_bytes < 1 or max_bytes > MAX_MAX_BYTES:
        raise LogRequestError(f"max_bytes must be between 1 and {MAX_MAX_BYTES}")
    running = not run.is_finished

    if run.archived_at and run.log_archive_key:
        try:
            piece = get_archiver().read(
                key=run.log_archive_key, task=task, stream=stream, offset=offset, max_bytes=max_bytes
            )
        except ArchiveError as exc:
            logger.warning("archived logs of run %s unreadable: %s", run.pk, exc.message)
            piece = None
        if piece is not None:
            return LogRead(piece.data, piece.offset, piece.next_offset, "archive", running, piece.size)

    try:
        chunk = run.job.execution.get_driver().fetch_logs(
            run_ref=run.external_id, task=task, stream=stream, offset=offset, max_bytes=max_bytes
        )
    except DriverError as exc:
        if exc.status == 404 or not exc.retryable:
            return LogRead(b"", max(offset, 0), max(offset, 0), "expired", running)
        raise
    return LogRead(chunk.data, chunk.offset, chunk.next_offset, "live", running)


def archive_url() -> str:
    return settings.ARCHIVE


# --- refreshing runs from the clusters ---------------------------------------------------------------------------

# Runs upserted per database round trip.
UPSERT_CHUNK = 2000
# How long an archive claim holds before another refresher may take the run over.
ARCHIVE_CLAIM = timedelta(minutes=10)
# Failed log reads of one run before its logs are given up as expired.
MAX_ARCHIVE_ATTEMPTS = 20
VANISHED_REASON = "the allocation vanished from the cluster before it finished (garbage-collected or removed)"


@dataclass
class RefreshReport:
    """What one refresh pass did."""

    created: int = 0
    updated: int = 0
    lost: int = 0
    archived: int = 0
    expired: int = 0
    clusters: int = 0
    unchanged_clusters: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"runs created {self.created}, updated {self.updated}, lost {self.lost}, archived {self.archived}, "
            f"logs expired {self.expired}, clusters {self.clusters} ({self.unchanged_clusters} unchanged), "
            f"failures {len(self.failures)}, {self.seconds:.2f} s"
        )


@dataclass
class _Cluster:
    key: str
    driver: Driver
    executions: list[Execution]
    prefixes: list[str]


def _clusters() -> list[_Cluster]:
    """Group executions by the cluster (address, region, namespace) they point at, so each is queried once."""
    groups: dict[str, _Cluster] = {}
    for execution in Execution.objects.order_by("key"):
        try:
            driver = execution.get_driver()
            key = f"{execution.driver}:{driver_class(execution.driver).cluster_key(execution.driver_config)}"
        except DriverError as exc:
            Execution.objects.filter(pk=execution.pk).update(refresh_error=exc.message)
            continue
        cluster = groups.setdefault(key, _Cluster(key, driver, [], []))
        cluster.executions.append(execution)
        prefix = driver.job_id_prefix(execution.driver_config)
        if prefix and prefix not in cluster.prefixes:
            cluster.prefixes.append(prefix)
    return list(groups.values())


def runs_refresh(*, archive: bool = True, archive_limit: int = 500) -> RefreshReport:
    """One refresh pass over every cluster: discover new runs, follow unfinished ones, archive finished runs' logs.

    A cluster that cannot be reached is recorded on its executions (``refresh_error``) and does not stop the others.
    Returns a RefreshReport; never raises for one cluster's failure.
    """
    started = time.monotonic()
    report = RefreshReport()
    for cluster in _clusters():
        report.clusters += 1
        try:
            _cluster_refresh(cluster, report)
        except DriverError as exc:
            message = f"{cluster.key}: {exc.message}"
            logger.warning("refresh of %s failed: %s", cluster.key, exc.message)
            report.failures.append(message)
            Execution.objects.filter(pk__in=[e.pk for e in cluster.executions]).update(refresh_error=exc.message)
        else:
            Execution.objects.filter(pk__in=[e.pk for e in cluster.executions]).update(
                refresh_error="", refreshed_at=timezone.now()
            )
    if archive:
        runs_archive(limit=archive_limit, report=report)
    report.seconds = time.monotonic() - started
    return report


def _cluster_refresh(cluster: _Cluster, report: RefreshReport) -> None:
    cursor, _ = ClusterCursor.objects.get_or_create(key=cluster.key)
    index = cluster.driver.runs_index()
    job_ids = {str(pk) for pk in Job.objects.filter(execution__in=cluster.executions).values_list("pk", flat=True)}
    unfinished = Run.objects.unfinished().filter(job__execution__in=cluster.executions)
    if index == cursor.index and index != 0:
        # Nothing changed on the cluster since the last pass: one cheap request was all it took.
        report.unchanged_clusters += 1
        return

    seen: set[str] = set()
    newest = cursor.create_index
    batch: list[RunInfo] = []
    for info in cluster.driver.runs_new(after=cursor.create_index, prefixes=cluster.prefixes):
        newest = max(newest, info.create_index)
        if info.job_ref in job_ids:
            batch.append(info)
            seen.add(info.external_id)
        if len(batch) >= UPSERT_CHUNK:
            _runs_upsert(batch, report)
            batch = []
    active = [info for info in cluster.driver.runs_active(prefixes=cluster.prefixes) if info.job_ref in job_ids]
    active_ids = {info.external_id for info in active}
    batch += [info for info in active if info.external_id not in seen]
    seen |= active_ids
    _runs_upsert(batch, report)

    # Runs striv believes unfinished that the cluster no longer lists as active: read them one by one.
    leftovers = list(unfinished.exclude(external_id__in=active_ids).values_list("pk", "external_id"))
    finished_now: list[RunInfo] = []
    for pk, external_id in leftovers:
        if external_id in seen:
            continue
        info = cluster.driver.run_read(run_ref=external_id, prefixes=cluster.prefixes)
        if info is None:
            updated = Run.objects.filter(pk=pk, status__in=[Run.Status.PENDING, Run.Status.RUNNING]).update(
                status=Run.Status.LOST, status_reason=VANISHED_REASON, finished=timezone.now()
            )
            report.lost += updated
        else:
            finished_now.append(info)
    _runs_upsert(finished_now, report)
    _jobs_latest_update({info.job_ref for info in batch + finished_now} | _jobs_of(leftovers))

    cursor.index = index
    cursor.create_index = newest
    cursor.save(update_fields=["index", "create_index", "updated"])


def _jobs_of(run_rows: list[tuple[int, str]]) -> set[str]:
    if not run_rows:
        return set()
    return {str(j) for j in Run.objects.filter(pk__in=[pk for pk, _ in run_rows]).values_list("job_id", flat=True)}


def _task_dicts(info: RunInfo) -> list[dict]:
    return [
        {
            "name": task.name,
            "state": task.state,
            "failed": task.failed,
            "exit_code": task.exit_code,
            "started": task.started.isoformat() if task.started else None,
            "finished": task.finished.isoformat() if task.finished else None,
            "message": task.message,
        }
        for task in info.tasks
    ]


RUN_FIELDS = ["status", "status_reason", "started", "finished", "exit_code", "tasks"]


def _runs_upsert(infos: list[RunInfo], report: RefreshReport) -> None:
    """Create or update runs in bulk: one query to read what exists, then multi-row inserts and bulk updates."""
    if not infos:
        return
    by_key = {(info.job_ref, info.external_id): info for info in infos}
    # The jobs narrow the search to the unique (job, external_id) index; external_id alone scans every run.
    existing = {
        (str(run.job_id), run.external_id): run
        for run in Run.objects.filter(
            job_id__in={info.job_ref for info in infos}, external_id__in=[info.external_id for info in infos]
        )
        .order_by()
        .only("id", "job_id", "external_id", *RUN_FIELDS)
    }
    to_create: list[RunInfo] = []
    to_update: list[Run] = []
    for key, info in by_key.items():
        run = existing.get(key)
        if run is None:
            to_create.append(info)
            continue
        if run.is_finished and run.status != info.status and info.status not in Run.FINISHED:
            continue  # a finished run never goes back to running
        values = {
            "status": info.status,
            "status_reason": info.reason,
            "started": info.started,
            "finished": info.finished,
            "exit_code": info.exit_code,
            "tasks": _task_dicts(info),
        }
        if any(getattr(run, name) != value for name, value in values.items()):
            if info.status == Run.Status.LOST and run.status != Run.Status.LOST:
                report.lost += 1
            for name, value in values.items():
                setattr(run, name, value)
            to_update.append(run)
    if to_create:
        _runs_insert(to_create)
        report.created += len(to_create)
        report.lost += sum(1 for info in to_create if info.status == Run.Status.LOST)
    if to_update:
        Run.objects.bulk_update(to_update, RUN_FIELDS, batch_size=500)
        report.updated += len(to_update)


# Rows per INSERT statement on PostgreSQL, whose driver would send executemany() one row at a time.
INSERT_ROWS = 1000
# The columns _runs_insert fills from a RunInfo, in the order it writes them; the others get their defaults.
INSERT_FIELDS = "job external_id status status_reason created started finished exit_code tasks".split()


def _runs_insert(infos: list[RunInfo]) -> None:
    """Insert a run per RunInfo, skipping those whose (job, external_id) exists: another refresher may have created
    the same run a moment ago, and the unique constraint decides, as with ``bulk_create(ignore_conflicts=True)``.

    The values are those bulk_create would write (the other columns get their defaults, ``updated`` now), prepared
    per column rather than per field of every object: that preparation was most of bulk_create's time.
    """
    meta = Run._meta
    filled = [meta.get_field(name) for name in INSERT_FIELDS]
    defaulted = [f for f in meta.concrete_fields if not f.primary_key and f not in filled]
    now = timezone.now()

    def default(f: Any) -> Any:  # what bulk_create's pre_save gives a field the RunInfo does not fill
        return now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()

    defaults = [f.get_db_prep_save(default(f), connection) for f in defaulted]
    job_field, tasks_field = meta.get_field("job"), meta.get_field("tasks")
    adapt_datetime = connection.ops.adapt_datetimefield_value
    if tasks_field.encoder is None:
        # The text the field's adapter would send (PostgreSQL's Jsonb wrapper dumps the same), without the wrapper.
        encode_tasks: Any = json.dumps
    else:
        encode_tasks = functools.partial(tasks_field.get_db_prep_save, connection=connection)

    def stored(name: str, value: datetime | None) -> Any:
        if value is None:
            return None
        if value.utcoffset() is None:  # the field warns and assumes the current time zone, as on save
            return meta.get_field(name).get_db_prep_save(value, connection)
        return adapt_datetime(value)

    job_values: dict[str, Any] = {}
    rows = []
    for info in infos:
        job = job_values.get(info.job_ref)
        if job is None:
            job = job_values[info.job_ref] = job_field.get_db_prep_save(info.job_ref, connection)
        rows.append(
            [
                job,
                info.external_id,
                info.status,
                info.reason,
                stored("created", info.created),
                stored("started", info.started),
                stored("finished", info.finished),
                info.exit_code,
                encode_tasks(_task_dicts(info)),
                *defaults,
            ]
        )

    ops = connection.ops
    fields = filled + defaulted
    # INSERT OR IGNORE (SQLite), INSERT IGNORE (MySQL) or ON CONFLICT DO NOTHING (PostgreSQL), as bulk_create.
    head = "{} {} ({}) ".format(
        ops.insert_statement(on_conflict=OnConflict.IGNORE),
        ops.quote_name(meta.db_table),
        ", ".join(ops.quote_name(f.column) for f in fields),
    )
    tail = ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column, as bulk_create sends them there: far less to parse and plan than VALUES rows.
            arrays = ", ".join(f"(%s)::{f.db_type(connection).split('(')[0]}[]" for f in fields)
            for start in range(0, len(rows), INSERT_ROWS):
                columns = [list(column) for column in zip(*rows[start : start + INSERT_ROWS], strict=True)]
                cursor.execute(f"{head}SELECT * FROM UNNEST({arrays}) {tail}", columns)
        else:
            # sqlite3 binds each row to one prepared statement; MySQLdb rewrites the rows into multi-row INSERTs.
            one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
            cursor.executemany(f"{head}VALUES {one_row} {tail}".rstrip(), rows)


def _jobs_latest_update(job_ids: set[str]) -> None:
    """Store each job's latest run status and time (what lists filter and sort on), two queries per 500 jobs."""
    ids = sorted(job_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        newest = dict(
            Run.objects.filter(job_id__in=chunk)
            .values("job_id")
            .annotate(newest=Max("created"))
            .values_list("job_id", "newest")
        )
        latest: dict[str, tuple[Any, str]] = {}
        candidates = Run.objects.filter(job_id__in=chunk, created__in=set(newest.values())).order_by("-id")
        for job_id, created, status in candidates.values_list("job_id", "created", "status"):
            if newest.get(job_id) == created:
                latest.setdefault(str(job_id), (created, status))
        changed = []
        for job in Job.objects.filter(pk__in=chunk).only("id", "latest_run_at", "latest_run_status"):
            created, status = latest.get(str(job.pk), (None, ""))
            if (job.latest_run_at, job.latest_run_status) != (created, status):
                job.latest_run_at, job.latest_run_status = created, status
                changed.append(job)
        Job.objects.bulk_update(changed, ["latest_run_at", "latest_run_status"], batch_size=500)


# --- archiving ---------------------------------------------------------------------------------------------------


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


def runs_archive(*, limit: int = 500, report: RefreshReport | None = None) -> RefreshReport:
    """Archive the logs of finished, un-archived runs (at most ``limit`` this call).

    A run is marked archived only after the archive write succeeded; a failed write or an unreachable cluster leaves
    it for the next pass. Runs whose logs the cluster no longer has are marked ``logs_expired``.
    """
    report = report or RefreshReport()
    token, runs = _claim(limit)
    archiver = get_archiver()
    drivers: dict[int, Driver] = {}
    for run in runs:
        execution = run.job.execution
        driver = drivers.setdefault(execution.pk, execution.get_driver())
        try:
            logs = _run_logs_collect(driver, run)
        except DriverError as exc:
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


def _archive_failed(run: Run, token: str, message: str, report: RefreshReport) -> None:
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
                    raise
                missing += 1
                tasks[task][stream] = b""
    if names and missing == len(names) * len(STREAMS):
        raise DriverError("the cluster no longer has this run's logs", status=404)
    return RunLogs(tasks=tasks)


# --- pruning -----------------------------------------------------------------------------------------------------


@dataclass
class PruneReport:
    runs: int = 0
    archives: int = 0
    failures: list[str] = field(default_factory=list)


def runs_prune(*, older_than: timedelta, dry_run: bool = False, chunk: int = 1000) -> PruneReport:
    """Delete runs created more than ``older_than`` ago, and their archived logs first.

    Nothing younger than the limit is touched. An archive that cannot be deleted keeps its run for the next prune.
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


# --- summaries for the web UI ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayOutcomes:
    """The runs created on one day (in the current time zone), counted per status."""

    day: date
    start: datetime
    end: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the start (inclusive) and end (exclusive) of ``day`` in the current time zone, as aware datetimes."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def runs_count_by_status(*, since: datetime, until: datetime | None = None) -> dict[str, int]:
    """Return {status: number of runs} for the runs created since ``since`` (and before ``until``)."""
    runs = Run.objects.filter(created__gte=since)
    if until is not None:
        runs = runs.filter(created__lt=until)
    return dict(runs.order_by().values_list("status").annotate(count=Count("id")))


def runs_outcomes_per_day(*, days: int = 14, now: datetime | None = None) -> list[DayOutcomes]:
    """Return the runs per status of each of the last ``days`` days (today included), oldest first.

    One query: each run is put in its day's bucket by the database, so the days follow the current time zone on
    every backend without the database's own time zone tables.
    """
    today = timezone.localdate(now or timezone.now())
    bounds = [day_bounds(today - timedelta(days=back)) for back in range(days - 1, -1, -1)]
    bucket = Case(
        *[When(created__gte=start, created__lt=end, then=Value(i)) for i, (start, end) in enumerate(bounds)],
        default=Value(-1),
        output_field=IntegerField(),
    )
    counts: list[dict[str, int]] = [{} for _ in bounds]
    rows = (
        Run.objects.filter(created__gte=bounds[0][0], created__lt=bounds[-1][1])
        .annotate(bucket=bucket)
        .order_by()
        .values_list("bucket", "status")
        .annotate(count=Count("id"))
    )
    for index, status, count in rows:
        if 0 <= index < len(counts):
            counts[index][status] = count
    return [
        DayOutcomes(day=start.date(), start=start, end=end, counts=counts[i]) for i, (start, end) in enumerate(bounds)
    ]
