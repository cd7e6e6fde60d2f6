"""Refreshing runs from the clusters: discovering new runs, following unfinished ones, marking vanished ones lost.

Runs are written in bulk: one query reads what exists, new runs go in with a raw multi-row insert (``_runs_insert``)
and changed ones with ``bulk_update``, so a pass over tens of thousands of allocations stays a few round trips.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.db import OperationalError, connection, models, transaction
from django.db.models import Max
from django.db.models.constants import OnConflict
from django.utils import timezone

from striv.drivers import driver_class
from striv.drivers.base import Driver, DriverError, RunInfo
from striv.executions.models import Execution
from striv.jobs.models import Job
from striv.runs.archive import runs_archive
from striv.runs.models import ClusterCursor, Run

logger = logging.getLogger(__name__)

# Runs upserted per database round trip.
UPSERT_CHUNK = 2000
# How runs of disconnected clients were stored before they had a status of their own: they may come back.
DISCONNECTED_AS_LOST = "the Nomad client running it disconnected"
VANISHED_REASON = "the allocation vanished from the cluster before it finished (garbage-collected or removed)"


@dataclass
class RefreshReport:
    """What one refresh pass did (the archiving that follows it included)."""

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
        archived = runs_archive(limit=archive_limit)
        report.archived += archived.archived
        report.expired += archived.expired
        report.failures += archived.failures
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
    if index < cursor.index:
        # Raft indexes only grow: a smaller one is another cluster behind the same address (rebuilt, restored).
        # Everything it has is read again; runs are matched by their allocation IDs, so none is stored twice.
        logger.warning(
            "the index of %s went back from %d to %d: a new cluster; reading all its runs",
            cluster.key,
            cursor.index,
            index,
        )
        cursor.index = cursor.create_index = 0

    seen: set[str] = set()
    touched: set[str] = set()  # the jobs whose runs this pass wrote
    newest = cursor.create_index
    batch: list[RunInfo] = []
    for info in cluster.driver.runs_new(after=cursor.create_index, prefixes=cluster.prefixes):
        newest = max(newest, info.create_index)
        if info.job_ref in job_ids:
            batch.append(info)
            seen.add(info.external_id)
            touched.add(info.job_ref)
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
        current = cluster.driver.run_read(run_ref=external_id, prefixes=cluster.prefixes)
        if current is None:
            updated = (
                Run.objects.unfinished()
                .filter(pk=pk)
                .update(status=Run.Status.LOST, status_reason=VANISHED_REASON, finished=timezone.now())
            )
            report.lost += updated
        else:
            finished_now.append(current)
    _runs_upsert(finished_now, report)
    _jobs_latest_update(touched | {info.job_ref for info in batch + finished_now} | _jobs_of(leftovers))

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
            if not (run.status == Run.Status.LOST and run.status_reason.startswith(DISCONNECTED_AS_LOST)):
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
    concrete = {f.name: f for f in meta.concrete_fields}
    filled = [concrete[name] for name in INSERT_FIELDS]
    defaulted = [f for f in meta.concrete_fields if not f.primary_key and f not in filled]
    now = timezone.now()

    def default(f: Any) -> Any:  # what bulk_create's pre_save gives a field the RunInfo does not fill
        return now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()

    defaults = [f.get_db_prep_save(default(f), connection) for f in defaulted]
    job_field, tasks_field = concrete["job"], cast(models.JSONField, concrete["tasks"])
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
            return concrete[name].get_db_prep_save(value, connection)
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
            arrays = ", ".join(f"(%s)::{_column_type(f)}[]" for f in fields)
            for start in range(0, len(rows), INSERT_ROWS):
                columns = [list(column) for column in zip(*rows[start : start + INSERT_ROWS], strict=True)]
                cursor.execute(f"{head}SELECT * FROM UNNEST({arrays}) {tail}", columns)
        else:
            # sqlite3 binds each row to one prepared statement; MySQLdb rewrites the rows into multi-row INSERTs.
            one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
            cursor.executemany(f"{head}VALUES {one_row} {tail}".rstrip(), rows)


def _column_type(field: models.Field) -> str:
    """The field's column type without its size (``varchar`` for ``varchar(200)``), the type of an array of values."""
    db_type = field.db_type(connection)
    if db_type is None:
        raise TypeError(f"field {field.name} has no column")
    return db_type.split("(")[0]


def _jobs_latest_update(job_ids: set[str], *, attempts: int = 3) -> None:
    """Store each job's latest run status and time (what lists filter and sort on), two queries per 500 jobs.

    It recomputes from the runs and runs in autocommit, so when two refreshers' writes deadlock (the database picks
    one to fail) it is simply done again.
    """
    for attempt in range(1, attempts + 1):
        try:
            _jobs_latest_write(job_ids)
            return
        except OperationalError:
            if attempt == attempts or not connection.get_autocommit():
                raise
            logger.warning("latest runs of %d jobs: a concurrent write won, retrying", len(job_ids))


def _jobs_latest_write(job_ids: set[str]) -> None:
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
