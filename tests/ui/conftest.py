"""Fixtures for the web UI tests: users of each role, logged-in clients, a job on the Nomad emulator, runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from striv.core import roles
from striv.jobs.models import Job
from striv.runs.models import Run
from tests.factories import make_user

HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(db) -> User:
    return make_user("vera", roles.VIEWER)


@pytest.fixture
def operator(db) -> User:
    return make_user("otto", roles.OPERATOR)


@pytest.fixture
def viewer_client(viewer) -> Client:
    return logged_in(viewer)


@pytest.fixture
def operator_client(operator) -> Client:
    return logged_in(operator)


@pytest.fixture
def job(nomad_estate) -> Job:
    """A saved, pushed job of customer acme at level gold."""
    return nomad_estate.job("acme nightly", push=True)


def make_run(job: Job, status: str = Run.Status.SUCCESSFUL, *, age: timedelta = timedelta(hours=1), **fields) -> Run:
    """A run of ``job`` created ``age`` ago, with one task named ``run``."""
    created = timezone.now() - age
    finished = status in Run.FINISHED
    defaults = {
        "external_id": f"striv-{job.pk}/periodic-{int(created.timestamp())}-{Run.objects.count()}",
        "created": created,
        "started": created + timedelta(seconds=5),
        "finished": created + timedelta(seconds=65) if finished else None,
        "exit_code": (0 if status == Run.Status.SUCCESSFUL else 1) if finished else None,
        "tasks": [{"name": "run", "state": "dead" if finished else "running", "failed": status == Run.Status.FAILED}],
    }
    defaults.update(fields)
    return Run.objects.create(job=job, status=status, **defaults)
