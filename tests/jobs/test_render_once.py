"""A save renders a job once in preview mode and, when its cluster copy changes, once in push mode; no pre-render."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.test import APIClient

from striv import templating
from striv.jobs import services
from striv.jobs.models import Job
from striv.jobs.rendering import JobRenderError
from tests.factories import SIMPLE_TEMPLATE

pytestmark = pytest.mark.django_db


@pytest.fixture
def renders(monkeypatch):
    """The modes of every single-job rendering, in order (the real renderer runs; this only records)."""
    modes: list[str] = []
    real = templating.job_spec_render

    def recording(*args, **kwargs):
        modes.append(kwargs.get("mode", "preview"))
        return real(*args, **kwargs)

    monkeypatch.setattr(templating, "job_spec_render", recording)
    return modes


def _operator() -> User:
    user = User.objects.create_user("otto", password="pw")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    return user


def test_a_ui_save_renders_once_per_mode(nomad_execution, renders):
    client = Client()
    client.force_login(_operator())
    data = {
        "name": "acme nightly",
        "execution": nomad_execution.key,
        "param_row": ["r0"],
        "param_key": ["greeting"],
        "param_type": ["text"],
        "param_value": ["hi"],
        "param_enc": [""],
    }
    response = client.post("/jobs/new/", data)
    assert response.status_code in (302, 303), response.content[:500]
    assert Job.objects.get().sync_status == Job.SyncStatus.IN_SYNC
    assert renders == ["preview", "push"]


def test_an_api_create_and_an_unchanged_update_render_once_per_needed_mode(nomad_execution, renders):
    api = APIClient()
    api.force_authenticate(_operator())
    created = api.post(
        "/api/jobs", {"name": "x", "execution": nomad_execution.key, "params": {"greeting": "hi"}}, format="json"
    )
    assert created.status_code == 201, created.content
    assert renders == ["preview", "push"]
    renders.clear()
    updated = api.patch(f"/api/jobs/{created.json()['id']}", {"params": {"greeting": "hi"}}, format="json")
    assert updated.status_code == 200
    assert renders == ["preview"]  # the cluster already has this version: no push, no push-mode rendering


@pytest.fixture
def picky_execution(nomad_execution):
    """The emulator's execution, with a template that refuses the greeting "boom" while evaluating."""
    nomad_execution.payload_template = (
        "(if params.greeting == 'boom' then error 'no boom, please' else {}) + " + SIMPLE_TEMPLATE
    )
    nomad_execution.save()
    return nomad_execution


def test_a_render_failure_is_raised_once_carrying_the_render_error(picky_execution, renders):
    with pytest.raises(JobRenderError) as info:
        services.job_create(name="x", execution=picky_execution, params={"greeting": "boom"})
    assert isinstance(info.value.error, templating.RenderError)
    assert info.value.error.kind == "runtime" and "no boom, please" in info.value.error.message
    assert "__all__" in info.value.message_dict
    assert renders == ["preview"] and not Job.objects.exists()


def test_a_ui_save_that_does_not_render_shows_the_error_after_one_rendering(picky_execution, renders):
    client = Client()
    client.force_login(_operator())
    data = {
        "name": "acme nightly",
        "execution": picky_execution.key,
        "param_row": ["r0"],
        "param_key": ["greeting"],
        "param_type": ["text"],
        "param_value": ["boom"],
        "param_enc": [""],
    }
    response = client.post("/jobs/new/", data)
    assert response.status_code == 422
    assert "no boom, please" in response.context["errors"].fields["execution"]
    assert renders == ["preview"] and not Job.objects.exists()


def test_an_api_create_that_does_not_render_answers_the_layer_after_one_rendering(picky_execution, renders):
    api = APIClient()
    api.force_authenticate(_operator())
    body = {"name": "x", "execution": picky_execution.key, "params": {"greeting": "boom"}}
    response = api.post("/api/jobs", body, format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["field"], error["kind"], error["code"]) == ("execution", "runtime", "render")
    assert renders == ["preview"]
