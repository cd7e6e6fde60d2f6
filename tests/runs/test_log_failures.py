"""Logs when the cluster misbehaves as Nomad does: an unreachable node, an ACL denial, a stream cut mid-body."""

from __future__ import annotations

import pytest

from striv.drivers.base import DriverError
from striv.jobs import services as job_services
from striv.runs.archive import MAX_ARCHIVE_ATTEMPTS, runs_archive
from striv.runs.logs import run_logs_read
from striv.runs.models import Run
from striv.runs.refresh import runs_refresh
from tests.emulators.nomad import NomadEmulator
from tests.factories import ExecutionFactory

pytestmark = pytest.mark.django_db


def finished_run(emulator: NomadEmulator, execution, output: bytes = b"line one\nline two\n") -> Run:
    job = job_services.job_create(name="nightly", execution=execution, params={"greeting": "hi"}).job
    child = emulator.launch(f"striv-{job.pk}")
    (alloc,) = emulator.alloc_ids(child)
    emulator.alloc_run(alloc)
    emulator.alloc_finish(alloc, "complete", stdout=output)
    runs_refresh(archive=False)
    return Run.objects.get(external_id=alloc)


def test_an_unreachable_node_is_retried_within_a_bound_not_expired(nomad, nomad_execution, archive):
    run = finished_run(nomad, nomad_execution)
    nomad.node_reachable = False

    report = runs_refresh()

    run.refresh_from_db()
    assert report.expired == 0 and run.archived_at is None and not run.logs_expired
    assert run.archive_attempts == 1 and "No path to node" in run.archive_error
    with pytest.raises(DriverError, match="No path to node") as raised:
        run_logs_read(run=run)
    assert raised.value.retryable

    # The node comes back: the next pass archives the logs.
    nomad.node_reachable = True
    assert runs_refresh().archived == 1
    assert run_logs_read(run=Run.objects.get(pk=run.pk)).source == "archive"


def test_an_unreachable_node_is_given_up_after_the_bound(nomad, nomad_execution, archive):
    run = finished_run(nomad, nomad_execution)
    nomad.node_reachable = False
    Run.objects.filter(pk=run.pk).update(archive_attempts=MAX_ARCHIVE_ATTEMPTS - 1)
    assert runs_archive().expired == 1
    assert Run.objects.get(pk=run.pk).logs_expired


def test_a_log_acl_denial_is_a_refusal_that_spends_no_attempts(nomad, db, archive):
    secured = NomadEmulator(acl=True).start()
    try:
        token = secured.create_token({"default": ["read-job", "submit-job", "dispatch-job"]})
        execution = ExecutionFactory(key="no-logs", driver_config={"address": secured.address, "token": token})
        run = finished_run(secured, execution)

        report = runs_archive()

        run.refresh_from_db()
        assert report.expired == 0 and report.archived == 0
        assert any("Permission denied" in failure for failure in report.failures)
        assert not run.logs_expired and run.archive_attempts == 0 and "Permission denied" in run.archive_error
        with pytest.raises(DriverError, match="Permission denied") as raised:
            run_logs_read(run=run)
        assert raised.value.retryable is False and raised.value.status == 403
    finally:
        secured.stop()


def test_a_stream_cut_mid_body_is_a_driver_error_and_leaves_no_archive(nomad, nomad_execution, archive):
    run = finished_run(nomad, nomad_execution, output=b"x" * 100_000)
    nomad.logs_cut_after = 1_000

    report = runs_refresh()  # what refresh --loop runs: it must not raise

    run.refresh_from_db()
    assert report.archived == 0 and run.archived_at is None and not run.logs_expired
    assert run.archive_attempts == 1 and "cut" in run.archive_error
    assert not any(path.is_file() for path in archive.rglob("*")) if archive.exists() else True
    with pytest.raises(DriverError, match="short"):
        run_logs_read(run=run)

    nomad.logs_cut_after = None
    assert runs_refresh().archived == 1
    assert run_logs_read(run=Run.objects.get(pk=run.pk), max_bytes=200_000).data == b"x" * 100_000
