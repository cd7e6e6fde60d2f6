"""Dimensions (customer, service level, datacenter...) and their values, each with a param map."""

from django.core.exceptions import ValidationError
from django.db import models

from striv.core.validators import KEY_VALIDATOR


class Dimension(models.Model):
    """A way to classify jobs. Values of higher-priority dimensions override lower ones when params merge."""

    key = models.CharField(max_length=100, unique=True, validators=[KEY_VALIDATOR])
    priority = models.IntegerField(default=0)
    label = models.CharField(max_length=200, blank=True, default="")
    description = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "key"]

    def __str__(self) -> str:
        return self.key

    @property
    def display_name(self) -> str:
        return self.label or self.key


class DimensionValueQuerySet(models.QuerySet):
    def with_dimension(self) -> "DimensionValueQuerySet":
        return self.select_related("dimension")


class DimensionValue(models.Model):
    """One value of a dimension (e.g. customer ``acme``) and the params it contributes to its jobs."""

    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="values")
    key = models.CharField(max_length=100, validators=[KEY_VALIDATOR])
    label = models.CharField(max_length=200, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    objects = DimensionValueQuerySet.as_manager()

    class Meta:
        ordering = ["dimension__priority", "dimension__key", "key"]
        constraints = [models.UniqueConstraint(fields=["dimension", "key"], name="dimension_value_unique_key")]

    def __str__(self) -> str:
        return f"{self.dimension.key}={self.key}"

    def clean(self) -> None:
        if not isinstance(self.params, dict):
            raise ValidationError({"params": "Must be an object."})
