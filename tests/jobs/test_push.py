"""Saving, running, planning and deleting jobs against the Nomad emulator, asserting on what Nomad holds."""

from __future__ import annotations

import io
import json
import logging
import random

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from striv.core import crypto
from striv.jobs import plan as job_plan
from striv.jobs import rendering as job_rendering
from striv.jobs import services
from striv.jobs import sync as job_sync
from striv.jobs.models import Job
from tests.factories import DimensionFactory, DimensionValueFactory, ExecutionFactory

pytestmark = pytest.mark.django_db


def nomad_id(job: Job) -> str:
    return f"striv-{job.pk}"


def task_args(nomad_job: dict) -> list:
    return nomad_job["TaskGroups"][0]["Tasks"][0]["Config"]["args"]


def test_create_registers_a_periodic_batch_job_with_stable_id_name_and_meta(nomad, nomad_execution):
    saved = services.job_create(name="acme nightly", execution=nomad_execution, params={"greeting": "hi"})
    job = saved.job
    assert saved.outcome.status == job_sync.PushOutcome.PUSHED
    assert job.sync_status == Job.SyncStatus.IN_SYNC and job.pushed_hash == job.spec_hash
    held = nomad.job(nomad_id(job))
    assert held["Name"] == "acme nightly"
    assert held["Type"] == "batch"
    assert held["Periodic"]["Spec"] == "0 3 * * *"
    assert held["Meta"] == {"striv_job_id": str(job.pk), "striv_execution": "greeter"}
    assert task_args(held) == ["hi"]


def test_update_and_rename_change_the_nomad_job_in_place(nomad, nomad_execution):
    job = services.job_create(name="acme", execution=nomad_execution, params={"greeting": "v1"}).job
    job = services.job_update(job=job, changes=services.JobChanges(params={"greeting": "v2"})).job
    assert task_args(nomad.job(nomad_id(job))) == ["v2"]
    job = services.job_update(job=job, changes=services.JobChanges(name="acme renamed")).job
    held = nomad.job(nomad_id(job))
    assert held["Name"] == "acme renamed" and held["Version"] == 2
    assert list(nomad.jobs) == [nomad_id(job)]


def test_unchanged_save_sends_nothing_to_nomad(nomad, nomad_execution):
    job = services.job_create(name="acme", execution=nomad_execution, params={"greeting": "v1"}).job
    nomad.requests_log.clear()
    saved = services.job_update(job=job, changes=services.JobChanges(params={"greeting": "v1"}))
    job = saved.job
    assert saved.outcome.status == job_sync.PushOutcome.UNCHANGED
    assert not [r for r in nomad.requests_log if r.method in ("POST", "PUT")]


def test_nomad_refusal_refuses_the_save_with_its_message_and_changes_nothing(nomad, nomad_execution):
    nomad_execution.payload_template = "{ Type: 'batch', Periodic: { Spec: params.cron }, TaskGroups: [] }"
    nomad_execution.save()
    with pytest.raises(ValidationError) as info:
        services.job_create(name="broken", execution=nomad_execution, params={})
    assert "Missing job task groups" in str(info.value)
    assert not Job.objects.exists()
    assert not nomad.jobs


def test_refused_update_leaves_the_stored_job_as_it_was(nomad, nomad_execution):
    job = services.job_create(name="acme", execution=nomad_execution, params={"greeting": "v1"}).job
    with pytest.raises(ValidationError):
        services.job_update(job=job, changes=services.JobChanges(params={"greeting": "v2", "env": {"X": {"a": 1}}}))
    job.refresh_from_db()
    assert job.params == {"greeting": "v1"} and job.version == 1
    assert task_args(nomad.job(nomad_id(job))) == ["v1"]


