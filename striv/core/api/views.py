"""System endpoints of the base layer: the public key, striv's version and the catch-all for unknown URLs."""

from __future__ import annotations

import logging
import re
import tomllib
from functools import cache
from importlib import metadata
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from striv.core import keys, roles
from striv.core.api.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    ProblemSerializer,
    django_validation_errors,
    field_error,
    invalid,
)
from striv.core.api.serializers import json_text_problem
from striv.core.state import StateError, state_after_load, state_dump, state_load, state_parse

logger = logging.getLogger(__name__)


@cache
def striv_version() -> str:
    """striv's version: from the installed package metadata, else from pyproject.toml, else ``unknown``."""
    try:
        return metadata.version("striv")
    except metadata.PackageNotFoundError:
        pass
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as handle:
            return tomllib.load(handle)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


class PublicKeySerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="The RSA public key, PEM (SubjectPublicKeyInfo).")
    secret_format = serializers.CharField(help_text="How to build a secret value with it.")


class PublicKeyView(APIView):
    """The public half of striv's key, for encrypting secret params before sending them."""

    problem_statuses = {"get": (404,)}

    @extend_schema(
        operation_id="public_key",
        summary="Public key for client-side secret encryption",
        tags=["system"],
        responses={
            200: PublicKeySerializer,
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="Secrets are not enabled: no encryption key is configured."
            ),
        },
    )
    def get(self, request: Any) -> Response:
        try:
            pem = keys.public_key_pem()
        except keys.NoEncryptionKey as exc:
            raise Problem(404, str(exc), slug="no-encryption-key", title="Secrets are not enabled") from None
        return Response(
            {
                "public_key": pem,
                "secret_format": (
                    '{"_striv_type": "secret", "encrypted": E}; E = base64(json({"key": base64(RSA-OAEP-SHA256('
                    'fernet_key)), "payload": fernet_token(cleartext)})). See docs/api.md or manage.py encrypt-value.'
                ),
            }
        )


class StateQuerySerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(
        default=False, help_text="true: check and report what would change, saving nothing (as load-state --dry-run)."
    )


class StateReportSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    changed = serializers.BooleanField(help_text="Whether any execution, dimension or value changed.")
    executions_added = serializers.ListField(child=serializers.CharField())
    executions_changed = serializers.ListField(child=serializers.CharField())
    executions_removed = serializers.ListField(child=serializers.CharField())
    dimensions_added = serializers.ListField(child=serializers.CharField())
    dimensions_changed = serializers.ListField(child=serializers.CharField())
    dimensions_removed = serializers.ListField(child=serializers.CharField())
    values_added = serializers.ListField(child=serializers.CharField())
    values_changed = serializers.ListField(child=serializers.CharField())
    values_removed = serializers.ListField(child=serializers.CharField())
    jobs_rendered = serializers.IntegerField()
    jobs_changed = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    lines = serializers.ListField(child=serializers.CharField(), help_text="The report load-state prints.")


_PROBLEM_PATH = re.compile(r"^(?P<path>[^\s:]+(?:\.[^\s:]+)*|\(top level\)): (?P<detail>.+)$", re.DOTALL)


def state_problem(exc: Any, *, status: int) -> Problem:
    """A problem for a StateError: parse problems become field errors named by their path in the document."""
    errors = []
    for text in exc.problems:
        match = _PROBLEM_PATH.match(text) if status == 400 else None
        if match and match["path"] != "(top level)":
            errors.append(field_error(match["path"], match["detail"]))
        else:
            errors.append(field_error(None, text))
    slug, title = ("invalid-state", "Invalid state") if status == 400 else ("state-refused", "State refused")
    return Problem(status, exc.summary, slug=slug, title=title, errors=errors)


class StateView(APIView):
    """Executions and dimensions as one document, in the state format (docs/state-format.md). Admin only."""

    required_roles = {"get": roles.ADMIN, "post": roles.ADMIN}
    problem_statuses = {"post": (409,)}

    @extend_schema(
        operation_id="state_dump",
        summary="Dump the state (as manage.py dump-state)",
        tags=["system"],
        responses={200: {"type": "object", "additionalProperties": True}},
    )
    def get(self, request: Any) -> Response:
        return Response(state_dump())

    @extend_schema(
        operation_id="state_load",
        summary="Load a state document (as manage.py load-state)",
        description=(
            "The body is the evaluated state (JSON; evaluate jsonnet first, e.g. with `jsonnet state.jsonnet`). "
            "Executions and dimensions present are created or updated, absent ones deleted, in one transaction. "
            "Refused (409) when a removed item is still used by jobs or a job would no longer render; 400 when the "
            "document is malformed. With dry_run=true the same checks and report happen and nothing is saved."
        ),
        tags=["system"],
        parameters=[StateQuerySerializer],
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={200: StateReportSerializer},
    )
    def post(self, request: Any) -> Response:
        query = StateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        dry_run = query.validated_data["dry_run"]
        if request.META.get("CONTENT_LENGTH") in (None, "", "0"):
            raise invalid([field_error(None, "send the state document as the JSON body", code="required")])
        problem = json_text_problem(request.data)
        if problem:
            raise invalid([field_error(None, problem, code="invalid_characters")])
        try:
            state = state_parse(request.data, source="request body")
        except StateError as exc:
            raise state_problem(exc, status=400) from None
        try:
            diff = state_load(state=state, dry_run=dry_run)
        except StateError as exc:
            raise state_problem(exc, status=409) from None
        except DjangoValidationError as exc:
            raise invalid(django_validation_errors(exc)) from None
        lines = diff.lines() + state_after_load(diff)
        return Response(
            {
                "dry_run": diff.dry_run,
                "changed": diff.changed,
                **{
                    name: getattr(diff, name)
                    for name in (
                        "executions_added",
                        "executions_changed",
                        "executions_removed",
                        "dimensions_added",
                        "dimensions_changed",
                        "dimensions_removed",
                        "values_added",
                        "values_changed",
                        "values_removed",
                        "jobs_rendered",
                    )
                },  # fmt: skip
                "jobs_changed": [{"id": job_id, "name": name} for job_id, name in diff.jobs_changed],
                "lines": lines,
            }
        )


class NotFoundView(APIView):
    """Every unknown URL under /api/: a problem document, not Django's HTML page."""

    authentication_classes: list = []
    permission_classes: list = []
    schema = None

    def options(self, request: Any, *args: Any, **kwargs: Any) -> None:
        raise exceptions.NotFound(f"no API endpoint at {request.path}")

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> None:
        raise exceptions.NotFound(f"no API endpoint at {request.path}")
