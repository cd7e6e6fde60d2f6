"""Jobs API: representation, filters, writes with If-Match, errors as problems, evaluate, run-now, plan."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from striv.core import keys
from striv.jobs import serializers as jobs_serializers
from striv.jobs.models import Job
from striv.runs.models import Run
from tests.api.conftest import assert_problem
from tests.factories import ExecutionFactory

pytestmark = pytest.mark.django_db

BODY = {"name": "nightly", "execution": "greeter", "dimensions": {"customer": "acme", "level": "gold"}, "params": {}}


def create(client, **changes):
    return client.post("/api/jobs", {**BODY, **changes}, format="json")


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [job["name"] for job in response.json()["results"]]


# --- representation and create -----------------------------------------------------------------------------------


def test_create_saves_renders_and_answers_201_with_etag_and_location(estate, operator):
    response = create(operator, params={"greeting": "hello there"})
    assert response.status_code == 201, response.json()
    job = response.json()
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"/api/jobs/{job['id']}"
    assert job["execution"] == "greeter"
    assert job["dimensions"] == {"customer": "acme", "level": "gold"}
    assert job["params"] == {"greeting": "hello there"}
    assert job["version"] == 1
    assert job["spec"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["hello there"]
    # Nothing listens at the execution's address: the job is kept and the push left for later.
    assert job["sync_status"] == "pending" and "unreachable" in job["sync_error"]
    assert Job.objects.get(pk=job["id"]).name == "nightly"


def test_job_shows_latest_run_and_next_launch_times(estate, viewer):
    job = estate.job()
    assert viewer.get(f"/api/jobs/{job.pk}").json()["latest_run"] is None
    Job.objects.filter(pk=job.pk).update(latest_run_status="failed", latest_run_at="2030-01-02T03:04:05Z")
    body = viewer.get(f"/api/jobs/{job.pk}").json()
    assert body["latest_run"] == {"status": "failed", "at": "2030-01-02T03:04:05Z"}
    launches = body["next_launches"]
    assert len(launches) == jobs_serializers.NEXT_LAUNCH_COUNT
    assert all(moment.endswith("T03:00:00Z") for moment in launches)  # cron "0 3 * * *" in UTC
    assert launches == sorted(launches)


def test_job_without_schedule_has_no_next_launches(estate, viewer):
    estate.execution.payload_template = "{ Type: 'batch', Datacenters: ['dc1'] }"
    estate.execution.save()
    job = estate.job(name="unscheduled")
    assert viewer.get(f"/api/jobs/{job.pk}").json()["next_launches"] == []


def test_secret_params_stay_encrypted_and_the_spec_redacted(estate, operator, encryption_key):
    secret = keys.encrypt("hunter2")
    response = create(operator, params={"greeting": secret})
    assert response.status_code == 201, response.json()
    assert response.json()["params"]["greeting"] == secret
    assert response.json()["spec"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["<redacted>"]
    assert b"hunter2" not in response.content
    listed = operator.get("/api/jobs")
    assert listed.json()["results"][0]["params"]["greeting"] == secret and b"hunter2" not in listed.content


def test_run_statuses_mirror_the_run_model():
    assert list(jobs_serializers.LatestRunSerializer().fields["status"].choices) == list(Run.Status.values)


# --- list: filters, ordering, pagination, queries ----------------------------------------------------------------


@pytest.fixture
def listed(estate):
    """Four jobs with different executions, dimension values, latest runs and sync statuses."""
    a = estate.job("a acme gold", values=[estate.acme, estate.gold])
    b = estate.job("b globex gold", values=[estate.globex, estate.gold])
    c = estate.job("c acme other", values=[estate.acme], execution=estate.other_execution)
    d = estate.job("d special", values=[])
    Job.objects.filter(pk=a.pk).update(latest_run_status="failed")
    Job.objects.filter(pk=b.pk).update(latest_run_status="successful")
    Job.objects.filter(pk=c.pk).update(sync_status=Job.SyncStatus.FAILED)
    Job.objects.filter(pk=d.pk).update(sync_status=Job.SyncStatus.IN_SYNC)
    return a, b, c, d


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", ["a acme gold", "b globex gold", "c acme other", "d special"]),
        ("search=SPECIAL", ["d special"]),
        ("execution=other", ["c acme other"]),
        ("execution=missing", []),
        ("dimension=customer:acme", ["a acme gold", "c acme other"]),
        ("dimension=customer:acme&dimension=customer:globex", ["a acme gold", "b globex gold", "c acme other"]),
        ("dimension=customer:acme&dimension=level:gold", ["a acme gold"]),
        ("dimension=customer:nobody", []),
        ("latest_run_status=failed", ["a acme gold"]),
        ("latest_run_status=failed&latest_run_status=successful", ["a acme gold", "b globex gold"]),
        ("latest_run_status=none", ["c acme other", "d special"]),
        ("sync_status=failed", ["c acme other"]),
        ("sync_status=in_sync&sync_status=failed", ["c acme other", "d special"]),
        ("ordering=-name", ["d special", "c acme other", "b globex gold", "a acme gold"]),
        ("execution=greeter&dimension=level:gold&latest_run_status=successful", ["b globex gold"]),
    ],
)
def test_list_filters(listed, viewer, query, expected):
    assert names(viewer.get(f"/api/jobs?{query}")) == expected


@pytest.mark.parametrize(
    "query, field",
    [
        ("dimension=customer", "dimension"),
        ("dimension=:acme", "dimension"),
        ("sync_status=bogus", "sync_status"),
        ("latest_run_status=bogus", "latest_run_status"),
        ("search=a%00b", "search"),
    ],
)
def test_bad_filters_are_400_problems_naming_the_parameter(listed, viewer, query, field):
    problem = assert_problem(viewer.get(f"/api/jobs?{query}"), 400)
    assert problem["errors"][0]["field"] == field


def test_cursor_pagination_walks_every_job_once_in_order(estate, viewer):
    for n in range(7):
        estate.job(f"job {n % 3} {n}")
    seen, url = [], "/api/jobs?limit=3&ordering=name"
    while url:
        page = viewer.get(url).json()
        assert len(page["results"]) <= 3
        seen += [job["name"] for job in page["results"]]
        url = page["next"]
    assert seen == sorted(Job.objects.values_list("name", flat=True))


def test_forged_cursor_is_a_404_problem(estate, viewer):
    assert_problem(viewer.get("/api/jobs?cursor=not-a-cursor"), 404)


def test_list_uses_a_constant_number_of_queries_whatever_the_page_size(estate, viewer):
    for n in range(12):
        estate.job(f"job {n:02}", values=[estate.acme if n % 2 else estate.globex, estate.gold])
    counts = {}
    for limit in (2, 12):
        with CaptureQueriesContext(connection) as queries:
            response = viewer.get(f"/api/jobs?limit={limit}&dimension=level:gold")
        assert len(response.json()["results"]) == limit
        counts[limit] = len(queries)
    assert counts[2] == counts[12], counts
    assert counts[12] <= 5  # token, user's roles, jobs, dimension values


# --- updates, ETags, If-Match ------------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(estate, operator):
    job = estate.job(params={"greeting": "hi"})
    response = operator.patch(f"/api/jobs/{job.pk}", {"name": "renamed"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "renamed"
    assert body["params"] == {"greeting": "hi"}
    assert body["dimensions"] == {"customer": "acme", "level": "gold"}
    assert body["version"] == 2 and response["ETag"] == '"2"'


def test_put_replaces_the_definition(estate, operator):
    job = estate.job(params={"greeting": "hi"})
    response = operator.put(f"/api/jobs/{job.pk}", {"name": "fresh", "execution": "other"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["name"], body["execution"], body["dimensions"], body["params"]) == ("fresh", "other", {}, {})


def test_patch_may_change_dimensions(estate, operator):
    job = estate.job()
    response = operator.patch(f"/api/jobs/{job.pk}", {"dimensions": {"customer": "globex"}}, format="json")
    assert response.json()["dimensions"] == {"customer": "globex"}
    assert response.json()["spec"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["hello globex"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_stale_if_match_is_412_and_changes_nothing(estate, operator, method):
    job = estate.job()
    assert operator.patch(f"/api/jobs/{job.pk}", {"name": "second"}, format="json").status_code == 200
    body = {"name": "third", "execution": "greeter"}
    response = getattr(operator, method)(f"/api/jobs/{job.pk}", body, format="json", HTTP_IF_MATCH='"1"')
    problem = assert_problem(response, 412)
    assert problem["type"] == "urn:striv:problem:stale-version"
    assert response["ETag"] == '"2"'
    job.refresh_from_db()
    assert (job.name, job.version) == ("second", 2)


@pytest.mark.parametrize("if_match", ['"1"', '"7", "1"', "*"])
def test_current_if_match_proceeds(estate, operator, if_match):
    job = estate.job()
    response = operator.patch(f"/api/jobs/{job.pk}", {"name": "x"}, format="json", HTTP_IF_MATCH=if_match)
    assert response.status_code == 200 and response["ETag"] == '"2"'


@pytest.mark.parametrize("if_match", ['W/"1"', "1", '"1'])
def test_weak_or_malformed_if_match_never_matches(estate, operator, if_match):
    job = estate.job()
    assert_problem(operator.patch(f"/api/jobs/{job.pk}", {"name": "x"}, format="json", HTTP_IF_MATCH=if_match), 412)


def test_without_if_match_the_last_writer_wins(estate, operator):
    job = estate.job()
    assert operator.patch(f"/api/jobs/{job.pk}", {"name": "first"}, format="json").status_code == 200
    assert operator.patch(f"/api/jobs/{job.pk}", {"name": "second"}, format="json").status_code == 200
    job.refresh_from_db()
    assert (job.name, job.version) == ("second", 3)


def test_a_concurrent_save_between_read_and_write_is_caught(estate, operator, monkeypatch):
    """If-Match matched when checked, but another save lands before the row is locked: still 412."""
    job = estate.job()
    from striv.jobs import services

    real_update = services.job_update

    def update_after_someone_else(**kwargs):
        Job.objects.filter(pk=job.pk).update(version=5)
        return real_update(**kwargs)

    monkeypatch.setattr(services, "job_update", update_after_someone_else)
    response = operator.patch(f"/api/jobs/{job.pk}", {"name": "x"}, format="json", HTTP_IF_MATCH='"1"')
    assert_problem(response, 412)
    assert response["ETag"] == '"5"'


# --- errors ------------------------------------------------------------------------------------------------------


def test_unknown_fields_are_rejected_not_ignored(estate, operator):
    problem = assert_problem(create(operator, colour="blue"), 400)
    assert problem["errors"] == [{"field": "colour", "detail": "Unknown field.", "code": "unknown_field"}]
    job = estate.job()
    problem = assert_problem(operator.patch(f"/api/jobs/{job.pk}", {"name": "x", "nmae": "y"}, format="json"), 400)
    assert problem["errors"][0]["field"] == "nmae"
    assert Job.objects.get(pk=job.pk).name == "nightly"


def test_read_only_fields_sent_back_are_accepted(estate, operator):
    job = operator.get(f"/api/jobs/{estate.job().pk}").json()
    response = operator.put(f"/api/jobs/{job['id']}", {**job, "name": "round trip"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2


def test_bad_param_key_names_the_job_layer_and_param(estate, operator):
    problem = assert_problem(create(operator, params={"bad key": 1}), 400)
    error = problem["errors"][0]
    assert (error["field"], error["layer"], error["param"], error["code"]) == ("params", "job", "bad key", "render")
    assert not Job.objects.exists()


def test_template_error_names_the_execution_line_and_column(estate, operator):
    ExecutionFactory(key="broken", payload_template="{\n  a: params.nope,\n}")
    problem = assert_problem(create(operator, execution="broken"), 400)
    error = problem["errors"][0]
    assert (error["field"], error["line"], error["column"]) == ("execution", 2, 6)


def test_bad_dimension_param_names_the_dimension_layer(estate, operator):
    estate.gold.params = {"bad key": 1}
    estate.gold.save()
    error = assert_problem(create(operator), 400)["errors"][0]
    assert (error["field"], error["layer"]) == ("dimensions.level", "dimension:level=gold")


@pytest.mark.parametrize(
    "changes, field, detail",
    [
        ({"dimensions": {"planet": "mars"}}, "dimensions.planet", "Unknown dimension"),
        ({"dimensions": {"customer": "initech"}}, "dimensions.customer", "Unknown value"),
        ({"dimensions": ["acme"]}, "dimensions", "Expected an object"),
        ({"execution": "nowhere"}, "execution", "does not exist"),
        ({"params": ["x"]}, "params", "Expected an object"),
        ({"params": {"x": "a\x00b"}}, "params", "NUL"),
        ({"name": ""}, "name", "blank"),
        ({"name": "a\x00b"}, "name", "Null characters"),
        ({"name": None}, "name", "null"),
    ],
)
def test_invalid_fields_are_named(estate, operator, changes, field, detail):
    problem = assert_problem(create(operator, **changes), 400)
    assert problem["errors"][0]["field"] == field
    assert detail in problem["errors"][0]["detail"]
    assert not Job.objects.exists()


def test_numbers_json_cannot_store_are_refused(estate, operator):
    body = json.dumps(BODY)[:-1] + ', "params": {"x": 1e400}}'
    problem = assert_problem(operator.post("/api/jobs", body, content_type="application/json"), 400)
    assert "out of range" in problem["detail"]


def test_non_json_bodies_are_415(estate, operator):
    assert_problem(operator.post("/api/jobs", "name=x", content_type="application/x-www-form-urlencoded"), 415)


def test_unknown_api_urls_and_methods_are_problems(operator):
    assert_problem(operator.get("/api/nothing/here"), 404)
    assert_problem(operator.get("/api/jobs/not-a-uuid"), 404)
    response = operator.put("/api/runs", {}, format="json")
    assert_problem(response, 405)
    assert response["Allow"] == "GET, HEAD, OPTIONS"


# --- evaluate ----------------------------------------------------------------------------------------------------


def test_evaluate_previews_without_saving(estate, operator, encryption_key):
    secret = keys.encrypt("hunter2")
    body = {"execution": "greeter", "dimensions": {"customer": "acme"}, "params": {"env.TOKEN": secret}}
    response = operator.post("/api/jobs/evaluate", body, format="json")
    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["spec"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["hi acme"]
    assert result["params"]["env"] == {"A": "1", "TOKEN": "<redacted>"}
    assert result["provenance"]["greeting"] == "dimension:customer=acme"
    assert result["provenance"]["env.A"] == "execution:greeter"
    assert result["provenance"]["env.TOKEN"] == "job"
    assert len(result["next_launches"]) == jobs_serializers.NEXT_LAUNCH_COUNT
    assert b"hunter2" not in response.content
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "changes", [{"params": {"bad key": 1}}, {"dimensions": {"customer": "initech"}}, {"execution": "nowhere"}]
)
def test_evaluate_reports_the_same_errors_as_create(estate, operator, changes):
    evaluated = assert_problem(operator.post("/api/jobs/evaluate", {**BODY, **changes}, format="json"), 400)
    created = assert_problem(create(operator, **changes), 400)
    assert evaluated["errors"] == created["errors"]


def test_evaluate_rejects_unknown_fields(estate, operator):
    problem = assert_problem(operator.post("/api/jobs/evaluate", {**BODY, "id": "x"}, format="json"), 400)
    assert problem["errors"][0]["field"] == "id"


# --- delete, run now, plan ---------------------------------------------------------------------------------------


def test_delete_with_an_unreachable_cluster_marks_the_job_deleting(estate, operator):
    job = estate.job()
    response = operator.delete(f"/api/jobs/{job.pk}")
    assert response.status_code == 202
    assert response.json()["sync_status"] == "deleting"
    assert_problem(operator.patch(f"/api/jobs/{job.pk}", {"name": "x"}, format="json"), 409)
    assert_problem(operator.post(f"/api/jobs/{job.pk}/run-now"), 409)


def test_run_now_with_an_unreachable_cluster_is_503_with_retry_after(estate, operator):
    job = estate.job()
    response = operator.post(f"/api/jobs/{job.pk}/run-now")
    assert assert_problem(response, 503)["type"] == "urn:striv:problem:cluster-unavailable"
    assert response["Retry-After"]
    assert_problem(operator.get(f"/api/jobs/{job.pk}/plan"), 503)


@pytest.fixture
def live(estate, nomad):
    """The estate's execution pointed at a running Nomad emulator."""
    estate.execution.driver_config = {"address": nomad.address}
    estate.execution.save()
    return estate