def test_unreachable_nomad_saves_the_job_pending_and_sync_jobs_pushes_it_later(nomad, nomad_execution):
    nomad.fault("down")
    saved = services.job_create(name="acme", execution=nomad_execution, params={"greeting": "later"})
    job = saved.job
    assert saved.outcome.status == job_sync.PushOutcome.PENDING
    assert job.sync_status == Job.SyncStatus.PENDING and "unreachable" in job.sync_error
    assert job.next_sync_at is not None
    nomad.fault(None)
    out = io.StringIO()
    call_command("sync-jobs", stdout=out)
    assert "pushed 1, unchanged 0, removed 0, failed 0" in out.getvalue()
    job.refresh_from_db()
    assert job.sync_status == Job.SyncStatus.IN_SYNC and job.sync_error == ""
    assert task_args(nomad.job(nomad_id(job))) == ["later"]


def test_server_errors_are_retryable_and_leave_the_job_pending(nomad, nomad_execution):
    nomad.fault("error500")
    job = services.job_create(name="acme", execution=nomad_execution).job
    job.refresh_from_db()
    assert job.sync_status == Job.SyncStatus.PENDING
    assert job.sync_attempts == 1 and job.next_sync_at is not None  # a later sync tries again
    assert "No cluster leader" in job.sync_error
    nomad.fault(None)


def test_run_now_forces_a_periodic_launch(nomad, nomad_execution):
    job = services.job_create(name="acme", execution=nomad_execution).job
    result = services.job_run_now(job=job)
    assert result.external_id.startswith(f"{nomad_id(job)}/periodic-")
    assert nomad.children(nomad_id(job)) == [result.external_id]


def test_job_without_periodic_is_parameterized_and_run_now_dispatches_it(nomad, nomad_execution):
    nomad_execution.payload_template = (
        "{ Type: 'batch', TaskGroups: [{ Name: 'main', Tasks: [{ Name: 'run', Driver: 'docker', "
        "Config: { image: params.image } }] }] }"
    )
    nomad_execution.save()
    job = services.job_create(name="on demand", execution=nomad_execution).job
    held = nomad.job(nomad_id(job))
    assert held["ParameterizedJob"] is not None and held["Periodic"] is None
    result = services.job_run_now(job=job)
    assert result.external_id.startswith(f"{nomad_id(job)}/dispatch-")


def test_plan_shows_a_readable_diff_of_a_changed_param(nomad, nomad_execution):
    job = services.job_create(name="acme", execution=nomad_execution, params={"greeting": "old"}).job
    assert job_plan.job_plan(job=job).changed is False
    job = services.job_update(job=job, changes=services.JobChanges(params={"greeting": "new"}), push=False).job
    plan = job_plan.job_plan(job=job)
    assert plan.changed and plan.live
    assert "new" in plan.diff_text and "Task: run" in plan.diff_text


def test_delete_purges_the_nomad_job(nomad, nomad_execution):
    job = services.job_create(name="acme", execution=nomad_execution).job
    outcome = services.job_delete(job=job)
    assert outcome.status == job_sync.PushOutcome.REMOVED
    assert nomad.job(nomad_id(job)) is None
    assert not Job.objects.exists()


def test_delete_while_nomad_is_down_keeps_the_job_deleting_until_sync(nomad, nomad_execution):
    job = services.job_create(name="acme", execution=nomad_execution).job
    nomad.fault("down")
    assert services.job_delete(job=job).status == job_sync.PushOutcome.PENDING
    assert Job.objects.get(pk=job.pk).sync_status == Job.SyncStatus.DELETING
    nomad.fault(None)
    report = job_sync.jobs_sync(jobs=job_sync.jobs_to_sync())
    assert report.removed == 1
    assert not Job.objects.exists() and nomad.job(nomad_id(job)) is None


def test_invalid_cron_is_a_render_error_naming_the_field(nomad, nomad_execution):
    with pytest.raises(ValidationError) as info:
        services.job_create(name="bad cron", execution=nomad_execution, params={"cron": "61 * * * *"})
    assert "Periodic.Spec" in str(info.value)
    assert not nomad.jobs


