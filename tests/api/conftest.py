"""API fixtures: one token-authenticated client per role, a small estate, jobs created through the services.

Executions point at a Nomad address where nothing listens, so pushes end ``pending``; tests that need a cluster
start the Nomad emulator (``nomad`` fixture) and point an execution at it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from striv.core import roles
from striv.jobs import services
from striv.jobs.models import Job
from tests.emulators.nomad import NomadEmulator
from tests.factories import DimensionFactory, DimensionValueFactory, ExecutionFactory

# Where nothing listens: connection refused at once, so pushes end "pending" without waiting.
DEAD_NOMAD = "http://127.0.0.1:9"

ROLE_NAMES = ("anonymous", "nobody", roles.VIEWER, roles.OPERATOR, roles.ADMIN)


def make_user(username: str, role: str | None = None, **extra: Any):
    user = get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def token_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def client_for(db) -> Callable[[str], APIClient]:
    """``client_for(role)``: an API client authenticated by token as a user with that role.

    ``anonymous`` has no credentials; ``nobody`` is a user without any role.
    """
    made: dict[str, APIClient] = {}

    def get(role: str) -> APIClient:
        if role not in made:
            if role == "anonymous":
                made[role] = APIClient()
            else:
                made[role] = token_client(make_user(f"user-{role}", None if role == "nobody" else role))
        return made[role]

    return get


@pytest.fixture
def viewer(client_for) -> APIClient:
    return client_for(roles.VIEWER)


@pytest.fixture
def operator(client_for) -> APIClient:
    return client_for(roles.OPERATOR)


@pytest.fixture
def admin(client_for) -> APIClient:
    return client_for(roles.ADMIN)


class Estate:
    """An execution ``greeter`` and two dimensions (customer, level) with values; see the ``estate`` fixture."""

    def __init__(self) -> None:
        self.execution = ExecutionFactory(key="greeter", driver_config={"address": DEAD_NOMAD})
        self.other_execution = ExecutionFactory(key="other", driver_config={"address": DEAD_NOMAD})
        self.customer = DimensionFactory(key="customer", priority=20)
        self.level = DimensionFactory(key="level", priority=10)
        self.acme = DimensionValueFactory(dimension=self.customer, key="acme", params={"greeting": "hi acme"})
        self.globex = DimensionValueFactory(dimension=self.customer, key="globex", params={"greeting": "hi globex"})
        self.gold = DimensionValueFactory(dimension=self.level, key="gold", params={"env": {"L": "gold"}})

    def job(self, name: str = "nightly", *, values=None, params=None, execution=None, push: bool = False) -> Job:
        """A rendered job saved through the service (not pushed unless asked)."""
        return services.job_create(
            name=name,
            execution=execution or self.execution,
            values=[self.acme, self.gold] if values is None else values,
            params=params or {},
            push=push,
        ).job


@pytest.fixture
def estate(db) -> Estate:
    return Estate()


@pytest.fixture
def nomad():
    """A running Nomad emulator; stopped after the test."""
    emulator = NomadEmulator().start()
    yield emulator
    emulator.stop()


def assert_problem(response, status: int) -> dict:
    """Assert an RFC 9457 problem answer with ``status``; return the document."""
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    document = response.json()
    assert document["status"] == status
    assert document["title"] and document["detail"] and document["type"]
    return document
