"""sync-jobs and load-state write their results set-based: a constant number of statements, whatever the job count."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from striv.drivers.base import DriverError, PushResult
from striv.jobs import services
from striv.jobs import sync as job_sync
from striv.jobs.models import Job
from tests.state.helpers import base_state, load, make_job

pytestmark = pytest.mark.django_db


def job_updates(queries: CaptureQueriesContext) -> list[str]:
    """The UPDATE statements on the job table (an executemany is logged once, as "N times: UPDATE ...")."""
    table = connection.ops.quote_name(Job._meta.db_table)
    statements = [re.sub(r"^\d+ times: ", "", q["sql"]) for q in queries.captured_queries]
    return [sql for sql in statements if sql.startswith(f"UPDATE {table}")]


@pytest.mark.parametrize("count", [3, 30])
def test_sync_jobs_writes_its_outcomes_in_statements_that_do_not_grow_with_the_jobs(nomad, nomad_execution, count):
    for n in range(count):
        services.job_create(name=f"job {n}", execution=nomad_execution, params={"greeting": str(n)}, push=False)
    with CaptureQueriesContext(connection) as queries:
        call_command("sync-jobs", stdout=io.StringIO())
    assert len(nomad.jobs) == count
    assert not Job.objects.exclude(sync_status=Job.SyncStatus.IN_SYNC).exists()
    # The outcomes of a batch: one statement for the pushes, one for jobs saved again meanwhile (none here).
    assert len(job_updates(queries)) <= 2


def test_sync_outcomes_keep_a_job_saved_again_meanwhile_and_one_being_deleted(nomad, nomad_execution):
    """A push outcome is written only where the spec hash is still the one pushed and the job is not being deleted."""
    jobs = [
        services.job_create(name=f"job {n}", execution=nomad_execution, params={"greeting": str(n)}, push=False).job
        for n in range(5)
    ]
    plain, saved_again, deleting, failed, removed = jobs
    Job.objects.filter(pk=saved_again.pk).update(spec_hash="saved-again", sync_status=Job.SyncStatus.OUT_OF_SYNC)
    Job.objects.filter(pk__in=[deleting.pk, removed.pk]).update(sync_status=Job.SyncStatus.DELETING)
    removed.sync_status = Job.SyncStatus.DELETING
    ok = PushResult(external_id="x", changed=True)
    report = job_sync.SyncReport()
    items = [
        (job_sync._Task(plain, "push", lambda: None, ["c1"]), ok),
        (job_sync._Task(saved_again, "push", lambda: None), ok),
        (job_sync._Task(deleting, "push", lambda: None), ok),
        (job_sync._Task(failed, "push", lambda: None), DriverError("down", retryable=True)),
        (job_sync._Task(removed, "remove", lambda: None), None),
    ]
    job_sync._sync_record_many(items, report)

    assert (report.pushed, report.removed, len(report.failed)) == (3, 1, 1)  # as the cluster calls went
    stored = {job.pk: job for job in Job.objects.all()}
    assert stored[plain.pk].sync_status == Job.SyncStatus.IN_SYNC
    assert stored[plain.pk].pushed_hash == plain.spec_hash and stored[plain.pk].pushed_secrets == ["c1"]
    # Saved again: keeps its new spec, stays out of sync, and knows what the cluster now holds.
    assert stored[saved_again.pk].spec_hash == "saved-again"
    assert stored[saved_again.pk].sync_status == Job.SyncStatus.OUT_OF_SYNC
    assert stored[saved_again.pk].pushed_hash == saved_again.spec_hash
    assert stored[saved_again.pk].synced_at is None
    assert stored[deleting.pk].sync_status == Job.SyncStatus.DELETING and stored[deleting.pk].pushed_hash == ""
    assert stored[failed.pk].sync_status == Job.SyncStatus.PENDING
    assert (stored[failed.pk].sync_attempts, stored[failed.pk].sync_error) == (1, "down")
    assert removed.pk not in stored


def test_sync_remove_failure_keeps_the_job_deleting_with_its_error(nomad, nomad_execution):
    job = services.job_create(name="going", execution=nomad_execution, push=False).job
    Job.objects.filter(pk=job.pk).update(sync_status=Job.SyncStatus.DELETING)
    job.sync_status = Job.SyncStatus.DELETING
    report = job_sync.SyncReport()
    job_sync._sync_record_many(
        [(job_sync._Task(job, "remove", lambda: None), DriverError("unreachable", retryable=True))], report
    )
    stored = Job.objects.get(pk=job.pk)
    assert (stored.sync_status, stored.sync_error, stored.sync_attempts) == (Job.SyncStatus.DELETING, "unreachable", 1)
    assert stored.next_sync_at is not None


@pytest.mark.parametrize("count", [2, 20])
def test_load_state_re_render_writes_changed_specs_in_one_statement_without_case(write_state, count):
    load(write_state(base_state()))
    jobs = [make_job(f"job {n}", values=None, params={"env": {"N": str(n)}}) for n in range(count)]
    state = base_state()
    state["executions"]["greeter"]["default_params"]["greeting"] = "changed"
    with CaptureQueriesContext(connection) as queries:
        load(write_state(state))
    specs = [sql for sql in job_updates(queries) if connection.ops.quote_name("spec") in sql]
    assert len(specs) == 1
    assert "CASE" not in specs[0].upper()
    for job in jobs:
        stored = Job.objects.get(pk=job.pk)
        assert stored.spec["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["changed"]
        assert stored.spec["TaskGroups"][0]["Tasks"][0]["Env"] == {"N": job.params["env"]["N"]}
        assert stored.spec_hash != job.spec_hash and stored.sync_status != Job.SyncStatus.IN_SYNC
