"""Health, public key, executions and dimensions."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from striv.core import crypto
from tests.api.conftest import assert_problem
from tests.factories import DimensionValueFactory, ExecutionFactory

pytestmark = pytest.mark.django_db


# --- health ------------------------------------------------------------------------------------------------------


def test_health_needs_no_auth_and_gives_anonymous_callers_the_overall_status_only(estate, client_for):
    response = client_for("anonymous").get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"  # nothing listens at the executions' address
    assert body["database"] == {"ok": True}
    assert body["time"].endswith("Z")
    assert set(body) == {"status", "time", "database"}  # no execution keys, no version


def test_health_lists_each_execution_to_users(estate, viewer):
    body = viewer.get("/api/health").json()
    assert body["version"] and body["version"] != "unknown"
    assert [(e["key"], e["driver"], e["ok"]) for e in body["executions"]] == [
        ("greeter", "nomad", False),
        ("other", "nomad", False),
    ]


def test_health_with_a_bad_token_still_answers(estate):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/health")
    assert response.status_code == 200 and "executions" not in response.json()


def test_many_health_calls_ask_each_cluster_once_and_leave_no_thread(estate, viewer, nomad):
    import threading

    for execution in (estate.execution, estate.other_execution):
        execution.driver_config = {"address": nomad.address}
        execution.save()
    before = threading.active_count()
    bodies = [viewer.get("/api/health").json() for _ in range(20)]
    assert all(body["status"] == "ok" for body in bodies)
    assert sum(1 for request in nomad.requests_log if request.path == "/v1/status/leader") == 1
    assert threading.active_count() <= before + 1


def test_health_shows_cluster_details_to_users(estate, viewer):
    detail = viewer.get("/api/health").json()["executions"][0]["detail"]
    assert "unreachable" in detail


def test_health_asks_each_cluster_once(estate, viewer, nomad):
    for execution in (estate.execution, estate.other_execution):
        execution.driver_config = {"address": nomad.address}
        execution.save()
    body = viewer.get("/api/health").json()
    assert body["status"] == "ok"
    assert [item["ok"] for item in body["executions"]] == [True, True]
    assert sum(1 for request in nomad.requests_log if request.path == "/v1/status/leader") == 1


def test_health_answers_within_its_timeout_when_a_cluster_hangs(estate, viewer, nomad):
    estate.execution.driver_config = {"address": nomad.address}
    estate.execution.save()
    nomad.fault("slow", delay=5)
    started = time.monotonic()
    body = viewer.get("/api/health").json()
    assert time.monotonic() - started < 4
    assert body["executions"][0] == {"key": "greeter", "driver": "nomad", "ok": False, "detail": "no answer within 2 s"}
    nomad.fault(None)


def test_health_without_a_database_is_503(estate, client_for, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("striv.executions.api.connection.cursor", broken_cursor)
    problem = assert_problem(client_for("anonymous").get("/api/health"), 503)
    assert problem["type"] == "urn:striv:problem:database-unavailable"


# --- public key --------------------------------------------------------------------------------------------------


def test_public_key_lets_clients_encrypt_secrets(estate, operator, encryption_key):
    response = operator.get("/api/public-key")
    assert response.status_code == 200
    pem = response.json()["public_key"]
    assert pem == crypto.public_key_recover(encryption_key)
    secret = crypto.value_encrypt("s3cret", public_pem=pem)
    body = {"name": "with secret", "execution": "greeter", "params": {"env.PASSWORD": secret}}
    created = operator.post("/api/jobs", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["spec"]["TaskGroups"][0]["Tasks"][0]["Env"]["PASSWORD"] == "<redacted>"


def test_public_key_without_encryption_key_is_404(viewer, no_encryption_key):
    assert assert_problem(viewer.get("/api/public-key"), 404)["type"] == "urn:striv:problem:no-encryption-key"


def test_secret_made_with_another_key_is_refused_naming_the_param(estate, operator, encryption_key, other_private_key):
    secret = crypto.value_encrypt("x", public_pem=crypto.public_key_recover(other_private_key))
    body = {"name": "x", "execution": "greeter", "params": {"token": secret}}
    error = assert_problem(operator.post("/api/jobs", body, format="json"), 400)["errors"][0]
    assert (error["field"], error["layer"], error["param"]) == ("params", "job", "token")


# --- executions and dimensions -----------------------------------------------------------------------------------


def test_executions_list_and_detail_say_how_many_jobs_use_them(estate, viewer):
    estate.job("one")
    estate.job("two")
    listed = viewer.get("/api/executions").json()["results"]
    assert [(e["key"], e["jobs_count"]) for e in listed] == [("greeter", 2), ("other", 0)]
    detail = viewer.get("/api/executions/greeter").json()
    assert detail["driver"] == "nomad" and detail["default_params"]["image"] == "alpine:3.20"
    assert detail["payload_template"].startswith("{")
    assert_problem(viewer.get("/api/executions/nowhere"), 404)


def test_execution_credentials_in_plain_text_are_redacted(estate, viewer, encryption_key):
    from striv.core import keys

    secret = keys.encrypt("nomad-token")
    ExecutionFactory(key="plain", driver_config={"address": "http://127.0.0.1:9", "token": "s.abc"})
    ExecutionFactory(key="sealed", driver_config={"address": "http://127.0.0.1:9", "token": secret})
    assert viewer.get("/api/executions/plain").json()["driver_config"]["token"] == "<redacted>"
    assert viewer.get("/api/executions/sealed").json()["driver_config"]["token"] == "<redacted>"


def test_dimensions_show_values_and_usage(estate, viewer):
    estate.job("one", values=[estate.acme, estate.gold])
    estate.job("two", values=[estate.acme])
    listed = viewer.get("/api/dimensions").json()["results"]
    assert [(d["key"], d["jobs_count"]) for d in listed] == [("customer", 2), ("level", 1)]
    customer = viewer.get("/api/dimensions/customer").json()
    assert customer["priority"] == 20
    assert [(v["key"], v["jobs_count"], v["params"]) for v in customer["values"]] == [
        ("acme", 2, {"greeting": "hi acme"}),
        ("globex", 0, {"greeting": "hello globex"}),
    ]
    assert_problem(viewer.get("/api/dimensions/planet"), 404)


def test_dimension_list_uses_a_constant_number_of_queries(estate, viewer):
    for n in range(6):
        DimensionValueFactory(dimension=estate.level, key=f"tier{n}")
    counts = []
    for limit in (1, 2):
        with CaptureQueriesContext(connection) as queries:
            viewer.get(f"/api/dimensions?limit={limit}")
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_not_acceptable_is_a_json_problem(estate, viewer):
    assert_problem(viewer.get("/api/jobs", HTTP_ACCEPT="text/html"), 406)


@pytest.mark.django_db
def test_swagger_ui_is_served_without_a_cdn(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("docs", password="x"))
    page = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in page and "/static/drf_spectacular_sidecar/" in page
