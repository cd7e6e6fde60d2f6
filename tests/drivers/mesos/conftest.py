"""Fixtures of the Mesos driver's tests: the Rhythm + Mesos emulator and a driver pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.rhythm import RhythmEmulator


@pytest.fixture
def rhythm() -> Iterator[RhythmEmulator]:
    emulator = RhythmEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def mesos_config(rhythm) -> dict:
    return {
        "rhythm_url": rhythm.address,
        "group": "data",
        "project": "etl",
        "mesos_master_url": rhythm.master_address,
    }
