"""The state API: GET /api/state dumps like dump-state, POST loads like load-state (dry run or not). Admin only."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from striv.core import roles
from striv.core.api.problems import Problem, django_validation_errors, field_error, invalid
from striv.core.api.serializers import json_text_problem
from striv.state.dump import state_dump
from striv.state.load import state_after_load, state_load
from striv.state.schema import StateError, state_parse

logger = logging.getLogger(__name__)


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


def state_problem(exc: StateError, *, status: int) -> Problem:
    """A problem for a StateError: each problem at a place in the document becomes a field error named by its path
    (``executions.greeter.driver``); problems of the document as a whole, or of no place in it, have no field."""
    errors = []
    for error in exc.errors:
        field = error.field if status == 400 else None
        errors.append(field_error(field, error.message) if field else field_error(None, str(error)))
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
