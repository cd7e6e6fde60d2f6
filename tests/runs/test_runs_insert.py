"""The refresher's raw multi-row run insert writes, column for column, what bulk_create(ignore_conflicts=True) writes.

The test runs on whichever database the suite runs on (SQLite, PostgreSQL, MariaDB), and compares the stored
values as the database returns them to a raw SELECT, so a difference in encoding (JSON text, time stamps) counts.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection

from striv.drivers.base import RunInfo, TaskInfo
from striv.runs import refresh
from striv.runs.models import Run
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 6, 1, 22, 59, 59, 123456, tzinfo=UTC)
BERLIN_SUMMER = timezone(timedelta(hours=2))


def run_from_info(info: RunInfo) -> Run:
    """The Run that ``bulk_create`` gets for a RunInfo: its fields, and tasks as JSON-ready dicts."""
    return Run(
        job_id=info.job_ref,
        external_id=info.external_id,
        status=info.status,
        status_reason=info.reason,
        created=info.created,
        started=info.started,
        finished=info.finished,
        exit_code=info.exit_code,
        tasks=refresh._task_dicts(info),
    )


def stored_rows() -> list[tuple[Any, ...]]:
    """Every run row as the database returns it, all columns but the id, ordered by (job, external id)."""
    meta = Run._meta
    columns = [f.column for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT {} FROM {} ORDER BY {}, {}".format(
                ", ".join(quote(c) for c in columns),
                quote(meta.db_table),
                quote(meta.get_field("job").column),
                quote("external_id"),
            )
        )
        return [tuple(row) for row in cursor.fetchall()]


@pytest.fixture
def infos(clock) -> list[RunInfo]:
    """Runs to insert: edge cases first (unicode, nulls, offsets, '%' in text, conflicts), then enough rows to need
    more than one INSERT statement; two of them already exist with other values, one is listed twice."""
    first, second = JobFactory(name="first"), JobFactory(name="second")
    for job, external_id in ((first, "exists-1"), (second, "exists-2")):
        RunFactory(job=job, external_id=external_id, status="running", tasks=[{"name": "old"}], created=T0)
    a, b = str(first.pk), str(second.pk)
    unicode_task = TaskInfo(
        name="importer ünïcødé 🚀",
        state="dead",
        failed=True,
        exit_code=2,
        started=T0,
        finished=T0 + timedelta(seconds=61, microseconds=7),
        message='Exit "2": 日本語, back\\slash, 100% done\nnext line',
    )
    edge = [
        RunInfo(external_id="plain", job_ref=a, status="successful", created=T0, started=T0, finished=T0, exit_code=0),
        RunInfo(
            external_id="nulls", job_ref=a, status="pending", created=T0, started=None, finished=None, exit_code=None
        ),
        RunInfo(
            external_id="unicode-ünï-%s-%(x)s",
            job_ref=b,
            status="failed",
            created=T0.astimezone(BERLIN_SUMMER),
            started=T0.astimezone(BERLIN_SUMMER),
            finished=T0 + timedelta(minutes=1),
            exit_code=-9,
            reason="OOM killed: 100% of 512 MiB — «mémoire»",
            tasks=(unicode_task, TaskInfo(name="sidecar", state="running")),
        ),
        RunInfo(external_id="naive", job_ref=b, status="lost", created=datetime(2025, 6, 1, 12), reason="vanished"),
        RunInfo(external_id="exists-1", job_ref=a, status="successful", created=T0, exit_code=0),
        RunInfo(external_id="exists-2", job_ref=b, status="failed", created=T0, exit_code=1),
        RunInfo(external_id="twice", job_ref=a, status="running", created=T0),
        RunInfo(external_id="twice", job_ref=a, status="successful", created=T0 + timedelta(hours=1)),
        RunInfo(external_id="empty-tasks", job_ref=b, status="successful", created=T0, tasks=()),
    ]
    many = [
        RunInfo(
            external_id=f"striv-x/periodic-{n}",
            job_ref=a if n % 3 else b,
            status="successful" if n % 5 else "failed",
            created=T0 - timedelta(minutes=n),
            started=T0 - timedelta(minutes=n, seconds=-1),
            finished=T0 - timedelta(minutes=n, seconds=-30) if n % 7 else None,
            exit_code=n % 5,
            tasks=(TaskInfo(name="run", state="dead", exit_code=n % 5, message=f"run {n}"),),
        )
        for n in range(refresh.INSERT_ROWS + 50)
    ]
    return edge + many


def test_runs_insert_writes_what_bulk_create_writes(infos, settings):
    settings.TIME_ZONE = "Europe/Berlin"  # where a naive time stamp is taken to be, on both paths
    existing = set(Run.objects.values_list("pk", flat=True))
    before = stored_rows()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the naive time stamp's warning, given on both paths
        refresh._runs_insert(infos)
        inserted = stored_rows()
        Run.objects.exclude(pk__in=existing).delete()
        assert stored_rows() == before
        Run.objects.bulk_create([run_from_info(info) for info in infos], ignore_conflicts=True)
        created = stored_rows()

    assert len(inserted) == len(before) + len(infos) - 3  # two existed already, one was listed twice
    assert inserted == created
    # The rows that existed are left as they were, on both paths.
    kept = Run.objects.filter(pk__in=existing)
    assert sorted(kept.values_list("external_id", "status")) == [("exists-1", "running"), ("exists-2", "running")]
    # And what was stored reads back as given (the parity above would also hold if both paths lost something).
    run = Run.objects.get(external_id="unicode-ünï-%s-%(x)s")
    assert run.status_reason == "OOM killed: 100% of 512 MiB — «mémoire»"
    assert run.created == T0 and run.exit_code == -9
    assert run.tasks[0]["name"] == "importer ünïcødé 🚀"
    assert run.tasks[0]["message"] == 'Exit "2": 日本語, back\\slash, 100% done\nnext line'
    assert run.tasks[1] == {
        "name": "sidecar",
        "state": "running",
        "failed": False,
        "exit_code": None,
        "started": None,
        "finished": None,
        "message": "",
    }
    nulls = Run.objects.get(external_id="nulls")
    assert (nulls.started, nulls.finished, nulls.exit_code, nulls.tasks) == (None, None, None, [])
    assert Run.objects.get(external_id="twice").status == "running"  # the first of two rows with one key wins
    naive = Run.objects.get(external_id="naive")
    assert naive.created == datetime(2025, 6, 1, 10, tzinfo=UTC)  # 12:00 in Berlin's summer time
