"""Health that checks the token: the leader needs none, so the job list in the namespace is asked too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from striv.drivers.nomad import NomadDriver
from tests.emulators.nomad import NomadEmulator


@pytest.fixture
def secured() -> Iterator[NomadEmulator]:
    emulator = NomadEmulator(acl=True).start()
    emulator.add_namespace("striv")
    yield emulator
    emulator.stop()


def test_health_names_the_leader_and_version(nomad):
    health = NomadDriver({"address": nomad.address}).health()
    assert health.ok and "leader" in health.detail and f"Nomad {nomad.version}" in health.detail
    assert "Specs" not in health.detail


def test_a_token_that_cannot_read_jobs_is_unhealthy_though_the_leader_answers(secured):
    token = secured.create_token({"default": "read"})  # nothing in striv's namespace
    health = NomadDriver({"address": secured.address, "namespace": "striv", "token": token}).health()
    assert not health.ok and "Permission denied" in health.detail and "striv" in health.detail


def test_a_scoped_token_without_agent_read_is_healthy_with_an_unknown_version(secured):
    token = secured.create_token({"striv": ["read-job", "submit-job"]})
    health = NomadDriver({"address": secured.address, "namespace": "striv", "token": token}).health()
    assert health.ok and "version unknown" in health.detail


def test_servers_older_than_1_6_2_are_told_specs_needs_it(nomad):
    nomad.version = "1.6.1"
    health = NomadDriver({"address": nomad.address}).health()
    assert health.ok and "Nomad 1.6.1" in health.detail and "Specs needs Nomad 1.6.2" in health.detail
