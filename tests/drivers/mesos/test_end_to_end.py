"""A job on a Mesos execution end to end: services, preview, push, run now, refresher, logs, archive, API and UI,
against the Rhythm + Mesos emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from striv.core import roles
from striv.jobs import rendering as job_rendering
from striv.jobs import services
from striv.jobs import sync as job_sync
from striv.jobs.models import Job
from striv.runs.models import Run
from striv.runs.refresh import runs_refresh
from striv.templating.errors import RenderError
from tests.api.conftest import token_client
from tests.factories import ExecutionFactory, make_user
from tests.fixtures import PINNED_NOW

pytestmark = pytest.mark.django_db

TEMPLATE = """{
  schedule: { cron: params.cron },
  container: { docker: { image: params.image } },
  cmd: 'echo ' + params.greeting,
  cpus: 0.5,
  mem: 128,
  user: 'batch',
  env: params.env,
}"""


@pytest.fixture
def execution(mesos_config):
    return ExecutionFactory(key="mesos-batch", driver="mesos", driver_config=mesos_config, payload_template=TEMPLATE)


def fqid(job: Job) -> str:
    return f"data:etl:striv-{job.pk}"


def test_create_push_run_refresh_logs_archive_api_and_ui(rhythm, execution, archive, clock):
    preview = job_rendering.job_render(execution=execution, values=[], params={"greeting": "hi"})
    assert preview.spec["cmd"] == "echo hi"
    assert execution.next_launches(preview.spec, count=1)[0].isoformat() == "2025-06-03T03:00:00+00:00"
    with pytest.raises(RenderError, match="schedule.cron: End of range") as info:
        job_rendering.job_render(execution=execution, values=[], params={"cron": "0 3 * * 7"})
    assert info.value.param == "schedule.cron"

    saved = services.job_create(name="nightly", execution=execution, params={"greeting": "hi"})
    job = saved.job
    assert saved.outcome.status == job_sync.PushOutcome.PUSHED and job.sync_status == Job.SyncStatus.IN_SYNC
    held = rhythm.jobs[fqid(job)]
    assert (held["Cmd"], held["Schedule"]["Cron"], held["Labels"]["striv_name"]) == ("echo hi", "0 3 * * *", "nightly")

    services.job_run_now(job=job)
    assert rhythm.queued == {fqid(job)}
    task_id = rhythm.launch(fqid(job))
    rhythm.update(task_id, "TASK_RUNNING")
    rhythm.output(task_id, stdout=b"hi\n")
    runs_refresh()
    run = Run.objects.get(job=job)
    assert (run.external_id, run.status) == (task_id, Run.Status.RUNNING)
    with pytest.raises(Exception, match="already has a run running"):
        services.job_run_now(job=job)

    viewer = token_client(make_user("vera", roles.VIEWER))
    live = viewer.get(f"/api/runs/{run.pk}/logs").json()
    assert (live["text"], live["source"], live["running"]) == ("hi\n", "live", True)
    rhythm.output(task_id, stdout=b"still going\n")
    follow = viewer.get(f"/api/runs/{run.pk}/logs?offset={live['next_offset']}").json()
    assert follow["text"] == "still going\n"

    clock.move_to(PINNED_NOW + timedelta(minutes=1), tick=False)
    rhythm.finish(task_id, stderr=b"done\n")
    runs_refresh()
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCESSFUL and run.exit_code == 0 and run.archived_at is not None

    rhythm.gc(task_id)  # the agent garbage-collects the sandbox: the archived copy still serves
    archived = viewer.get(f"/api/runs/{run.pk}/logs?stream=stderr").json()
    assert (archived["text"], archived["source"]) == ("done\n", "archive")

    jobs = viewer.get("/api/jobs").json()
    assert [item["name"] for item in jobs["results"]] == ["nightly"]
    ui = Client()
    ui.force_login(make_user("otto", roles.VIEWER))
    assert "nightly" in ui.get(f"/jobs/{job.pk}/").content.decode()
    page = ui.get(f"/runs/{run.pk}/").content.decode()
    assert "Successful" in page and "nightly" in page
    assert ui.get(f"/runs/{run.pk}/log/").status_code == 200
    assert ui.get("/").status_code in (200, 302)


def test_a_failed_task_and_a_launch_failure_show_rhythms_message_and_reason(rhythm, execution, archive, clock):
    job = services.job_create(name="flaky", execution=execution, params={}).job
    task_id = rhythm.launch(fqid(job))
    rhythm.finish(task_id, "TASK_FAILED", message="Container exited with status 2", stderr=b"boom\n")
    clock.move_to(PINNED_NOW + timedelta(minutes=2), tick=False)
    rhythm.launch_error(fqid(job), "Reading secret failed: permission denied")
    runs_refresh()
    failed, not_launched = sorted(Run.objects.filter(job=job), key=lambda run: bool(run.tasks))[::-1]
    assert failed.status == Run.Status.FAILED and failed.exit_code == 2
    assert failed.status_reason.startswith("Container exited with status 2 (REASON_COMMAND_EXECUTOR_FAILED")
    assert not_launched.status == Run.Status.FAILED and not not_launched.tasks
    assert not_launched.status_reason.startswith("Rhythm could not launch it: Reading secret failed")
    viewer = token_client(make_user("vera", roles.VIEWER))
    assert viewer.get(f"/api/runs/{failed.pk}/logs?stream=stderr").json()["text"] == "boom\n"
    assert viewer.get(f"/api/runs/{not_launched.pk}/logs").json()["source"] == "expired"


def test_runs_are_kept_after_rhythms_24_hour_window(rhythm, execution, archive, clock):
    job = services.job_create(name="daily", execution=execution, params={}).job
    rhythm.finish(rhythm.launch(fqid(job)), stdout=b"x\n")
    runs_refresh()
    clock.move_to(PINNED_NOW + timedelta(hours=25), tick=False)
    assert rhythm.expire() == 1  # Rhythm's cleanup dropped the record
    runs_refresh()
    assert Run.objects.get(job=job).status == Run.Status.SUCCESSFUL


def test_gitlab_and_ldap_auth_and_a_bad_token(rhythm, mesos_config, clock):
    rhythm.auth = "gitlab"
    rhythm.gitlab_tokens = {"good": {"data/etl": 40}}
    good = ExecutionFactory(
        key="gl",
        driver="mesos",
        payload_template=TEMPLATE,
        driver_config={**mesos_config, "auth": "gitlab", "token": "good"},
    )
    assert services.job_create(name="gitlab", execution=good, params={}).job.sync_status == Job.SyncStatus.IN_SYNC
    bad = ExecutionFactory(
        key="gl-bad",
        driver="mesos",
        payload_template=TEMPLATE,
        driver_config={**mesos_config, "auth": "gitlab", "token": "bad"},
    )
    with pytest.raises(ValidationError, match="Forbidden"):
        services.job_create(name="refused", execution=bad, params={})
    assert not bad.get_driver().health().ok
    rhythm.auth = "ldap"
    rhythm.ldap_users = {"ann": {"password": "pw", "acl": {"*": "readwrite"}}}
    ldap = ExecutionFactory(
        key="ld", driver="mesos", payload_template=TEMPLATE,
        driver_config={**mesos_config, "auth": "ldap", "username": "ann", "password": "pw"},
    )  # fmt: skip
    assert services.job_create(name="ldap", execution=ldap, params={}).job.sync_status == Job.SyncStatus.IN_SYNC


def test_rhythm_down_leaves_the_push_pending_until_a_sync(rhythm, execution, clock):
    rhythm.stop()
    saved = services.job_create(name="later", execution=execution, params={})
    assert saved.outcome.status == job_sync.PushOutcome.PENDING and saved.job.sync_status == Job.SyncStatus.PENDING
    rhythm.start()
    job_sync.jobs_sync(jobs=job_sync.jobs_to_sync())
    saved.job.refresh_from_db()
    assert saved.job.sync_status == Job.SyncStatus.IN_SYNC and fqid(saved.job) in rhythm.jobs


def test_credentials_may_be_secret_values_decrypted_only_when_used(rhythm, mesos_config, encryption_key, clock):
    from striv.core import keys

    rhythm.auth = "gitlab"
    rhythm.gitlab_tokens = {"s3cret-token": {"data/etl": 30}}
    config = {**mesos_config, "auth": "gitlab", "token": keys.encrypt("s3cret-token")}
    execution = ExecutionFactory(key="sec", driver="mesos", payload_template=TEMPLATE, driver_config=config)
    assert "s3cret-token" not in str(execution.driver_config)
    job = services.job_create(name="secret", execution=execution, params={}).job
    assert job.sync_status == Job.SyncStatus.IN_SYNC and fqid(job) in rhythm.jobs
    assert execution.get_driver().health().ok


def test_the_job_form_previews_a_mesos_job_with_its_launches_and_refusals(execution, clock):
    client = Client()
    client.force_login(make_user("otto", roles.OPERATOR))

    def preview(rows):
        data = {
            "name": "nightly",
            "execution": execution.key,
            "param_row": [f"r{i}" for i in range(len(rows))],
            "param_key": [row[0] for row in rows],
            "param_type": ["text"] * len(rows),
            "param_value": [row[1] for row in rows],
            "param_enc": [""] * len(rows),
        }
        return client.post("/jobs/preview/", data, HTTP_HX_REQUEST="true")

    good = preview([("greeting", "yo")])
    assert len(good.context["launches"]) == 5 and "&quot;cmd&quot;: &quot;echo yo&quot;" in good.content.decode()
    bad = preview([("cron", "0 3 * * 7")]).content.decode()
    assert "schedule.cron: End of range (7) above maximum (6) in the day of week field" in bad
