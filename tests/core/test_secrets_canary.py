"""A planted secret's cleartext is found in no table, log line or admin page after rendering and saving."""

from __future__ import annotations

import json
import logging

import pytest
from django.apps import apps
from django.core.management import call_command

from striv.core import crypto
from striv.jobs import rendering as job_rendering
from striv.jobs import services
from tests.factories import DimensionFactory, DimensionValueFactory, ExecutionFactory

CANARY = "canary-7f3a91-cleartext"

pytestmark = pytest.mark.django_db


def all_rows_text() -> str:
    chunks = []
    for model in apps.get_models():
        for row in model.objects.all().values():
            chunks.append(json.dumps(row, default=str))
    return "\n".join(chunks)


def test_secret_cleartext_reaches_no_table_log_or_admin_page(encryption_key, admin_client, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    secret = crypto.value_encrypt(CANARY, public_pem=crypto.public_key_recover(encryption_key))
    execution = ExecutionFactory(
        key="greeter",
        default_params={
            "cron": "0 3 * * *",
            "image": "alpine",
            "greeting": "hi",
            "env": {"TOKEN": secret},
        },
    )
    value = DimensionValueFactory(dimension=DimensionFactory(key="customer"), key="acme", params={"password": secret})
    job = services.job_create(name="canary job", execution=execution, values=[value], params={"greeting": secret}).job
    job = services.job_update(job=job, changes=services.JobChanges(name="canary job 2")).job

    pushed = job_rendering.job_render(execution=execution, values=[value], params=job.params, mode="push")
    assert pushed.spec["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == [CANARY]  # it does reach the push payload

    dump = tmp_path / "dump.json"
    with dump.open("w") as out:
        call_command("dump-state", stdout=out)
    call_command("load-state", str(dump), stdout=open(tmp_path / "load.txt", "w"))

    assert CANARY not in all_rows_text()
    assert CANARY not in dump.read_text()
    assert CANARY not in caplog.text
    for url in (
        f"/admin/jobs/job/{job.pk}/change/",
        "/admin/jobs/job/",
        f"/admin/executions/execution/{execution.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert CANARY not in response.content.decode()