def test_create_pushes_to_a_live_cluster(live, operator, nomad):
    job = create(operator).json()
    assert job["sync_status"] == "in_sync" and job["sync_error"] == ""
    assert f"striv-{job['id']}" in nomad.jobs


def test_run_now_launches_a_run_on_the_cluster(live, operator, nomad):
    job = create(operator).json()
    response = operator.post(f"/api/jobs/{job['id']}/run-now")
    assert response.status_code == 202, response.json()
    assert response.json()["external_id"] in nomad.children(f"striv-{job['id']}")


def test_run_now_whose_follow_up_read_fails_is_still_launched(live, operator, nomad):
    job = create(operator).json()
    nomad.fault("error500", path="/v1/evaluation/")
    response = operator.post(f"/api/jobs/{job['id']}/run-now")
    assert response.status_code == 202, response.json()
    assert len(nomad.children(f"striv-{job['id']}")) == 1
    assert response.json()["warning"].startswith("launched, but Nomad failed to read evaluation")


def test_run_now_refused_by_dispatch_rules_is_409_with_nomads_message(live, operator, nomad):
    live.execution.payload_template = (
        "{ Type: 'batch', Datacenters: ['dc1'], ParameterizedJob: { Payload: 'required' },"
        " TaskGroups: [{ Name: 'main', Tasks: [{ Name: 'run', Driver: 'docker', Config: { image: 'a' } }] }] }"
    )
    live.execution.save()
    job = create(operator).json()
    problem = assert_problem(operator.post(f"/api/jobs/{job['id']}/run-now"), 409)
    assert "Payload is not provided but required" in problem["detail"]


