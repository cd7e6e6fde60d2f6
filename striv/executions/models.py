"""Executions: a jsonnet job template bound to an orchestrator driver and its configuration."""

from django.core.exceptions import ValidationError
from django.db import models

from striv.core import keys
from striv.core.validators import KEY_VALIDATOR
from striv.drivers import DRIVERS, driver_choices, get_driver
from striv.drivers.base import Driver


class Execution(models.Model):
    """A job template (jsonnet) for one target cluster, with default params.

    Executions are maintained in git and loaded with ``load-state``; ``key`` is their identity there and in the API.
    """

    key = models.CharField(max_length=100, unique=True, validators=[KEY_VALIDATOR])
    name = models.CharField(max_length=200)
    driver = models.CharField(max_length=30, choices=driver_choices())
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

    def clean(self) -> None:
        if self.driver not in DRIVERS:
            raise ValidationError({"driver": f"Unknown driver {self.driver!r}; known: {', '.join(sorted(DRIVERS))}"})
        if not isinstance(self.driver_config, dict):
            raise ValidationError({"driver_config": "Must be an object."})
        if not isinstance(self.default_params, dict):
            raise ValidationError({"default_params": "Must be an object."})

    def get_driver(self) -> Driver:
        """A driver for this execution's cluster; secrets in its config are decrypted only when a call needs them.

        Raises DriverConfigError for an invalid driver_config and KeyError for an unknown driver.
        """
        return get_driver(self.driver, self.driver_config, decrypt=keys.decrypt)
