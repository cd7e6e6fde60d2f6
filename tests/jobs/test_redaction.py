"""A cluster's messages and plans never carry a job's secrets: refusals, pending pushes, sync passes, logs, plans."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from striv.core import keys, roles
from striv.core.redaction import Redactor, secret_forms
from striv.jobs import plan as job_plan
from striv.jobs import services
from striv.jobs import sync as job_sync
from striv.jobs.models import Job
from tests.factories import ExecutionFactory, make_user

pytestmark = pytest.mark.django_db

#: A secret with every character that escapes differently in JSON, Python and Go.
NASTY = "Europe/s3cr\\et\"q'uo\nte\td☃<&>"

ZONE_TEMPLATE = """{
  Type: 'batch',
  Datacenters: ['dc1'],
  Periodic: { Spec: params.cron },
  TaskGroups: [{ Name: 'main', RestartPolicy: { Mode: params.tz }, Tasks: [{ Name: 'run', Driver: 'docker',
    Config: { image: params.image, args: [params.greeting] }, Env: params.env }] }],
}"""


def leaks(text: str, secret: str) -> list[str]:
    """The forms of ``secret`` found in ``text``."""
    return sorted(form for form in secret_forms(secret) if form in text)


@pytest.fixture
def zoned(nomad, encryption_key):
    """An execution on the emulator whose template puts the param ``tz`` in the restart mode: Nomad refuses an
    unknown mode quoting it (``Unsupported restart mode: "<tz>"``)."""
    return ExecutionFactory(
        key="zoned",
        driver_config={"address": nomad.address},
        payload_template=ZONE_TEMPLATE,
        default_params={"cron": "0 3 * * *", "image": "alpine", "greeting": "hi", "env": {}, "tz": "fail"},
    )


def operator_client() -> APIClient:
    client = APIClient()
    token = Token.objects.create(user=make_user("op", roles.OPERATOR)).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_every_escaped_form_of_a_secret_is_redacted():
    redactor = Redactor([NASTY])
    quoted = [
        NASTY,
        json.dumps(NASTY),
        json.dumps(NASTY, ensure_ascii=False),
        repr(NASTY),
        repr([NASTY]),
        str({"v": NASTY}),
        json.dumps(json.dumps(NASTY)),
        NASTY.encode("unicode_escape").decode(),
        "".join(f"\\u{ord(c):04x}" for c in NASTY),
    ]
    for text in quoted:
        cleaned = redactor.text(f"refused: {text} (end)")
        assert "<redacted>" in cleaned
        assert "s3cr" not in cleaned, cleaned


def test_a_refusal_quoting_a_secret_is_redacted_in_the_api_answer(zoned, nomad):
    client = operator_client()
    body = {"name": "zoned", "execution": "zoned", "params": {"tz": keys.encrypt(NASTY)}}
    response = client.post("/api/jobs", body, format="json")
    assert response.status_code == 400, response.content
    text = response.content.decode()
    assert "Unsupported restart mode" in text and "<redacted>" in text
    assert leaks(text, NASTY) == []
    assert not Job.objects.exists()


def test_a_refusal_in_a_sync_pass_is_redacted_in_sync_error_the_command_output_and_the_logs(zoned, caplog):
    job = services.job_create(name="zoned", execution=zoned, params={"tz": keys.encrypt(NASTY)}, push=False).job
    out = io.StringIO()
    with caplog.at_level(logging.DEBUG):
        call_command("sync-jobs", stdout=out, stderr=out)
    job.refresh_from_db()
    assert job.sync_status == Job.SyncStatus.FAILED
    assert "Unsupported restart mode" in job.sync_error
    for text in (job.sync_error, out.getvalue(), caplog.text):
        assert leaks(text, NASTY) == [], text


def test_a_pending_push_stores_and_logs_only_redacted_text(zoned, nomad, caplog):
    job = services.job_create(name="zoned", execution=zoned, params={"tz": "fail"}).job
    secret = keys.encrypt(NASTY)
    with caplog.at_level(logging.DEBUG):
        saved = services.job_update(job=job, changes=services.JobChanges(params={"tz": secret}), push=False)
        report = job_sync.jobs_sync(jobs=Job.objects.filter(pk=saved.job.pk))
    assert report.failed and leaks(report.failed[0][1], NASTY) == []
    assert leaks(caplog.text, NASTY) == []


def test_plan_diff_shows_secret_leaves_as_fingerprints_and_never_formats_them(nomad, nomad_execution, encryption_key):
    old, new = "old\\\"'\n\tsecret", "ab"  # the new one is short: no word of the diff may vanish
    job = services.job_create(
        name="acme", execution=nomad_execution, params={"env": {"TOKEN": keys.encrypt(old), "PLAIN": "qrs"}}
    ).job
    job = services.job_update(
        job=job, changes=services.JobChanges(params={"env": {"TOKEN": keys.encrypt(new), "PLAIN": "xyz"}}), push=False
    ).job
    plan = job_plan.job_plan(job=job)
    assert plan.changed
    token_line = next(line for line in plan.diff_text.splitlines() if "TOKEN" in line)
    before, after = token_line.split("=>")
    assert "<redacted " in before and "<redacted " in after and before.strip() != after.strip()
    assert leaks(plan.diff_text, old) == []
    # The short secret is replaced only where a whole value holds it: the rest of the diff reads as Nomad said it.
    assert "'qrs' => 'xyz'" in plan.diff_text
    assert "Task: run" in plan.diff_text and "Task group: main" in plan.diff_text
