"""Executions API: read-only (executions are maintained in git and loaded with load-state or POST /api/state),
and the health check, which reads whether each execution's cluster answers (kept by executions.health)."""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Count
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from striv.core import roles
from striv.core.api.base import CursorPagination
from striv.core.api.problems import PROBLEM_CONTENT_TYPE, Problem, ProblemSerializer
from striv.core.api.views import striv_version
from striv.drivers import driver_choices
from striv.executions.health import executions_health
from striv.executions.models import Execution

logger = logging.getLogger(__name__)


class ExecutionSerializer(serializers.ModelSerializer):
    jobs_count = serializers.IntegerField(read_only=True, help_text="How many jobs use this execution.")
    # The model field has no choices (adding a driver needs no migration); the registry gives them.
    driver = serializers.ChoiceField(choices=driver_choices(), read_only=True)
    driver_config = serializers.SerializerMethodField(
        help_text="The driver's configuration (plain-text credentials and secrets redacted)."
    )

    class Meta:
        model = Execution
        fields = [
            "key",
            "name",
            "driver",
            "driver_config",
            "default_params",
            "payload_template",
            "jobs_count",
            "refreshed_at",
            "refresh_error",
            "created",
            "modified",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_driver_config(self, execution: Execution) -> Any:
        return execution.driver_config_shown()


class ExecutionPagination(CursorPagination):
    ordering = ("key",)


@extend_schema(tags=["executions"])
class ExecutionViewSet(viewsets.ReadOnlyModelViewSet):
    """Executions: job templates bound to a cluster, with default params."""

    serializer_class = ExecutionSerializer
    pagination_class = ExecutionPagination
    lookup_field = "key"
    lookup_value_regex = "[A-Za-z0-9][A-Za-z0-9_-]*"
    queryset = Execution.objects.annotate(jobs_count=Count("jobs"))

    @extend_schema(summary="List executions")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read an execution")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


# --- health ------------------------------------------------------------------------------------------------------


class ClusterHealthSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The execution key.")
    driver = serializers.CharField()
    ok = serializers.BooleanField(help_text="Whether the execution's cluster answered within two seconds.")
    detail = serializers.CharField(required=False, help_text="The cluster's answer or error (authenticated only).")


class DatabaseHealthSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Always true in a 200 answer; without a database the answer is 503.")


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "degraded"], help_text="ok: the database and every cluster answer; degraded: a cluster does not."
    )
    version = serializers.CharField(required=False, help_text="striv's version (authenticated users only).")
    time = serializers.DateTimeField(help_text="The server's clock (UTC).")
    database = DatabaseHealthSerializer()
    executions = ClusterHealthSerializer(
        many=True, required=False, help_text="Each execution's cluster (authenticated users only)."
    )


class HealthView(APIView):
    """Whether striv works: version, database, server time, and per execution whether its cluster answers."""

    required_roles = {"get": None}

    def perform_authentication(self, request: Any) -> None:
        # Health answers everyone; a bad token only means no details, not 401.
        try:
            request.user  # noqa: B018 - evaluating it authenticates
        except exceptions.APIException:
            pass

    @extend_schema(
        operation_id="health",
        summary="Health check (no authentication)",
        tags=["system"],
        responses={
            200: HealthSerializer,
            (503, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="The database does not answer."
            ),
        },
        description=(
            "200 while the database answers, even when a cluster does not (status `degraded`); 503 without a "
            "database. Anonymous callers get the overall status only; authenticated users also get the version and "
            "each execution's cluster. Cluster answers come from a background check, at most 15 s old."
        ),
    )
    def get(self, request: Any) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            executions = list(Execution.objects.only("key", "driver", "driver_config").order_by("key"))
        except DatabaseError as exc:
            logger.error("health: database unavailable: %s", exc)
            raise Problem(503, "the database does not answer", slug="database-unavailable") from None
        answers = executions_health(executions)
        detailed = roles.can_view(request.user)
        items = []
        for execution in executions:
            ok, detail = answers[execution.key]
            items.append({"key": execution.key, "driver": execution.driver, "ok": ok, "detail": detail})
        body: dict[str, Any] = {
            "status": "ok" if all(item["ok"] for item in items) else "degraded",
            "time": timezone.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "database": {"ok": True},
        }
        if detailed:  # the version and what runs where are for users, not for anyone who can reach the server
            body["version"] = striv_version()
            body["executions"] = items
        return Response(body)
