"""State API: GET dumps like dump-state, POST loads like load-state (dry run or not), admin only."""

from __future__ import annotations

import copy
import io
import json

import pytest
from django.core.management import call_command

from striv.dimensions.models import DimensionValue
from striv.executions.models import Execution
from striv.jobs.models import Job
from striv.state.dump import state_dump
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(estate) -> dict:
    """The estate's state with one job using it, as GET /api/state shows it."""
    estate.job("nightly")
    return state_dump()


def post(client, document, dry_run: str | None = None):
    url = "/api/state" + (f"?dry_run={dry_run}" if dry_run is not None else "")
    return client.post(url, document, format="json")


def test_get_dumps_the_state_as_dump_state_does(document, admin):
    response = admin.get("/api/state")
    assert response.status_code == 200
    assert response.json() == document
    out = io.StringIO()
    call_command("dump-state", stdout=out)
    assert json.loads(out.getvalue()) == document


def test_dry_run_reports_and_changes_nothing(document, admin):
    changed = copy.deepcopy(document)
    changed["dimensions"]["customer"]["values"]["initech"] = {"params": {"greeting": "hi initech"}}
    changed["executions"]["greeter"]["default_params"]["image"] = "alpine:3.21"
    response = post(admin, changed, dry_run="true")
    assert response.status_code == 200, response.json()
    report = response.json()
    assert report["dry_run"] is True and report["changed"] is True
    assert report["values_added"] == ["customer=initech"]
    assert report["executions_changed"] == ["greeter"]
    assert report["jobs_rendered"] == 1 and report["jobs_changed"][0]["name"] == "nightly"
    assert report["lines"][-1].endswith("(dry run, nothing saved)")
    assert not DimensionValue.objects.filter(key="initech").exists()
    assert Execution.objects.get(key="greeter").default_params["image"] == "alpine:3.20"


def test_load_applies_the_state_and_reports_like_load_state(document, admin, write_state):
    changed = copy.deepcopy(document)
    changed["executions"]["greeter"]["default_params"]["image"] = "alpine:3.21"
    out = io.StringIO()
    call_command("load-state", str(write_state(changed)), "--dry-run", stdout=out)
    response = post(admin, changed, dry_run="false")
    assert response.status_code == 200, response.json()
    report = response.json()
    assert report["dry_run"] is False
    assert report["lines"][: len(out.getvalue().splitlines())] == [
        line.replace(" (dry run, nothing saved)", "").replace("would change", "changed")
        for line in out.getvalue().splitlines()
    ]
    assert any(line.startswith("push: ") for line in report["lines"])  # the changed job was pushed (left pending)
    assert Execution.objects.get(key="greeter").default_params["image"] == "alpine:3.21"
    assert Job.objects.get(name="nightly").spec["TaskGroups"][0]["Tasks"][0]["Config"]["image"] == "alpine:3.21"


def test_loading_the_same_state_changes_nothing(document, admin):
    report = post(admin, document).json()
    assert report["changed"] is False and report["lines"] == ["no changes"]


def test_removing_an_execution_in_use_is_refused_with_409(document, admin):
    changed = copy.deepcopy(document)
    del changed["executions"]["greeter"]
    problem = assert_problem(post(admin, changed), 409)
    assert problem["type"] == "urn:striv:problem:state-refused"
    assert "nightly" in problem["errors"][0]["detail"]
    assert Execution.objects.filter(key="greeter").exists()


def test_malformed_state_is_400_naming_each_path(document, admin):
    changed = copy.deepcopy(document)
    changed["executions"]["greeter"]["driver"] = "kubernetes"
    changed["dimensions"]["level"]["priority"] = "high"
    changed["colour"] = "blue"
    problem = assert_problem(post(admin, changed), 400)
    fields = {error["field"] for error in problem["errors"]}
    assert {"executions.greeter.driver", "dimensions.level.priority"} <= fields
    assert None in fields  # the unknown top-level field
    assert Execution.objects.get(key="greeter").driver == "nomad"


def test_malformed_state_fields_are_the_problem_paths_whatever_the_keys(document, admin):
    changed = copy.deepcopy(document)
    changed["executions"]["greeter"]["driver_config"]["address"] = "nomad:4646"
    changed["dimensions"]["customer"]["values"]["no good: key"] = {"params": {}}
    problem = assert_problem(post(admin, changed), 400)
    errors = {error["field"]: error["detail"] for error in problem["errors"]}
    assert errors["executions.greeter.driver_config.address"].startswith("must be an http(s) URL")
    assert errors["dimensions.customer.values.no good: key"].startswith("keys use letters, digits")


@pytest.mark.parametrize(
    "body, query",
    [(None, ""), ([1, 2], ""), ({"executions": {}, "dimensions": {}}, "?dry_run=maybe")],
)
def test_missing_or_wrong_bodies_and_parameters_are_400(document, admin, body, query):
    response = admin.post(f"/api/state{query}", body, format="json") if body is not None else admin.post("/api/state")
    assert_problem(response, 400)
    assert Execution.objects.filter(key="greeter").exists()


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_state_is_for_admins_only(document, client_for, role):
    assert_problem(client_for(role).get("/api/state"), 403)
    assert_problem(post(client_for(role), document, dry_run="true"), 403)
