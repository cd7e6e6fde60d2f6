"""Bulk writes: POST and PATCH /api/jobs with a list: all checked first, refused per item, else saved and pushed."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from striv.jobs.bulk import BULK_MAX_ITEMS
from striv.jobs.models import Job
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db


def body(name: str, **changes) -> dict:
    return {"name": name, "execution": "greeter", "dimensions": {"customer": "acme"}, "params": {}, **changes}


def nomad_id(job_id: str) -> str:
    return f"striv-{job_id}"


def test_bulk_create_saves_pushes_and_lists_every_job_in_order(nomad_estate, nomad, operator):
    items = [body(f"job {n}", params={"greeting": f"hello {n}"}) for n in range(5)]
    response = operator.post("/api/jobs", items, format="json")
    assert response.status_code == 201, response.json()
    jobs = response.json()
    assert [job["name"] for job in jobs] == [f"job {n}" for n in range(5)]
    for n, job in enumerate(jobs):
        assert job["sync_status"] == "in_sync" and job["sync_error"] == ""
        assert job["dimensions"] == {"customer": "acme"}
        assert job["spec"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == [f"hello {n}"]
        held = nomad.job(nomad_id(job["id"]))
        assert held is not None and held["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == [f"hello {n}"]
    assert Job.objects.count() == 5


def test_bulk_create_refuses_every_failing_item_by_index_and_field_and_saves_nothing(nomad_estate, nomad, operator):
    items = [
        body("fine"),
        body("unknown execution", execution="nope"),
        body("bad params", params=["not", "an", "object"]),
        body("fine too"),
        body("unknown value", dimensions={"customer": "nobody"}),
        body("bad cron", params={"cron": "every day"}),  # refused by the render (the driver's spec check)
    ]
    problem = assert_problem(operator.post("/api/jobs", items, format="json"), 400)
    located = {(error["index"], error["field"]) for error in problem["errors"]}
    assert {(1, "execution"), (2, "params"), (4, "dimensions.customer")} <= located
    assert not {index for index, _ in located} & {0, 3}
    assert problem["detail"].startswith("job [1]: execution:") and "nothing was saved" in problem["detail"]
    assert not Job.objects.exists()
    assert not nomad.jobs


def test_bulk_create_refuses_a_render_failure_by_index_and_saves_nothing(nomad_estate, nomad, operator):
    items = [body("fine"), body("bad cron", params={"cron": "every day"})]
    problem = assert_problem(operator.post("/api/jobs", items, format="json"), 400)
    assert [(error["index"], error["code"]) for error in problem["errors"]] == [(1, "render")]
    assert not Job.objects.exists()
    assert not nomad.jobs


@pytest.mark.parametrize("count", [0, BULK_MAX_ITEMS + 1])
def test_bulk_create_takes_one_to_a_thousand_items(estate, operator, count):
    problem = assert_problem(operator.post("/api/jobs", [body("x")] * count, format="json"), 400)
    assert problem["errors"][0]["code"] == "bulk_size"
    assert not Job.objects.exists()


def test_bulk_create_refuses_items_that_are_not_objects(estate, operator):
    problem = assert_problem(operator.post("/api/jobs", [body("x"), 3, "job"], format="json"), 400)
    assert [(error["index"], error["code"]) for error in problem["errors"]] == [(1, "not_an_object")] + [
        (2, "not_an_object")
    ]


def test_bulk_create_keeps_jobs_pending_when_the_cluster_cannot_be_reached(estate, operator):
    response = operator.post("/api/jobs", [body("a"), body("b")], format="json")
    assert response.status_code == 201
    assert [job["sync_status"] for job in response.json()] == ["pending", "pending"]
    assert all("unreachable" in job["sync_error"] for job in response.json())


def test_bulk_create_keeps_jobs_the_cluster_refuses_saved_as_failed(nomad_estate, nomad, operator):
    """The push happens after the save is committed: a refusal cannot undo it, so the job says why it failed."""
    nomad_estate.other_execution.payload_template = "{ Type: 'batch', Periodic: { Spec: '0 3 * * *' }, TaskGroups: [] }"
    nomad_estate.other_execution.save()
    response = operator.post("/api/jobs", [body("fine"), body("refused", execution="other")], format="json")
    assert response.status_code == 201, response.json()
    fine, refused = response.json()
    assert fine["sync_status"] == "in_sync"
    assert refused["sync_status"] == "failed" and "task groups" in refused["sync_error"].lower()
    assert Job.objects.count() == 2
    assert list(nomad.jobs) == [nomad_id(fine["id"])]


def test_bulk_create_needs_the_operator_role(estate, viewer):
    assert_problem(viewer.post("/api/jobs", [body("x")], format="json"), 403)
    assert_problem(viewer.patch("/api/jobs", [{"id": "x"}], format="json"), 403)


def test_bulk_create_costs_queries_per_job_not_per_request(estate, operator):
    """No query grows with the batch beyond the per-job saves: executions and dimension values are read once for the
    whole list, and the answer reads all jobs at once."""

    def queries(count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = operator.post("/api/jobs", [body(f"{count} {n}") for n in range(count)], format="json")
        assert response.status_code == 201
        return len(captured.captured_queries)

    small, large = queries(2), queries(12)
    per_job = (large - small) / 10
    assert per_job == int(per_job) and per_job <= 9


# --- PATCH /api/jobs ---------------------------------------------------------------------------------------------


def test_bulk_patch_changes_only_the_fields_sent_and_pushes(nomad_estate, nomad, operator):
    first, second = nomad_estate.job("first", push=True), nomad_estate.job("second", push=True)
    items = [
        {"id": str(first.pk), "params": {"greeting": "changed"}, "version": 1},
        {"id": str(second.pk), "name": "renamed"},
    ]
    response = operator.patch("/api/jobs", items, format="json")
    assert response.status_code == 200, response.json()
    answered = response.json()
    assert [job["id"] for job in answered] == [str(first.pk), str(second.pk)]
    assert answered[0]["params"] == {"greeting": "changed"} and answered[0]["version"] == 2
    assert answered[1]["name"] == "renamed" and answered[1]["dimensions"] == {"customer": "acme", "level": "gold"}
    assert all(job["sync_status"] == "in_sync" for job in answered)
    assert nomad.job(nomad_id(str(first.pk)))["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["changed"]
    assert nomad.job(nomad_id(str(second.pk)))["Name"] == "renamed"


def test_bulk_patch_refuses_unknown_stale_duplicate_and_invalid_items_and_changes_nothing(nomad_estate, operator):
    job, other = nomad_estate.job("job"), nomad_estate.job("other")
    items = [
        {"id": str(job.pk), "params": {"greeting": "changed"}},
        {"id": "00000000-0000-0000-0000-000000000000", "name": "ghost"},
        {"id": str(other.pk), "version": 7},
        {"id": str(job.pk), "name": "twice"},
        {"name": "no id"},
        {"id": "not a uuid"},
        {"id": str(other.pk), "execution": "nope"},
    ]
    problem = assert_problem(operator.patch("/api/jobs", items, format="json"), 400)
    located = [(error["index"], error["field"], error["code"]) for error in problem["errors"]]
    assert (1, "id", "not_found") in located
    assert (3, "id", "duplicate") in located
    assert (4, "id", "required") in located
    assert (5, "id", "invalid") in located
    assert (6, "execution", "does_not_exist") in located or any(e[:2] == (6, "execution") for e in located)
    assert not [e for e in located if e[0] == 0]
    assert [e[0] for e in located] == sorted(e[0] for e in located)
    assert Job.objects.get(pk=job.pk).params == {} and Job.objects.get(pk=job.pk).version == 1


def test_bulk_patch_refuses_a_stale_version_and_changes_nothing(nomad_estate, operator):
    job, other = nomad_estate.job("job"), nomad_estate.job("other")
    items = [{"id": str(job.pk), "name": "new name"}, {"id": str(other.pk), "name": "x", "version": 7}]
    problem = assert_problem(operator.patch("/api/jobs", items, format="json"), 400)
    assert [(error["index"], error["field"], error["code"]) for error in problem["errors"]] == [(1, "version", "stale")]
    assert Job.objects.get(pk=job.pk).name == "job"


def test_bulk_patch_refuses_a_job_being_deleted(estate, operator):
    job = estate.job()
    Job.objects.filter(pk=job.pk).update(sync_status=Job.SyncStatus.DELETING)
    problem = assert_problem(operator.patch("/api/jobs", [{"id": str(job.pk), "name": "x"}], format="json"), 400)
    assert [(error["index"], error["code"]) for error in problem["errors"]] == [(0, "deleting")]


def test_patch_of_the_list_without_a_list_is_refused(estate, operator):
    problem = assert_problem(operator.patch("/api/jobs", {"name": "x"}, format="json"), 400)
    assert problem["errors"][0]["code"] == "bulk_size"


def test_bulk_endpoints_are_in_the_schema(viewer):
    schema = viewer.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    jobs = schema["paths"]["/api/jobs"]
    assert "patch" in jobs and "post" in jobs
    create = jobs["post"]["requestBody"]["content"]["application/json"]["schema"]
    patch = jobs["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patch["type"] == "array" and patch["maxItems"] == BULK_MAX_ITEMS
    assert "$ref" in create or "oneOf" in create


def test_bulk_refuses_text_a_database_cannot_compare_per_item(estate, operator):
    items = [body("nul", execution="gre\x00eter"), body("surrogate", dimensions={"customer": "ac\ud800me"})]
    # json.dumps escapes the lone surrogate, as a client sending it would have to.
    problem = assert_problem(operator.post("/api/jobs", json.dumps(items), content_type="application/json"), 400)
    located = {(error["index"], error["field"]) for error in problem["errors"]}
    assert (1, "dimensions.customer") in located
    # MariaDB's collation may even match the key with a NUL in it; SQLite and PostgreSQL refuse it.
    assert (0, "execution") in located or connection.vendor == "mysql"
    assert not Job.objects.exists()