def test_secret_reaches_nomad_decrypted_and_nothing_striv_stores_or_logs(
    nomad, nomad_execution, encryption_key, caplog
):
    caplog.set_level(logging.DEBUG)
    canary = "nomad-canary-5c1d"
    secret = crypto.value_encrypt(canary, public_pem=crypto.public_key_recover(encryption_key))
    job = services.job_create(name="acme", execution=nomad_execution, params={"env": {"PASSWORD": secret}}).job
    held = nomad.job(nomad_id(job))
    assert held["TaskGroups"][0]["Tasks"][0]["Env"]["PASSWORD"] == canary
    job = services.job_update(
        job=job, changes=services.JobChanges(params={"env": {"PASSWORD": secret}, "x": 1}), push=False
    ).job
    plan = job_plan.job_plan(job=job)
    assert canary not in plan.diff_text
    from tests.core.test_secrets_canary import all_rows_text

    assert canary not in all_rows_text()
    assert canary not in caplog.text


def test_secret_nomad_token_is_decrypted_only_when_used(nomad, encryption_key):
    from tests.emulators.nomad import NomadEmulator

    secured = NomadEmulator(acl=True).start()
    try:
        token = secured.create_token({"default": "write"})
        execution = ExecutionFactory(
            key="secured",
            driver_config={
                "address": secured.address,
                "token": crypto.value_encrypt(token, public_pem=crypto.public_key_recover(encryption_key)),
            },
        )
        job = services.job_create(name="with token", execution=execution).job
        assert job.sync_status == Job.SyncStatus.IN_SYNC
        assert secured.job(nomad_id(job)) is not None
    finally:
        secured.stop()


def test_permission_denied_is_a_refusal(nomad):
    from tests.emulators.nomad import NomadEmulator

    secured = NomadEmulator(acl=True).start()
    try:
        execution = ExecutionFactory(
            key="readonly",
            driver_config={"address": secured.address, "token": secured.create_token({"default": "read"})},
        )
        with pytest.raises(ValidationError, match="Permission denied"):
            services.job_create(name="denied", execution=execution)
    finally:
        secured.stop()


def test_load_state_pushes_jobs_whose_spec_changed_after_commit(nomad, write_state):
    state = {
        "executions": {
            "greeter": {
                "driver": "nomad",
                "driver_config": {"address": nomad.address},
                "default_params": {"cron": "0 3 * * *", "image": "alpine", "greeting": "v1", "env": {}},
                "payload_template": ExecutionFactory.payload_template,
            }
        },
        "dimensions": {},
    }
    call_command("load-state", str(write_state(state)), stdout=io.StringIO())
    from striv.executions.models import Execution

    job = services.job_create(name="acme", execution=Execution.objects.get(key="greeter")).job
    state["executions"]["greeter"]["default_params"]["greeting"] = "v2"
    out = io.StringIO()
    call_command("load-state", str(write_state(state)), stdout=out)
    assert "push: pushed 1" in out.getvalue()
    assert task_args(nomad.job(nomad_id(job))) == ["v2"]
    assert Job.objects.get(pk=job.pk).sync_status == Job.SyncStatus.IN_SYNC


def test_sync_jobs_all_pushes_every_job_and_counts_unchanged(nomad, nomad_execution):
    for n in range(3):
        services.job_create(name=f"job {n}", execution=nomad_execution, params={"greeting": str(n)})
    out = io.StringIO()
    call_command("sync-jobs", "--all", stdout=out)
    assert "pushed 0, unchanged 3" in out.getvalue()
    nomad.gc()
    for job_id in list(nomad.jobs):
        nomad.register({**nomad.job(job_id), "Meta": {"changed": "outside"}})
    out = io.StringIO()
    call_command("sync-jobs", "--all", "--execution", "greeter", stdout=out)
    assert "pushed 3" in out.getvalue()


