"""The OpenAPI schema: valid, served with Swagger UI, and honoured by the API under property-based fuzzing.

The fuzz test loads the schema the API serves at /api/schema/ and lets schemathesis generate requests for every
operation, sent in-process through Django's WSGI handler inside the test's transaction (so destructive operations
such as POST /api/state touch only this test's data). Executions point at a Nomad emulator, so run-now, plan and logs
reach a cluster. It asserts no 5xx and no response outside the schema (status, content type, body, headers).
Checks that judge the API's business rules, such as "a schema-valid body must be accepted", are not run: a
schema-valid job can still name an unknown execution.
"""

from __future__ import annotations

import os
import time

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from striv.core import roles
from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution
from striv.jobs import services
from striv.runs.models import Run
from striv.state.load import state_load, state_read
from striv.state.schema import state_parse
from tests.conftest import EXAMPLES
from tests.factories import make_user

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Bounded: examples per operation (raise with STRIV_FUZZ_EXAMPLES for a longer run) and a time budget overall.
MAX_EXAMPLES = int(os.environ.get("STRIV_FUZZ_EXAMPLES", "20"))
TIME_BUDGET = float(os.environ.get("STRIV_FUZZ_SECONDS", "90"))
EXAMPLE_STATE = EXAMPLES / "multi-customer" / "state.jsonnet"


def test_the_schema_is_valid_openapi_3():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_schema_and_swagger_ui_are_served(viewer):
    response = viewer.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["version"] != "0.0.0"
    assert "/api/jobs/{id}/run-now" in schema["paths"]
    docs = viewer.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content


@pytest.fixture
def in_process_wsgi():
    """Django's WSGI handler, without closing the test's database connection at each request's end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def example_estate(nomad):
    """The multi-customer example state on the emulator, with a few jobs and runs; returns ids of existing objects."""
    data = state_read(EXAMPLE_STATE)
    for execution in data["executions"].values():
        execution["driver_config"]["address"] = nomad.address
    state_load(state=state_parse(data))
    customers = list(DimensionValue.objects.filter(dimension__key="customer").select_related("dimension")[:8])
    jobs = [
        services.job_create(name=f"{value.key} import", execution=Execution.objects.get(key="integration"),
                            values=[value], params={"batch_size": 100 + n}).job
        for n, value in enumerate(customers)
    ]  # fmt: skip
    runs = [Run.objects.create(job=job, external_id=f"alloc-{job.pk}", created=job.created) for job in jobs]
    return {
        "jobs": [str(job.pk) for job in jobs],
        "runs": [str(run.pk) for run in runs],
        "executions": list(Execution.objects.values_list("key", flat=True)),
        "dimensions": list(Dimension.objects.values_list("key", flat=True)),
    }


def fuzzer(operation, auth: dict[str, str], existing_ids: list[str]):
    """A Hypothesis test of ``operation``: generated requests, half of them addressing existing objects."""

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(), existing=st.booleans(), pick=st.integers(0, 7))
    def fuzz(case, existing, pick):
        if existing and case.path_parameters and existing_ids:
            for name in case.path_parameters:
                case.path_parameters[name] = existing_ids[pick % len(existing_ids)]
        case.call_and_validate(headers=auth, checks=CHECKS)

    return fuzz


@pytest.mark.filterwarnings("ignore")
def test_the_api_honours_its_schema_under_fuzzing(example_estate, in_process_wsgi, encryption_key):
    known = example_estate
    auth = {"Authorization": f"Token {Token.objects.create(user=make_user('fuzzer', roles.ADMIN)).key}"}

    schema = schemathesis.openapi.from_wsgi("/api/schema/", in_process_wsgi, headers=auth)
    failures: list[str] = []
    started = time.monotonic()
    # Deletions last, so that the other operations find existing jobs.
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.method == "delete")
    assert len(operations) >= 20
    for operation in operations:
        if time.monotonic() - started > TIME_BUDGET:
            failures.append(f"time budget of {TIME_BUDGET:g} s used up before {operation.label}")
            break
        fuzz = fuzzer(operation, auth, known.get(operation.path.split("/")[2], []))
        try:
            fuzz()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
