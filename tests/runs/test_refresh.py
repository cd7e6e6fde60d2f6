"""The refresher against the Nomad emulator: discovery, status, loss, archiving, expiry, pruning."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from striv.executions.models import Execution
from striv.jobs import services as job_services
from striv.jobs.models import Job
from striv.runs import refresh as refresh_service
from striv.runs.logs import run_logs_read
from striv.runs.models import Run
from tests.factories import RunFactory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def job(nomad, nomad_execution):
    return job_services.job_create(name="acme nightly", execution=nomad_execution, params={"greeting": "hi"}).job


def nomad_id(job: Job) -> str:
    return f"striv-{job.pk}"


def alloc_of(nomad, child: str) -> str:
    (alloc_id,) = nomad.alloc_ids(child)
    return alloc_id


def refresh(*args: str) -> str:
    out = io.StringIO()
    call_command("refresh", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_end_to_end_runs_statuses_archive_and_expiry(nomad, job, archive):
    parent = nomad_id(job)
    children = [nomad.launch(parent, at=1_700_000_000 + n * 86400) for n in range(5)]
    ok, failing, lost, gone, running = (alloc_of(nomad, c) for c in children)
    for alloc in (ok, failing, lost, gone, running):
        nomad.alloc_run(alloc)
    nomad.alloc_finish(ok, "complete", stdout=b"all good\n")
    nomad.alloc_finish(failing, "failed", exit_code=3, stderr=b"boom: customer API said 401\n")
    nomad.alloc_finish(lost, "lost")
    nomad.alloc_finish(gone, "complete", stdout=b"archived before GC\n")
    nomad.alloc_append_log(running, "run", "stdout", b"working...\n")

    out = refresh()
    assert "runs created 5" in out
    runs = {r.external_id: r for r in Run.objects.all()}
    assert runs[ok].status == Run.Status.SUCCESSFUL and runs[ok].exit_code == 0
    assert runs[failing].status == Run.Status.FAILED and runs[failing].exit_code == 3
    assert runs[lost].status == Run.Status.LOST and runs[lost].status_reason
    assert runs[lost].logs_expired  # its node is gone, and its logs with it
    assert runs[running].status == Run.Status.RUNNING and runs[running].finished is None
    assert runs[failing].tasks[0]["name"] == "run" and runs[failing].tasks[0]["failed"] is True
    assert all(runs[a].archived_at for a in (ok, failing, gone))

    job.refresh_from_db()
    assert job.latest_run_status == Run.Status.RUNNING

    # Nomad forgets the finished runs; the archive still serves them.
    nomad.gc()
    read = run_logs_read(run=runs[failing], stream="stderr")
    assert read.source == "archive" and read.text == "boom: customer API said 401\n"
    assert run_logs_read(run=runs[gone]).text == "archived before GC\n"

    # The running run is live, then finishes; a tail and a follow read only what is new.
    live = run_logs_read(run=Run.objects.get(external_id=running), offset=-6)
    assert live.source == "live" and live.running and live.text == "ng...\n"
    nomad.alloc_append_log(running, "run", "stdout", b"more\n")
    follow = run_logs_read(run=Run.objects.get(external_id=running), offset=live.next_offset)
    assert follow.text == "more\n"


@pytest.mark.django_db
def test_gc_before_archiving_says_logs_expired(nomad, job, archive):
    child = nomad.launch(nomad_id(job))
    alloc = alloc_of(nomad, child)
    nomad.alloc_run(alloc)
    refresh("--no-archive")
    nomad.alloc_finish(alloc, "complete", stdout=b"never archived\n")
    nomad.client_gc(alloc)
    refresh()
    run = Run.objects.get(external_id=alloc)
    assert run.status == Run.Status.SUCCESSFUL
    assert run.logs_expired and run.archived_at is None
    read = run_logs_read(run=run)
    assert read.source == "expired" and read.data == b""


@pytest.mark.django_db
def test_running_run_whose_allocation_vanishes_becomes_lost(nomad, job, archive):
    child = nomad.launch(nomad_id(job))
    alloc = alloc_of(nomad, child)
    nomad.alloc_run(alloc)
    refresh()
    assert Run.objects.get(external_id=alloc).status == Run.Status.RUNNING
    # It ends and the server garbage-collects it before striv looks again.
    nomad.alloc_finish(alloc, "complete")
    nomad.gc()
    refresh()
    run = Run.objects.get(external_id=alloc)
    assert run.status == Run.Status.LOST and "vanished" in run.status_reason
    assert run.finished is not None


@pytest.mark.django_db
def test_unchanged_cluster_costs_one_request(nomad, job, archive):
    nomad.launch(nomad_id(job))
    refresh()
    nomad.requests_log.clear()
    out = refresh()
    assert "(1 unchanged)" in out
    assert len(nomad.requests_log) == 1


@pytest.mark.django_db
def test_executions_on_one_cluster_are_queried_once(nomad, job, archive):
    from tests.factories import ExecutionFactory

    ExecutionFactory(key="other", driver_config={"address": nomad.address, "job_prefix": "striv-other-"})
    nomad.requests_log.clear()
    out = refresh()
    assert "clusters 1" in out
    asked = [(r.method, r.path, sorted(r.query.items())) for r in nomad.requests_log]
    assert asked and all(path == "/v1/allocations" for _, path, _ in asked)
    assert len(asked) == len({repr(request) for request in asked})  # no listing is asked again for the second
    filters = [r.query["filter"][0] for r in nomad.requests_log if "filter" in r.query]
    assert filters and all(f.startswith('JobID matches "^(striv-|striv-other-)"') for f in filters)  # both at once


@pytest.mark.django_db
def test_unreachable_cluster_is_recorded_and_does_not_stop_others(nomad, job, archive):
    from tests.factories import ExecutionFactory

    dead = ExecutionFactory(key="dead", driver_config={"address": "http://127.0.0.1:9", "timeout": 1})
    child = nomad.launch(nomad_id(job))
    out = refresh()
    assert "failures 1" in out
    assert Run.objects.filter(external_id=alloc_of(nomad, child)).exists()
    dead.refresh_from_db()
    assert "unreachable" in dead.refresh_error
    assert Execution.objects.get(key="greeter").refresh_error == ""


@pytest.mark.django_db
def test_failed_archive_write_is_retried_next_pass(nomad, job, settings, tmp_path):
    from striv.archivers import clear_archivers

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the archive directory should be")
    settings.ARCHIVE = (blocked / "archive").as_uri()
    clear_archivers()
    child = nomad.launch(nomad_id(job))
    alloc = alloc_of(nomad, child)
    nomad.alloc_finish(alloc, "complete", stdout=b"keep me\n")
    refresh()
    run = Run.objects.get(external_id=alloc)
    assert run.archived_at is None and run.archive_attempts == 1 and run.archive_error
    settings.ARCHIVE = (tmp_path / "archive").as_uri()
    clear_archivers()
    refresh()
    run.refresh_from_db()
    assert run.archived_at is not None
    nomad.gc()
    assert run_logs_read(run=run).text == "keep me\n"


@pytest.mark.django_db
def test_large_logs_are_archived_whole(nomad, job, archive):
    child = nomad.launch(nomad_id(job))
    alloc = alloc_of(nomad, child)
    big = b"".join(b"line %07d of a long integration log\n" % n for n in range(150_000))
    nomad.alloc_finish(alloc, "complete", stdout=big)
    refresh()
    nomad.gc()
    run = Run.objects.get(external_id=alloc)
    read = run_logs_read(run=run, max_bytes=4 * 1024 * 1024)
    assert read.size == len(big)
    tail = run_logs_read(run=run, offset=-100)
    assert big.endswith(tail.data) and tail.next_offset == len(big)


@pytest.mark.django_db
def test_s3_archive_with_a_failing_put_retried_next_pass(nomad, job, settings, moto_endpoint, s3_client):
    from striv.archivers import clear_archivers

    settings.ARCHIVE = "s3://striv-runs/archive"
    settings.S3_ENDPOINT_URL = moto_endpoint
    clear_archivers()
    child = nomad.launch(nomad_id(job))
    alloc = alloc_of(nomad, child)
    nomad.alloc_finish(alloc, "failed", stderr=b"to s3\n")
    refresh()  # the bucket does not exist yet: the put fails
    run = Run.objects.get(external_id=alloc)
    assert run.archived_at is None and run.archive_error
    s3_client.create_bucket(Bucket="striv-runs")
    refresh()
    run.refresh_from_db()
    assert run.archived_at is not None
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket="striv-runs")["Contents"]]
    assert keys == [f"archive/{run.log_archive_key}"] or keys == [run.log_archive_key]
    nomad.gc()
    assert run_logs_read(run=run, stream="stderr").text == "to s3\n"
    clear_archivers()


@pytest.mark.django_db
def test_refresh_retries_pending_pushes_in_loop_mode(nomad, nomad_execution, archive, monkeypatch):
    nomad.fault("down")
    job = job_services.job_create(name="acme", execution=nomad_execution).job
    nomad.fault(None)
    Job.objects.filter(pk=job.pk).update(next_sync_at=timezone.now() - timedelta(seconds=1))
    from striv.runs.management.commands import refresh as refresh_module  # noqa: F401

    command = __import__("importlib").import_module("striv.runs.management.commands.refresh").Command()
    command.stdout = io.StringIO()
    monkeypatch.setattr(command, "stopping", True, raising=False)
    # One loop pass: --loop with the stop flag raised finishes the pass and returns.
    original = refresh_service.runs_refresh

    def refresh_then_stop(**kwargs):
        report = original(**kwargs)
        command.stopping = True
        return report

    monkeypatch.setattr(refresh_service, "runs_refresh", refresh_then_stop)
    command.handle(loop=True, interval=0.1, archive_limit=10, no_archive=False)
    assert "job sync: pushed 1" in command.stdout.getvalue()
    assert Job.objects.get(pk=job.pk).sync_status == Job.SyncStatus.IN_SYNC


def test_refresh_rejects_bad_options():
    with pytest.raises(CommandError):
        call_command("refresh", "--interval", "0")


@pytest.mark.django_db
def test_prune_runs_removes_only_old_runs_and_their_archives(nomad, job, archive):
    child = nomad.launch(nomad_id(job))
    alloc = alloc_of(nomad, child)
    nomad.alloc_finish(alloc, "complete", stdout=b"old\n")
    refresh()
    old = Run.objects.get(external_id=alloc)
    Run.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=100))
    young = RunFactory(job=job, created=timezone.now() - timedelta(days=10))
    out = io.StringIO()
    call_command("prune-runs", "--older-than", "90d", "--dry-run", stdout=out)
    assert "would delete 1 runs and 1 archived logs" in out.getvalue()
    assert Run.objects.count() == 2
    out = io.StringIO()
    call_command("prune-runs", "--older-than", "90d", stdout=out)
    assert "deleted 1 runs and 1 archived logs" in out.getvalue()
    assert list(Run.objects.all()) == [young]
    assert not any(p.is_file() for p in archive.rglob("*"))


@pytest.mark.parametrize("bad", ["90", "0d", "-1d", "ninety days"])
def test_prune_runs_rejects_a_bad_age(bad):
    with pytest.raises(CommandError, match="older-than"):
        call_command("prune-runs", "--older-than", bad)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshers_neither_duplicate_runs_nor_archive_twice(nomad, nomad_execution, tmp_path):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite is single-node: concurrent refreshers need PostgreSQL or MariaDB")
    jobs = [job_services.job_create(name=f"job {n}", execution=nomad_execution).job for n in range(10)]
    for job in jobs:
        nomad.seed_runs(nomad_id(job), 30, "complete", stdout=b"seeded\n")
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    else:
        url = f"mysql://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "STRIV_DATABASE_URL": url,
        "STRIV_ARCHIVE": (tmp_path / "archive").as_uri(),
        "STRIV_LOG_LEVEL": "WARNING",
    }
    nomad.requests_log.clear()
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "refresh", "--archive-limit", "1000"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert Run.objects.count() == 300
    assert Run.objects.filter(archived_at__isnull=False).count() == 300
    log_reads = [r.path for r in nomad.requests_log if r.path.startswith("/v1/client/fs/logs/")]
    assert len(log_reads) == 300 * 2  # stdout and stderr of each run, read once
    assert len(set(log_reads)) == 300


def test_refresh_loop_stops_cleanly_on_sigterm(tmp_path):
    import signal
    import time

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STRIV_")},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "STRIV_DATABASE_URL": f"sqlite:///{tmp_path / 'loop.sqlite3'}",
        "STRIV_ARCHIVE": (tmp_path / "archive").as_uri(),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "refresh", "--loop", "--interval", "0.2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    passes = [line for line in out.splitlines() if line.startswith("refresh: ")]
    assert len(passes) >= 2 and "job sync:" in passes[0]
