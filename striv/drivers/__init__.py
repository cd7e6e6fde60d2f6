"""Orchestrator drivers: one registry entry per driver, holding its label and dotted path; imported on first use.

Adding a driver is one package under ``striv/drivers/`` (see ``base.py``) and one entry in ``DRIVERS``. Choices
(execution forms, admin filters, API enums) come from here, so no driver list is frozen into a migration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from striv.plugins import PluginEntry

if TYPE_CHECKING:
    from striv.drivers.base import Driver


class DriverEntry(PluginEntry):
    """A registered driver: what users read (``label``) and where its class is (``path``, a dotted path)."""


DRIVERS: dict[str, DriverEntry] = {
    "nomad": DriverEntry("HashiCorp Nomad", "striv.drivers.nomad.NomadDriver"),
    "mesos": DriverEntry("Apache Mesos (Rhythm)", "striv.drivers.mesos.MesosDriver"),
}


class UnknownDriverError(KeyError):
    """No driver is registered under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key
        self.message = f"unknown driver {key!r} (known: {', '.join(sorted(DRIVERS))})"

    def __str__(self) -> str:
        return self.message


def driver_choices() -> list[tuple[str, str]]:
    """Return (key, label) pairs for every registered driver, for form, admin and API choices."""
    return [(key, entry.label) for key, entry in DRIVERS.items()]


def driver_label(key: str) -> str:
    """The label of driver ``key``, or the key itself for a driver that is not registered."""
    entry = DRIVERS.get(key)
    return entry.label if entry else key


@cache
def driver_class(key: str) -> type[Driver]:
    """Return the driver class registered as ``key``, importing it on first use; raises UnknownDriverError."""
    entry = DRIVERS.get(key)
    if entry is None:
        raise UnknownDriverError(key)
    cls: type[Driver] = entry.load()
    return cls


def get_driver(key: str, config: Mapping[str, Any], *, decrypt: Callable[[str], str] | None = None) -> Driver:
    """Instantiate the driver ``key`` with an execution's ``driver_config``.

    Raises UnknownDriverError for an unregistered key and ``DriverConfigError`` for a bad config.
    """
    return driver_class(key)(config, decrypt=decrypt)
