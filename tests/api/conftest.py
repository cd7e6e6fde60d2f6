"""API fixtures: one token-authenticated client per role, and a check of RFC 9457 problem answers.

The ``estate`` (tests/fixtures.py) points at a Nomad address where nothing listens, so pushes end ``pending``;
tests that need a cluster start the Nomad emulator (``nomad`` fixture) and point an execution at it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from striv.core import roles
from tests.factories import make_user

ROLE_NAMES = ("anonymous", "nobody", roles.VIEWER, roles.OPERATOR, roles.ADMIN)


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


def assert_problem(response, status: int) -> dict:
    """Assert an RFC 9457 problem answer with ``status``; return the document."""
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    document = response.json()
    assert document["status"] == status
    assert document["title"] and document["detail"] and document["type"]
    return document
