"""A canary per channel: a planted secret is found, raw or escaped, in no table, API or UI answer for any role,
log, command output, cluster refusal, plan diff or error page.

The secret holds every character that escapes differently in JSON, Python and Go, and is looked for in each of
the forms `striv.core.redaction.secret_forms` knows (raw, JSON, repr, unicode escapes, escaped twice...).
"""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.views.debug import technical_500_response
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from striv.core import keys, roles
from striv.core.redaction import secret_forms
from striv.jobs import services
from striv.jobs.models import Job
from tests.factories import ExecutionFactory, make_user

pytestmark = pytest.mark.django_db

CANARY = "".join(["can", "\"a'ry", "\\7f\n3a\t", "☃<&>"])

REFUSED_TEMPLATE = """{
  Type: 'batch',
  Datacenters: ['dc1'],
  Periodic: { Spec: params.cron },
  TaskGroups: [{ Name: 'main', RestartPolicy: { Mode: params.mode }, Tasks: [{ Name: 'run', Driver: 'docker',
    Config: { image: params.image, args: [params.greeting] }, Env: params.env }] }],
}"""


def leaks(text: str) -> list[str]:
    return sorted(form for form in secret_forms(CANARY) if form in text)


def all_rows_text() -> str:
    return "\n".join(
        json.dumps(row, default=str, ensure_ascii=False)
        for model in apps.get_models()
        for row in model.objects.values()
    )


def test_a_planted_secret_leaks_through_no_channel(nomad, encryption_key, caplog, settings):
    caplog.set_level(logging.DEBUG)
    seen: dict[str, str] = {}
    secret = keys.encrypt(CANARY)
    execution = ExecutionFactory(
        key="greeter",
        driver_config={"address": nomad.address},
        payload_template=REFUSED_TEMPLATE,
        default_params={"cron": "0 3 * * *", "image": "alpine", "greeting": "hi", "env": {}, "mode": "fail"},
    )
    job = services.job_create(name="pushed", execution=execution, params={"env": {"TOKEN": secret}}).job
    assert job.sync_status == Job.SyncStatus.IN_SYNC
    # The cluster quotes the secret in a refusal: in a save, a sync pass and the sync-jobs output.
    with pytest.raises(Exception) as refusal:
        services.job_create(name="refused", execution=execution, params={"mode": secret})
    seen["refusal"] = str(refusal.value)
    failing = services.job_create(name="failing", execution=execution, params={"mode": secret}, push=False).job
    out = io.StringIO()
    call_command("sync-jobs", stdout=out, stderr=out)
    seen["sync-jobs"] = out.getvalue()
    assert "Unsupported restart mode" in seen["sync-jobs"]
    Job.objects.filter(pk=failing.pk).update(sync_status=Job.SyncStatus.PENDING, next_sync_at=None)
    out = io.StringIO()
    call_command("refresh", stdout=out, stderr=out)  # the refresher's pass retries the push
    seen["refresh"] = out.getvalue()
    # A changed secret: the plan's live side holds the old one.
    services.job_update(job=job, changes=services.JobChanges(params={"env": {"TOKEN": keys.encrypt("x" + CANARY)}}))

    for role in (roles.VIEWER, roles.OPERATOR, roles.ADMIN):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_user(f'api-{role}', role)).key}")
        ui = Client()
        ui.force_login(make_user(f"ui-{role}", role))
        paths = [
            "/api/jobs",
            f"/api/jobs/{job.pk}",
            f"/api/jobs/{job.pk}/plan",
            f"/api/jobs/{failing.pk}",
            "/api/executions",
            "/api/executions/greeter",
        ]
        if role == roles.ADMIN:
            paths.append("/api/state")
        for path in paths:
            seen[f"{role} {path}"] = api.get(path).content.decode()
        evaluated = api.post("/api/jobs/evaluate", {"execution": "greeter", "params": {"mode": secret}}, format="json")
        seen[f"{role} evaluate"] = evaluated.content.decode()
        created = api.post("/api/jobs", {"name": "api", "execution": "greeter", "params": {"mode": secret}})
        seen[f"{role} create"] = created.content.decode()
        for path in (
            "/",
            "/jobs/",
            f"/jobs/{job.pk}/",
            f"/jobs/{job.pk}/plan/",
            f"/jobs/{failing.pk}/",
            "/executions/",
            "/executions/greeter/",
        ):
            for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
                seen[f"{role} {path} {headers}"] = ui.get(path, **headers).content.decode()

    settings.DEBUG = True
    request = RequestFactory().post("/jobs/new/", {"row-0-value": CANARY})
    try:
        cleartext = keys.decrypt(secret["encrypted"])  # noqa: F841 - a local the debug page would show
        raise RuntimeError("forced")
    except RuntimeError:
        seen["debug page"] = technical_500_response(request, *sys.exc_info()).content.decode()

    seen["tables"] = all_rows_text()
    seen["logs"] = caplog.text
    found = {channel: leaks(text) for channel, text in seen.items() if leaks(text)}
    assert found == {}
