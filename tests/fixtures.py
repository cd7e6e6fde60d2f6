"""Fixtures shared by every test package: a pinned clock, the estate (executions, dimensions, values), users.

Registered for the whole suite by ``tests/conftest.py``. Model factories live in ``tests/factories.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

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
