"""Run discovery on every Nomad paging behaviour: it ends, misses nothing, stores nothing twice, and keeps every
job's latest run right, across index powers of ten, backlogs of thousands of runs and a rebuilt cluster."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db.models import Count, Max

from striv.jobs import services as job_services
from striv.jobs.models import Job
from striv.runs.models import ClusterCursor, Run
from striv.runs.refresh import RefreshReport, runs_refresh
from tests.emulators.nomad import NomadEmulator
from tests.factories import ExecutionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["string", "numeric"])
def paging(request) -> str:
    """Both ways Nomad compares pagination tokens: as strings (1.6.0-1.10.1) and as numbers (1.10.2+)."""
    return request.param


@pytest.fixture
def aged_nomad(paging) -> Iterator[NomadEmulator]:
    """A cluster whose raft index is just below 100,000: the runs seeded here cross a power of ten."""
    emulator = NomadEmulator(paging=paging, first_index=99_000, record=False).start()
    yield emulator
    emulator.stop()


def bounded(emulator: NomadEmulator, work: Callable[[], Any], seconds: float = 60) -> Any:
    """Run `work`, failing the test (and cutting the emulator off) when it does not end in time."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        emulator.stop()  # the endless pass fails on its next request and ends
        thread.join(10)
        pytest.fail(f"the refresh pass did not end within {seconds} s")
    return outcome[0]


def striv_jobs(emulator: NomadEmulator, count: int) -> list[Job]:
    execution = ExecutionFactory(key="greeter", driver_config={"address": emulator.address})
    return [
        job_services.job_create(name=f"job {n}", execution=execution, params={"greeting": "hi"}).job
        for n in range(count)
    ]


def test_discovery_across_an_index_power_of_ten_ends_and_misses_nothing(aged_nomad, transactional_db):
    (job,) = striv_jobs(aged_nomad, 1)
    children = aged_nomad.seed_runs(f"striv-{job.pk}", 1_500, start=1_700_000_000)
    assert aged_nomad.index > 100_000 > min(a["CreateIndex"] for a in aged_nomad.allocs.values())

    report: RefreshReport = bounded(aged_nomad, lambda: runs_refresh(archive=False))

    assert report.failures == [] and report.created == 1_500
    assert Run.objects.count() == 1_500
    assert set(Run.objects.values_list("external_id", flat=True)) == set(aged_nomad.allocs)
    job.refresh_from_db()
    assert job.latest_run_at == Run.objects.aggregate(newest=Max("created"))["newest"]
    assert len(children) == 1_500

    # Later runs, past the power of ten, are found too: the cursor moved on, and the next pass reads only them.
    more = aged_nomad.seed_runs(f"striv-{job.pk}", 3)
    report = bounded(aged_nomad, lambda: runs_refresh(archive=False))
    assert report.created == 3 and Run.objects.count() == 1_503
    assert {aged_nomad.alloc_ids(child)[0] for child in more} <= set(Run.objects.values_list("external_id", flat=True))


def test_active_runs_paged_across_a_power_of_ten_are_all_followed(aged_nomad, transactional_db):
    (job,) = striv_jobs(aged_nomad, 1)
    aged_nomad.seed_runs(f"striv-{job.pk}", 1_200, status="running", start=1_700_000_000)
    driver = job.execution.get_driver()

    active = bounded(aged_nomad, lambda: driver.runs_active(prefixes=["striv-"]))

    assert sorted(info.external_id for info in active) == sorted(aged_nomad.allocs)


def test_every_jobs_latest_run_is_right_after_a_pass_of_thousands(nomad, db):
    jobs = striv_jobs(nomad, 5)
    for number, job in enumerate(jobs):
        nomad.seed_runs(f"striv-{job.pk}", 600, status="failed" if number % 2 else "complete", start=1_700_000_000)

    report = runs_refresh(archive=False)

    assert report.created == 3_000
    for number, job in enumerate(jobs):
        job.refresh_from_db()
        newest = Run.objects.filter(job=job).aggregate(newest=Max("created"))["newest"]
        assert job.latest_run_at == newest is not None
        assert job.latest_run_status == (Run.Status.FAILED if number % 2 else Run.Status.SUCCESSFUL)


def test_a_rebuilt_cluster_is_detected_and_read_again_without_duplicates(nomad, db, caplog):
    (job,) = striv_jobs(nomad, 1)
    parent = f"striv-{job.pk}"
    registered = nomad.job(parent)
    old = [nomad.alloc_ids(child)[0] for child in nomad.seed_runs(parent, 20, start=1_700_000_000)]
    runs_refresh(archive=False)
    cursor = ClusterCursor.objects.get()
    assert Run.objects.count() == 20 and cursor.index == nomad.index

    # The cluster is rebuilt behind the same address: its index starts near 1 again, below the cursor.
    nomad.rebuild()
    nomad.register(registered)
    child = nomad.launch(parent, at=1_800_000_000)
    new = nomad.alloc_ids(child)[0]
    assert nomad.index < cursor.index

    with caplog.at_level(logging.WARNING, logger="striv.runs.refresh"):
        report = runs_refresh(archive=False)

    assert report.failures == [] and report.created == 1
    assert "went back" in caplog.text
    assert set(Run.objects.values_list("external_id", flat=True)) == {*old, new}
    assert not Run.objects.values("external_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    cursor.refresh_from_db()
    assert cursor.index == nomad.index
    job.refresh_from_db()
    assert job.latest_run_status == Run.objects.get(external_id=new).status

    # The pass after that sees an unchanged cluster again.
    assert runs_refresh(archive=False).unchanged_clusters == 1