def test_plan_compares_with_the_live_job(live, operator, nomad):
    job = create(operator).json()
    plan = operator.get(f"/api/jobs/{job['id']}/plan").json()
    assert plan == {"changed": False, "diff": plan["diff"], "live": True}
    # The execution's defaults change behind the job's back: the plan shows the difference.
    Job.objects.filter(pk=job["id"]).update(params={"image": "alpine:3.21"})
    plan = operator.get(f"/api/jobs/{job['id']}/plan").json()
    assert plan["changed"] is True and "alpine:3.21" in plan["diff"]


def test_plan_of_a_job_that_no_longer_renders_is_409_naming_the_layer(live, operator):
    job = create(operator).json()
    Job.objects.filter(pk=job["id"]).update(params={"bad key": 1})
    problem = assert_problem(operator.get(f"/api/jobs/{job['id']}/plan"), 409)
    assert problem["errors"][0]["layer"] == "job"


def test_delete_on_a_live_cluster_removes_the_job(live, operator, nomad):
    job = create(operator).json()
    response = operator.delete(f"/api/jobs/{job['id']}", HTTP_IF_MATCH='"1"')
    assert response.status_code == 204
    assert not Job.objects.filter(pk=job["id"]).exists()
    assert f"striv-{job['id']}" not in nomad.jobs
    assert_problem(operator.get(f"/api/jobs/{job['id']}"), 404)


