"""Statuses that hold against the emulator: a disconnected client's run recovers, a killed run is stopped."""

from __future__ import annotations

import nomad as python_nomad
import pytest

from striv.jobs import services as job_services
from striv.runs.models import Run
from striv.runs.refresh import runs_refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(nomad, nomad_execution):
    return job_services.job_create(name="nightly", execution=nomad_execution, params={"greeting": "hi"}).job


def running_alloc(nomad, job) -> str:
    child = nomad.launch(f"striv-{job.pk}")
    (alloc,) = nomad.alloc_ids(child)
    nomad.alloc_run(alloc)
    return alloc


def test_a_disconnected_run_is_not_final_and_recovers_when_the_client_reconnects(nomad, job):
    alloc = running_alloc(nomad, job)
    runs_refresh(archive=False)
    nomad.alloc_disconnect(alloc)

    runs_refresh(archive=False)
    run = Run.objects.get(external_id=alloc)
    assert run.status == Run.Status.DISCONNECTED and not run.is_finished and run.finished is None
    assert "disconnected" in run.status_reason
    assert Run.objects.unfinished().filter(pk=run.pk).exists()

    nomad.alloc_reconnect(alloc)
    runs_refresh(archive=False)
    assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING

    nomad.alloc_finish(alloc, "complete")
    runs_refresh(archive=False)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCESSFUL and run.exit_code == 0
    job.refresh_from_db()
    assert job.latest_run_status == Run.Status.SUCCESSFUL


def test_a_run_stored_lost_while_disconnected_comes_back(nomad, job):
    alloc = running_alloc(nomad, job)
    runs_refresh(archive=False)
    # How earlier releases stored a disconnected client's run: final "lost".
    Run.objects.filter(external_id=alloc).update(
        status=Run.Status.LOST, status_reason="the Nomad client running it disconnected (status unknown)"
    )
    nomad.alloc_append_log(alloc, "run", "stdout", b"still here\n")  # any change, so the pass is not skipped
    nomad.alloc_disconnect(alloc)
    nomad.alloc_reconnect(alloc)
    runs_refresh(archive=False)
    assert Run.objects.get(external_id=alloc).status == Run.Status.RUNNING


@pytest.mark.parametrize("how", ["stop", "purge", "alloc-stop"])
def test_a_run_killed_from_outside_is_stopped_not_successful(nomad, job, how):
    alloc = running_alloc(nomad, job)
    runs_refresh(archive=False)
    child = nomad.allocs[alloc]["JobID"]
    client = python_nomad.Nomad(address=nomad.address)
    if how == "alloc-stop":
        client.allocation.stop_allocation(alloc)
    else:
        client.job.deregister_job(child, purge=how == "purge")

    runs_refresh(archive=False)

    run = Run.objects.get(external_id=alloc)
    assert run.status == Run.Status.STOPPED and run.is_finished
    assert run.exit_code == 143 and run.finished is not None and run.status_reason
    job.refresh_from_db()
    assert job.latest_run_status == Run.Status.STOPPED
