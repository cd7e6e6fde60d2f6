"""Fixtures for the web UI tests: users of each role, logged-in clients, an estate on the Nomad emulator, runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from striv.core import roles
from striv.jobs import services
from striv.jobs.models import Job
from striv.runs.models import Run
from tests.factories import DimensionFactory, DimensionValueFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def make_user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username, password="correct horse battery")
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


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
def estate(nomad_execution, encryption_key) -> dict[str, Any]:
    """An execution on the emulator, two dimensions with values, and an encryption key for secrets."""
    customer = DimensionFactory(key="customer", priority=20, label="Customer")
    level = DimensionFactory(key="level", priority=10, label="Service level")
    acme = DimensionValueFactory(dimension=customer, key="acme", params={"greeting": "hi acme"})
    globex = DimensionValueFactory(dimension=customer, key="globex", params={"greeting": "hello globex"})
    gold = DimensionValueFactory(dimension=level, key="gold", params={"env": {"LEVEL": "gold"}})
    return {
        "execution": nomad_execution,
        "customer": customer,
        "level": level,
        "acme": acme,
        "globex": globex,
        "gold": gold,
    }


@pytest.fixture
def job(estate) -> Job:
    """A saved, pushed job of customer acme at level gold."""
    return services.job_create(
        name="acme nightly", execution=estate["execution"], values=[estate["acme"], estate["gold"]], params={}
    ).job


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
