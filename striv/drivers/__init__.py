"""Orchestrator drivers: a registry from driver key to class, imported on first use."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from striv.drivers.base import Driver

DRIVERS: dict[str, str] = {
    "nomad": "striv.drivers.nomad.NomadDriver",
}

DRIVER_LABELS: dict[str, str] = {
    "nomad": "HashiCorp Nomad",
}


def driver_choices() -> list[tuple[str, str]]:
    """Return (key, label) pairs for every registered driver, for model and form choices."""
    return [(key, DRIVER_LABELS.get(key, key)) for key in DRIVERS]


@cache
def driver_class(name: str) -> type[Driver]:
    """Return the driver class registered as ``name``; raises KeyError for an unknown driver."""
    return import_string(DRIVERS[name])


def get_driver(name: str, config: dict[str, Any], **kwargs: Any) -> Driver:
    """Instantiate the driver ``name`` with its execution's ``driver_config``.

    Raises KeyError for an unknown driver and ``DriverConfigError`` for a bad config.
    """
    return driver_class(name)(config, **kwargs)