def test_sync_jobs_rejects_an_unknown_execution():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no execution"):
        call_command("sync-jobs", "--execution", "nope")


@pytest.mark.slow
def test_two_hundred_saves_under_faults_converge_after_sync(nomad, nomad_execution):
    """30% of pushes fail and Nomad is down for a stretch; afterwards sync-jobs converges with nothing lost."""
    rng = random.Random(3)
    customer = DimensionFactory(key="customer", priority=1)
    values = [DimensionValueFactory(dimension=customer, key=f"c{n}", params={"greeting": f"hi {n}"}) for n in range(5)]
    nomad.fault(None, fail_rate=0.3)
    jobs: list[Job] = []
    for n in range(200):
        if n == 80:
            nomad.fault("down")
        if n == 120:
            nomad.fault(None, fail_rate=0.3)
        if jobs and rng.random() < 0.4:
            job = rng.choice(jobs)
            services.job_update(job=job, changes=services.JobChanges(params={"greeting": f"edit {n}"}))
        else:
            saved = services.job_create(name=f"job {n}", execution=nomad_execution, values=[rng.choice(values)])
            jobs.append(saved.job)
    assert Job.objects.exclude(sync_status=Job.SyncStatus.IN_SYNC).exists()
    nomad.fault(None)
    call_command("sync-jobs", stdout=io.StringIO())
    assert not Job.objects.exclude(sync_status=Job.SyncStatus.IN_SYNC).exists()
    held = nomad.jobs
    assert sorted(held) == sorted(nomad_id(j) for j in Job.objects.all())  # none lost, none duplicated
    for job in Job.objects.all():
        expected = job_rendering.job_render(
            execution=job.execution, values=[jv.value for jv in job.job_values.all()], params=job.params, mode="push"
        ).spec
        nomad_job = held[nomad_id(job)]
        assert nomad_job["Name"] == job.name
        assert task_args(nomad_job) == expected["TaskGroups"][0]["Tasks"][0]["Config"]["args"]
        assert nomad_job["Periodic"]["Spec"] == expected["Periodic"]["Spec"]
        assert json.dumps(job.spec, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_plan_redacts_the_secret_the_cluster_still_holds_after_it_was_replaced(nomad, nomad_execution, encryption_key):
    public = crypto.public_key_recover(encryption_key)
    old, new = "old-secret-93a1", "new-secret-77b2"
    job = services.job_create(
        name="acme", execution=nomad_execution, params={"env": {"TOKEN": crypto.value_encrypt(old, public_pem=public)}}
    ).job
    job = services.job_update(
        job=job,
        changes=services.JobChanges(params={"env": {"TOKEN": crypto.value_encrypt(new, public_pem=public)}}),
        push=False,
    ).job
    plan = job_plan.job_plan(job=job)
    assert plan.changed and "TOKEN" in plan.diff_text
    assert old not in plan.diff_text and new not in plan.diff_text


def test_refused_update_restores_name_values_and_version(nomad, nomad_estate):
    job = nomad_estate.job("acme", push=True)
    before = (job.name, job.version, job.spec_hash, set(job.values.values_list("key", flat=True)))
    with pytest.raises(ValidationError, match="Missing job task groups"):
        services.job_update(
            job=job,
            changes=services.JobChanges(
                name="renamed", values=[nomad_estate.globex], execution=_broken_copy(nomad_estate.execution)
            ),
        )
    job.refresh_from_db()
    assert (job.name, job.version, job.spec_hash, set(job.values.values_list("key", flat=True))) == before
    assert job.sync_status == Job.SyncStatus.IN_SYNC


def _broken_copy(execution):
    return ExecutionFactory(
        key="broken",
        driver_config=execution.driver_config,
        payload_template="{ Type: 'batch', Periodic: { Spec: params.cron }, TaskGroups: [] }",
    )
