"""Executions: a jsonnet job template bound to an orchestrator driver and its configuration."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from striv.core import keys
from striv.core.validators import KEY_VALIDATOR
from striv.drivers import DRIVERS, driver_class, driver_label, get_driver
from striv.drivers.base import Driver
from striv.secret import REDACTED, is_secret

# A plain-text credential in a driver config is shown redacted, and so is a secret object: nobody reading an
# execution needs its ciphertext, which would only let them paste it somewhere it gets decrypted.
_CREDENTIAL_KEY = re.compile(r"token|password|secret|credential", re.IGNORECASE)


def driver_config_redacted(config: Any) -> Any:
    """Return ``config`` (walked, nested objects and arrays included) with every secret object and every non-empty
    plain-text credential (a key naming a token, password, secret or credential) replaced by ``<redacted>``."""
    if is_secret(config):
        return REDACTED
    if isinstance(config, dict):
        return {
            key: REDACTED
            if isinstance(value, str) and value and _CREDENTIAL_KEY.search(str(key))
            else driver_config_redacted(value)
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [driver_config_redacted(item) for item in config]
    return config


class Execution(models.Model):
    """A job template (jsonnet) for one target cluster, with default params.

    Executions are maintained in git and loaded with ``load-state``; ``key`` is their identity there and in the API.
    """

    key = models.CharField(max_length=100, unique=True, validators=[KEY_VALIDATOR])
    name = models.CharField(max_length=200)
    # A key of striv.drivers.DRIVERS, checked in clean(): no choices, so that adding a driver needs no migration.
    driver = models.CharField(max_length=30)
    driver_config = models.JSONField(default=dict, blank=True)
    default_params = models.JSONField(default=dict, blank=True)
    payload_template = models.TextField()
    # Accepted for compatibility with older state files; logs are always read through the driver and archive.
    logstore = models.CharField(max_length=30, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    # Set by the refresher: when it last read this execution's cluster, and the error if that failed.
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def driver_config_shown(self) -> Any:
        """The driver config as anyone may see it (UI, API): credentials and secrets redacted."""
        return driver_config_redacted(self.driver_config)

    def get_driver_display(self) -> str:
        """The driver's label, as registered (the key itself for a driver no longer registered)."""
        return driver_label(self.driver)

    def get_driver_class(self) -> type[Driver]:
        """The class of this execution's driver; raises UnknownDriverError for an unregistered key."""
        return driver_class(self.driver)

    def get_driver(self) -> Driver:
        """A driver for this execution's cluster; secrets in its config are decrypted with striv's key, only when used.

        Raises UnknownDriverError for an unregistered driver and DriverConfigError for an invalid driver_config.
        """
        return get_driver(self.driver, self.driver_config, decrypt=keys.decrypt)

    def next_launches(self, spec: Mapping[str, Any], *, count: int, after: datetime | None = None) -> list[datetime]:
        """The next ``count`` launch times of a spec rendered from this execution, strictly after ``after`` (default:
        now); [] when the spec has no schedule. Never raises for a spec; see Driver.next_launches."""
        return self.get_driver_class().next_launches(spec, count=count, after=after)

    def clean(self) -> None:
        if self.driver not in DRIVERS:
            raise ValidationError({"driver": f"Unknown driver {self.driver!r}; known: {', '.join(sorted(DRIVERS))}"})
        if not isinstance(self.driver_config, dict):
            raise ValidationError({"driver_config": "Must be an object."})
        if not isinstance(self.default_params, dict):
            raise ValidationError({"default_params": "Must be an object."})
