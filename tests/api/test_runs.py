"""Runs API: list (filters, newest first, cursor pagination, constant queries), read, and logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from striv.archivers import get_archiver
from striv.archivers.base import RunLogs
from striv.jobs.models import Job
from striv.runs.models import Run
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def make_run(job, n: int, status: str = Run.Status.SUCCESSFUL, **fields) -> Run:
    defaults = {
        "external_id": f"alloc-{job.pk}-{n}",
        "created": T0 + timedelta(hours=n),
        "tasks": [{"name": "run", "state": "dead"}],
    }
    return Run.objects.create(job=job, status=status, **{**defaults, **fields})


@pytest.fixture
def runs(estate):
    """Runs of two jobs on two executions: hours 0..5, statuses alternating."""
    first = estate.job("first")
    second = estate.job("second", execution=estate.other_execution)
    made = [make_run(first, n, Run.Status.FAILED if n % 2 else Run.Status.SUCCESSFUL) for n in range(4)]
    made += [make_run(second, n, Run.Status.RUNNING) for n in (4, 5)]
    return first, second, made


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [run["id"] for run in response.json()["results"]]


def test_list_is_newest_first_with_job_and_execution(runs, viewer):
    first, second, made = runs
    response = viewer.get("/api/runs")
    assert ids(response) == [run.pk for run in reversed(made)]
    newest = response.json()["results"][0]
    assert newest["job"] == str(second.pk) and newest["job_name"] == "second" and newest["execution"] == "other"
    assert newest["status"] == "running" and newest["created"] == "2030-01-01T05:00:00Z"
    assert newest["tasks"] == [{"name": "run", "state": "dead"}] and newest["archived"] is False


@pytest.mark.parametrize(
    "query, hours",
    [
        ("status=failed", [3, 1]),
        ("status=running&status=failed", [5, 4, 3, 1]),
        ("execution=other", [5, 4]),
        ("created_after=2030-01-01T02:00:00Z", [5, 4, 3, 2]),
        ("created_before=2030-01-01T02:00:00Z", [1, 0]),
        ("created_after=2030-01-01T01:00:00Z&created_before=2030-01-01T03:00:00Z&status=successful", [2]),
    ],
)
def test_list_filters(runs, viewer, query, hours):
    _, _, made = runs
    assert ids(viewer.get(f"/api/runs?{query}")) == [made[hour].pk for hour in hours]


def test_list_filters_by_job(runs, viewer):
    first, _, made = runs
    assert ids(viewer.get(f"/api/runs?job={first.pk}")) == [run.pk for run in reversed(made[:4])]


@pytest.mark.parametrize("query", ["status=done", "job=not-a-uuid", "created_after=yesterday"])
def test_bad_filters_are_400_problems(runs, viewer, query):
    assert_problem(viewer.get(f"/api/runs?{query}"), 400)


def test_cursor_pagination_walks_every_run_once(runs, viewer):
    _, _, made = runs
    seen, url = [], "/api/runs?limit=4"
    while url:
        page = viewer.get(url).json()
        seen += [run["id"] for run in page["results"]]
        url = page["next"]
    assert seen == [run.pk for run in reversed(made)]


def test_forged_cursor_position_is_a_404_not_a_crash(runs, viewer):
    import base64

    cursor = base64.b64encode(b"p=not-a-date").decode()
    assert_problem(viewer.get(f"/api/runs?cursor={cursor}"), 404)


def test_list_uses_a_constant_number_of_queries_whatever_the_page_size(estate, viewer):
    jobs = [estate.job(f"job {n}") for n in range(3)]
    for n in range(15):
        make_run(jobs[n % 3], n)
    counts = {}
    for limit in (2, 15):
        with CaptureQueriesContext(connection) as queries:
            assert len(ids(viewer.get(f"/api/runs?limit={limit}&execution=greeter"))) == limit
        counts[limit] = len(queries)
    assert counts[2] == counts[15] <= 4, counts


def test_read_a_run(runs, viewer):
    _, _, made = runs
    body = viewer.get(f"/api/runs/{made[1].pk}").json()
    assert body["id"] == made[1].pk and body["status"] == "failed" and body["external_id"] == made[1].external_id


@pytest.mark.parametrize("run_id", ["0", "99999", str(2**63), "123456789012345678901234567890"])
def test_unknown_run_ids_are_404_problems(runs, viewer, run_id):
    assert_problem(viewer.get(f"/api/runs/{run_id}"), 404)
    assert_problem(viewer.get(f"/api/runs/{run_id}/logs"), 404)


# --- logs --------------------------------------------------------------------------------------------------------


@pytest.fixture
def archived_run(estate, settings, tmp_path):
    settings.ARCHIVE = tmp_path.as_uri()
    job = estate.job()
    run = make_run(job, 0)
    archiver = get_archiver()
    key = archiver.run_key(execution_key="greeter", job_id=str(job.pk), run_id=run.external_id)
    archiver.store(key=key, logs=RunLogs({"run": {"stdout": "héllo wörld\n".encode(), "stderr": b"oops\n"}}))
    run.log_archive_key, run.archived_at = key, timezone.now()
    run.save()
    return run


def test_logs_of_an_archived_run(archived_run, viewer):
    body = viewer.get(f"/api/runs/{archived_run.pk}/logs").json()
    assert body == {
        "task": "run",
        "stream": "stdout",
        "text": "héllo wörld\n",
        "offset": 0,
        "next_offset": 14,
        "size": 14,
        "source": "archive",
        "running": False,
    }
    body = viewer.get(f"/api/runs/{archived_run.pk}/logs?stream=stderr&offset=-3").json()
    assert (body["text"], body["offset"], body["next_offset"]) == ("ps\n", 2, 5)


def test_logs_never_cut_a_character_in_half(archived_run, viewer):
    # "h" is one byte and "é" two: three bytes would end inside "é"
    body = viewer.get(f"/api/runs/{archived_run.pk}/logs?max_bytes=2").json()
    assert (body["text"], body["next_offset"]) == ("h", 1)
    body = viewer.get(f"/api/runs/{archived_run.pk}/logs?offset=1&max_bytes=2").json()
    assert (body["text"], body["next_offset"]) == ("é", 3)


@pytest.mark.parametrize(
    "query, field",
    [("stream=stdin", "stream"), ("max_bytes=0", "max_bytes"), ("task=nope", "task"), ("offset=x", "offset")],
)
def test_bad_log_parameters_are_400_problems_naming_the_parameter(archived_run, viewer, query, field):
    problem = assert_problem(viewer.get(f"/api/runs/{archived_run.pk}/logs?{query}"), 400)
    assert problem["errors"][0]["field"] == field


def test_live_logs_from_the_cluster(estate, viewer, nomad):
    estate.execution.driver_config = {"address": nomad.address}
    estate.execution.save()
    job = estate.job(push=True)
    assert (job.sync_status, job.pushed_hash) == (Job.SyncStatus.IN_SYNC, job.spec_hash)
    child = nomad.seed_runs(f"striv-{job.pk}", 1, "running", stdout=b"line one\n")[0]
    alloc = nomad.alloc_ids(child)[0]
    run = make_run(job, 0, Run.Status.RUNNING, external_id=alloc)
    body = viewer.get(f"/api/runs/{run.pk}/logs?task=run").json()
    assert (body["text"], body["source"], body["running"], body["next_offset"]) == ("line one\n", "live", True, 9)
    nomad.alloc_append_log(alloc, "run", "stdout", b"line two\n")
    body = viewer.get(f"/api/runs/{run.pk}/logs?task=run&offset=9").json()
    assert (body["text"], body["offset"], body["next_offset"]) == ("line two\n", 9, 18)


def test_logs_with_an_unreachable_cluster_are_503(runs, viewer):
    _, _, made = runs
    response = viewer.get(f"/api/runs/{made[5].pk}/logs")
    assert assert_problem(response, 503)["type"] == "urn:striv:problem:cluster-unavailable"


def test_logs_the_token_may_not_read_are_a_409_refusal_not_expired(estate, viewer):
    from tests.emulators.nomad import NomadEmulator

    secured = NomadEmulator(acl=True).start()
    try:
        token = secured.create_token({"default": ["read-job", "submit-job", "dispatch-job"]})
        estate.execution.driver_config = {"address": secured.address, "token": token}
        estate.execution.save()
        job = estate.job(push=True)
        child = secured.seed_runs(f"striv-{job.pk}", 1, "running", stdout=b"line one\n")[0]
        run = make_run(job, 0, Run.Status.RUNNING, external_id=secured.alloc_ids(child)[0])
        problem = assert_problem(viewer.get(f"/api/runs/{run.pk}/logs?task=run"), 409)
        assert problem["type"] == "urn:striv:problem:cluster-refused" and "Permission denied" in problem["detail"]
    finally:
        secured.stop()
