"""Who may call what: every endpoint against every role, plus token and session authentication."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from striv.core import roles
from striv.runs.models import Run
from tests.api.conftest import ROLE_NAMES, assert_problem
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

ANYONE, VIEWER, OPERATOR, ADMIN = None, roles.VIEWER, roles.OPERATOR, roles.ADMIN
RANK = {VIEWER: 1, OPERATOR: 2, ADMIN: 3}
JOB_BODY = {"name": "matrix", "execution": "greeter"}

# (method, path as in the schema, minimal role, body)
MATRIX = [
    ("get", "/api/health", ANYONE, None),
    ("get", "/api/schema/", VIEWER, None),
    ("get", "/api/docs/", VIEWER, None),
    ("get", "/api/public-key", VIEWER, None),
    ("get", "/api/jobs", VIEWER, None),
    ("post", "/api/jobs", OPERATOR, JOB_BODY),
    ("patch", "/api/jobs", OPERATOR, [{"name": "renamed"}]),
    ("get", "/api/jobs/{id}", VIEWER, None),
    ("put", "/api/jobs/{id}", OPERATOR, JOB_BODY),
    ("patch", "/api/jobs/{id}", OPERATOR, {"name": "renamed"}),
    ("delete", "/api/jobs/{id}", OPERATOR, None),
    ("post", "/api/jobs/evaluate", OPERATOR, JOB_BODY),
    ("post", "/api/jobs/{id}/run-now", OPERATOR, None),
    ("get", "/api/jobs/{id}/plan", VIEWER, None),
    ("get", "/api/runs", VIEWER, None),
    ("get", "/api/runs/{id}", VIEWER, None),
    ("get", "/api/runs/{id}/logs", VIEWER, None),
    ("get", "/api/executions", VIEWER, None),
    ("get", "/api/executions/{key}", VIEWER, None),
    ("get", "/api/dimensions", VIEWER, None),
    ("get", "/api/dimensions/{key}", VIEWER, None),
    ("get", "/api/state", ADMIN, None),
    ("post", "/api/state", ADMIN, {"executions": {}, "dimensions": {}}),
]


def allowed(minimal: str | None, role: str) -> bool:
    if minimal is None:
        return True
    return role in RANK and RANK[role] >= RANK[minimal]


@pytest.fixture
def objects(estate):
    """A job, a run, an execution and a dimension for the detail routes."""
    job = estate.job()
    run = Run.objects.create(job=job, external_id="alloc-1", created=job.created, tasks=[{"name": "run"}])
    return {"jobs": str(job.pk), "runs": str(run.pk), "executions": "greeter", "dimensions": "customer"}


def test_the_matrix_covers_every_operation_of_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {(method, path) for path, item in schema["paths"].items() for method in item}
    documented = {(method, path) for method, path, _, _ in MATRIX if path not in ("/api/schema/", "/api/docs/")}
    assert operations == documented


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("method, path, minimal, body", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_permission_matrix(objects, client_for, role, method, path, minimal, body):
    collection = path.split("/")[2]
    url = re.sub(r"\{\w+\}", objects.get(collection, ""), path)
    response = getattr(client_for(role), method)(url, body, format="json")
    if allowed(minimal, role):
        assert response.status_code not in (401, 403), (response.status_code, response.content[:300])
    elif role == "anonymous":
        assert_problem(response, 401)
        assert response["WWW-Authenticate"] == "Token"
    else:
        assert_problem(response, 403)


def test_a_superuser_is_an_admin(objects):
    client = APIClient()
    client.force_authenticate(make_user("root", is_superuser=True, is_staff=True))
    assert client.get("/api/state").status_code == 200


def test_an_inactive_users_token_is_refused(objects):
    user = make_user("gone", roles.ADMIN, is_active=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert_problem(client.get("/api/jobs"), 401)


def test_a_wrong_token_is_401(objects):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert_problem(client.get("/api/jobs"), 401)


def test_session_auth_for_the_ui_with_csrf_on_writes(objects):
    make_user("browser", roles.OPERATOR)
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="browser", password=PASSWORD)
    assert client.get("/api/jobs").status_code == 200
    problem = assert_problem(client.post("/api/jobs", JOB_BODY, content_type="application/json"), 403)
    assert "CSRF" in problem["detail"]
    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/api/jobs", JOB_BODY, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content


# --- tokens ------------------------------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("create-token", *args, stdout=out)
    return out.getvalue()


def test_create_token_creates_a_machine_user_with_a_role_and_revoke_removes_it(objects):
    output = run("crm", "--create", "--role", "operator")
    key = output.strip().rsplit(" ", 1)[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post("/api/jobs", JOB_BODY, format="json").status_code == 201
    assert not client.login(username="crm", password="")  # a machine account has no password
    assert "revoked" in run("crm", "--revoke")
    assert_problem(client.get("/api/jobs"), 401)


def test_create_token_again_replaces_the_previous_token(objects):
    make_user("ci", roles.VIEWER)
    first = run("ci").strip().rsplit(" ", 1)[-1]
    output = run("ci")
    assert "previous token no longer works" in output
    assert Token.objects.get(user__username="ci").key == output.strip().rsplit(" ", 1)[-1] != first


def test_create_token_for_an_unknown_user_is_an_error(db):
    with pytest.raises(CommandError, match="no user 'ghost'"):
        run("ghost")


def test_tokens_are_listed_in_the_admin(objects):
    make_user("root", is_superuser=True, is_staff=True)
    run("root")
    client = Client()
    client.login(username="root", password=PASSWORD)
    response = client.get("/admin/authtoken/tokenproxy/")
    assert response.status_code == 200 and b"root" in response.content
