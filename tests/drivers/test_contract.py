"""Every request striv's Nomad driver sends, and every answer it gets, checked against HashiCorp's OpenAPI spec."""

from __future__ import annotations

import pytest

from striv.jobs import plan as job_plan
from striv.jobs import services as job_services
from striv.jobs import sync as job_sync
from striv.runs.refresh import runs_refresh
from tests.emulators import openapi_contract


@pytest.mark.django_db
def test_driver_traffic_matches_the_nomad_openapi_spec(nomad, nomad_execution, settings, tmp_path):
    if not openapi_contract.available():
        pytest.skip("../shared/nomad/openapi.yaml not present")
    from striv.archivers import clear_archivers

    settings.ARCHIVE = (tmp_path / "archive").as_uri()
    clear_archivers()
    contract = openapi_contract.load()
    nomad.requests_log.clear()

    job = job_services.job_create(name="contract", execution=nomad_execution, params={"greeting": "v1"}).job
    job = job_services.job_update(job=job, changes=job_services.JobChanges(params={"greeting": "v2"}), push=False).job
    job_plan.job_plan(job=job)
    job_sync.jobs_sync(jobs=job_sync.jobs_to_sync())
    child = job_services.job_run_now(job=job).external_id
    (alloc_id,) = nomad.alloc_ids(child)
    nomad.alloc_finish(alloc_id, "failed", stderr=b"contract\n")
    runs_refresh()
    nomad_execution.get_driver().health()
    job_services.job_delete(job=job)
    clear_archivers()

    exchanges = list(nomad.requests_log)
    covered = [e for e in exchanges if contract.covers(e.method, e.path)]
    problems = [problem for exchange in covered for problem in contract.check(exchange)]
    methods = {(e.method, e.path.split("/")[2]) for e in covered}
    assert {
        ("POST", "job"),
        ("GET", "job"),
        ("DELETE", "job"),
        ("GET", "allocations"),
        ("GET", "evaluation"),
    } <= methods
    assert problems == []
