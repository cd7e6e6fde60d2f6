"""Fixtures shared by every test package: a pinned clock, the Nomad emulator, a log archive and the estate.

Registered for the whole suite by ``tests/conftest.py``. Model factories live in ``tests/factories.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from striv.dimensions.models import DimensionValue
from striv.executions.models import Execution
from striv.jobs.models import Job
from tests.emulators.nomad import NomadEmulator
from tests.factories import DimensionFactory, DimensionValueFactory, ExecutionFactory

#: The instant `clock` pins: a Monday morning in UTC, far from midnight and from the week's edges.
PINNED_NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """Stop the clock at `PINNED_NOW` for the test and every fixture set up after this one.

    time-machine patches the process, so threads (the live server, the Nomad emulator) read the same instant.
    The clock does not tick; ``clock.move_to(moment, tick=False)`` jumps to another instant.
    """
    with time_machine.travel(PINNED_NOW, tick=False) as coordinates:
        yield coordinates


# --- the Nomad emulator and the log archive -----------------------------------------------------------------------


@pytest.fixture
def nomad() -> Iterator[NomadEmulator]:
    """A Nomad emulator on 127.0.0.1, reached over real HTTP through python-nomad; stopped after the test."""
    emulator = NomadEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def nomad_execution(nomad, db) -> Execution:
    """An execution ``greeter`` pointing at the emulator, with the simple periodic template of the factories."""
    return ExecutionFactory(key="greeter", driver_config={"address": nomad.address})


@pytest.fixture
def archive(settings, tmp_path) -> Iterator[Path]:
    """Archive run logs in a fresh directory (``file://`` archiver); yields that directory."""
    from striv.archivers import clear_archivers

    settings.ARCHIVE = (tmp_path / "archive").as_uri()
    clear_archivers()
    yield tmp_path / "archive"
    clear_archivers()


# --- the estate: executions, dimensions and their values ----------------------------------------------------------

#: Where nothing listens: connection refused at once, so pushes end "pending" without waiting.
DEAD_NOMAD = "http://127.0.0.1:9"


class Estate:
    """Two executions (``greeter``, ``other``) on one cluster, and two dimensions with values.

    ``customer`` (priority 20): ``acme`` (greeting "hi acme"), ``globex`` (greeting "hello globex");
    ``level`` (priority 10): ``gold`` (env LEVEL=gold), ``silver`` (env LEVEL=silver).
    """

    def __init__(self, *, address: str) -> None:
        config = {"address": address}
        self.execution = ExecutionFactory(key="greeter", name="Greeter (periodic)", driver_config=config)
        self.other_execution = ExecutionFactory(key="other", driver_config=config)
        self.customer = DimensionFactory(
            key="customer", priority=20, label="Customer", description="Who the job works for."
        )
        self.level = DimensionFactory(key="level", priority=10, label="Service level")
        self.acme = DimensionValueFactory(
            dimension=self.customer, key="acme", label="ACME Corp", params={"greeting": "hi acme"}
        )
        self.globex = DimensionValueFactory(dimension=self.customer, key="globex", params={"greeting": "hello globex"})
        self.gold = DimensionValueFactory(dimension=self.level, key="gold", params={"env": {"LEVEL": "gold"}})
        self.silver = DimensionValueFactory(dimension=self.level, key="silver", params={"env": {"LEVEL": "silver"}})

    def value(self, key: str) -> DimensionValue:
        """The dimension value ``key`` (``acme``, ``globex``, ``gold`` or ``silver``)."""
        return {"acme": self.acme, "globex": self.globex, "gold": self.gold, "silver": self.silver}[key]

    def job(
        self,
        name: str = "nightly",
        *,
        values: list[DimensionValue] | None = None,
        params: dict[str, Any] | None = None,
        execution: Execution | None = None,
        push: bool = False,
    ) -> Job:
        """A rendered job of acme at gold (unless ``values`` says otherwise), saved through the service; pushed
        only when asked."""
        from striv.jobs import services

        return services.job_create(
            name=name,
            execution=execution or self.execution,
            values=[self.acme, self.gold] if values is None else values,
            params=params or {},
            push=push,
        ).job


@pytest.fixture
def estate(db) -> Estate:
    """The estate on a cluster where nothing listens: pushes end ``pending``."""
    return Estate(address=DEAD_NOMAD)


@pytest.fixture
def nomad_estate(db, nomad, encryption_key) -> Estate:
    """The estate on the Nomad emulator, with an encryption key for secrets."""
    return Estate(address=nomad.address)


@pytest.fixture
def live_estate(transactional_db, nomad, encryption_key, archive) -> Estate:
    """The estate on the Nomad emulator for tests whose server runs in other threads (committed rows), with an
    encryption key and a log archive."""
    return Estate(address=nomad.address)
