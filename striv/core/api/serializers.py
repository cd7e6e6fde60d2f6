"""Strict serializers: unknown fields are rejected, models are checked with ``full_clean()``, JSON must be storable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import serializers

from striv.core.api.problems import django_validation_errors, invalid

_NUL = "\x00"

if TYPE_CHECKING:
    # the mixin goes before a serializer class, whose ``fields`` and ``to_internal_value`` it uses
    _MixinBase = serializers.Serializer
else:
    _MixinBase = object


def json_text_problem(value: Any, path: str = "") -> str | None:
    """Return a description of the first string in ``value`` (keys included) a database cannot store, or None.

    NUL characters and lone surrogates are refused: PostgreSQL rejects the first, UTF-8 cannot encode the second.
    """
    if isinstance(value, str):
        if _NUL in value:
            return f"{path or 'value'} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path or 'value'} contains characters that are not valid Unicode"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            problem = json_text_problem(str(key), sub) or json_text_problem(item, sub)
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = json_text_problem(item, f"{path}[{index}]")
            if problem:
                return problem
    return None


def validate_storable_json(value: Any) -> Any:
    """Serializer validator: raise ValidationError for JSON the databases cannot store (see json_text_problem)."""
    problem = json_text_problem(value)
    if problem:
        raise serializers.ValidationError(problem, code="invalid_characters")
    return value


class StrictSerializerMixin(_MixinBase):
    """Reject unknown fields instead of ignoring them.

    Read-only fields count as known (and are ignored), so an object fetched with GET can be sent back with changes.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {name: [serializers.ErrorDetail("Unknown field.", code="unknown_field")] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictSerializer(StrictSerializerMixin, serializers.Serializer):
    """A plain serializer that rejects unknown fields."""


class ValidatedModelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A model serializer that runs the model's ``full_clean()`` (which DRF skips), rejecting unknown fields.

    ``full_clean_exclude`` lists model fields left out of the check (e.g. many-to-many ones set by a service);
    ``field_names`` maps model field names in errors to API field names.
    """

    full_clean_exclude: tuple[str, ...] = ()
    field_names: Mapping[str, str] = {}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        model: type[models.Model] = self.Meta.model
        instance = (
            model()
            if self.instance is None
            else model(**{f.attname: getattr(self.instance, f.attname) for f in model._meta.concrete_fields})
        )
        concrete = {f.name for f in model._meta.concrete_fields}
        for name, value in attrs.items():
            if name in concrete:
                setattr(instance, name, value)
        exclude = [f.name for f in model._meta.get_fields() if f.many_to_many or f.one_to_many]
        exclude += list(self.full_clean_exclude)
        try:
            instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            raise invalid(django_validation_errors(exc, field_names=self.field_names)) from None
        return attrs