# --- limits ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 5000])
def test_json_nested_past_the_limit_is_a_400_naming_the_path(estate, operator, depth):
    nested = "[" * depth + "]" * depth
    body = '{"name": "deep", "execution": "greeter", "params": {"env": {"X": ' + nested + "}}}"
    response = operator.post("/api/jobs", body, content_type="application/json")
    problem = assert_problem(response, 400)
    assert "nested deeper than 64 levels at params.env.X" + "[0]" * 60 in json.dumps(problem)
    assert not Job.objects.exists()


def test_meta_that_is_not_an_object_of_strings_is_a_render_error_in_the_preview(estate, operator):
    estate.execution.payload_template = "{ Type: 'batch', Meta: params.meta, TaskGroups: [] }"
    estate.execution.save()
    for meta in ([1, 2], {"owner": 7}):
        body = {**BODY, "params": {"meta": meta}}
        evaluated = assert_problem(operator.post("/api/jobs/evaluate", body, format="json"), 400)
        assert "Meta" in json.dumps(evaluated)
        assert_problem(create(operator, params={"meta": meta}), 400)
    assert not Job.objects.exists()


def test_evaluate_is_for_operators(estate, viewer):
    assert_problem(viewer.post("/api/jobs/evaluate", BODY, format="json"), 403)
