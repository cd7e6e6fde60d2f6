"""rows_update writes, column for column, what bulk_update writes; its conditions match filter().update() per row.

Runs on whichever database the suite runs on (SQLite, PostgreSQL, MariaDB) and compares the rows as the database
returns them to a raw SELECT, so a difference in encoding (JSON text, time stamps, NULLs) counts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from striv.core.bulkwrite import rows_update
from striv.jobs.models import Job
from tests.factories import ExecutionFactory, JobFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 6, 1, 22, 59, 59, 123456, tzinfo=UTC)
BERLIN_SUMMER = timezone(timedelta(hours=2))
FIELDS = ["spec", "spec_hash", "sync_status", "sync_error", "sync_attempts", "synced_at", "next_sync_at",
          "pushed_secrets", "params"]  # fmt: skip


def stored_rows() -> list[tuple[Any, ...]]:
    """Every job row as the database returns it, ordered by name."""
    columns = [f.column for f in Job._meta.concrete_fields]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT {} FROM {} ORDER BY {}".format(
                ", ".join(quote(c) for c in columns), quote(Job._meta.db_table), quote("name")
            )
        )
        return [tuple(row) for row in cursor.fetchall()]


@pytest.fixture
def jobs(clock) -> list[Job]:
    """Seven jobs (more than two chunks of three), edited in memory: unicode, '%', quotes, NULLs, time zones."""
    execution = ExecutionFactory()
    jobs = [JobFactory(name=f"job {n}", execution=execution, spec_hash=f"old{n}") for n in range(7)]
    specs: list[Any] = [
        {"name": "ünïcødé 🚀", "args": ["50%", "it's", 'say "hi"', "back\\slash"]},
        {},
        {"nested": {"list": [1, 2.5, None, True], "empty": []}},
        {"big": "x" * 5000},
        {"n": 1},
        {"%s": "%(name)s"},
        {"n": 7},
    ]
    for n, job in enumerate(jobs):
        job.spec = specs[n]
        job.spec_hash = f"new{n}"
        job.sync_status = Job.SyncStatus.PENDING if n % 2 else Job.SyncStatus.OUT_OF_SYNC
        job.sync_error = "" if n % 3 else f"error ünï {n}; DROP TABLE x; --"
        job.sync_attempts = n
        job.synced_at = None if n % 2 else T0 + timedelta(minutes=n)
        job.next_sync_at = (T0 + timedelta(hours=n)).astimezone(BERLIN_SUMMER) if n % 2 else None
        job.pushed_secrets = [] if n % 2 else [f"ciphertext-{n}"]
        job.params = {"n": n, "s": "ünï"}
    return jobs


def test_rows_update_writes_what_bulk_update_writes(jobs):
    with transaction.atomic():
        Job.objects.bulk_update(jobs, FIELDS, batch_size=3)
        expected = stored_rows()
        transaction.set_rollback(True)
    before = stored_rows()
    assert before != expected

    rows_update(Job, jobs, FIELDS, chunk_rows=3)

    assert stored_rows() == expected


def test_rows_update_writes_one_statement_per_chunk(jobs):
    with CaptureQueriesContext(connection) as queries:
        rows_update(Job, jobs, FIELDS, chunk_rows=3)
    # SQLite binds every row of a chunk to one prepared statement (executemany), logged as "3 times: UPDATE ...".
    statements = [re.sub(r"^\d+ times: ", "", q["sql"]) for q in queries.captured_queries]
    updates = [sql for sql in statements if sql.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 3
    assert "CASE" not in " ".join(updates).upper()


def test_rows_update_conditions_match_filter_update_per_row(jobs):
    """same/differ/exclude write exactly the rows a per-row filter(...).exclude(...).update(...) writes."""
    # Some rows changed in the database meanwhile: their stored spec_hash no longer equals the object's.
    stored = {job.pk: job.spec_hash for job in jobs}
    for job in jobs[::2]:
        stored[job.pk] = job.spec_hash
    for n, job in enumerate(jobs):
        Job.objects.filter(pk=job.pk).update(
            spec_hash=stored[job.pk] if n % 2 == 0 else f"other{n}",
            sync_status=Job.SyncStatus.DELETING if n == 4 else Job.SyncStatus.OUT_OF_SYNC,
        )
    fields = ["sync_error", "sync_attempts", "synced_at"]

    with transaction.atomic():
        for job in jobs:
            Job.objects.filter(pk=job.pk, spec_hash=job.spec_hash).exclude(sync_status=Job.SyncStatus.DELETING).update(
                **{f: getattr(job, f) for f in fields}
            )
            Job.objects.filter(pk=job.pk).exclude(spec_hash=job.spec_hash).exclude(
                sync_status=Job.SyncStatus.DELETING
            ).update(pushed_hash=job.spec_hash)
        expected = stored_rows()
        transaction.set_rollback(True)

    rows_update(Job, jobs, fields, same=["spec_hash"], exclude={"sync_status": Job.SyncStatus.DELETING}, chunk_rows=3)
    for job in jobs:
        job.pushed_hash = job.spec_hash
    rows_update(
        Job, jobs, ["pushed_hash"], differ=["spec_hash"], exclude={"sync_status": Job.SyncStatus.DELETING}, chunk_rows=3
    )

    assert stored_rows() == expected
    written = Job.objects.exclude(sync_attempts=0).values_list("name", flat=True)
    assert sorted(written) == ["job 2", "job 6"]  # job 0 has 0 attempts; job 4 is being deleted


def test_rows_update_with_nothing_to_write_runs_no_query(jobs):
    with CaptureQueriesContext(connection) as queries:
        rows_update(Job, [], FIELDS)
        rows_update(Job, jobs, [])
    assert queries.captured_queries == []
