"""Executions API: read-only; executions are maintained in git and loaded with load-state (or POST /api/state)."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Count
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets

from striv import templating
from striv.core.api.base import CursorPagination
from striv.drivers import driver_choices
from striv.executions.models import Execution

# A plain-text credential in a driver config is shown redacted; secret objects stay as they are (encrypted).
_CREDENTIAL_KEY = re.compile(r"token|password|secret|credential", re.IGNORECASE)


def driver_config_redacted(config: Any) -> Any:
    """Return ``config`` with plain-text credentials replaced by ``<redacted>``."""
    if not isinstance(config, dict):
        return config
    return {
        key: templating.REDACTED if isinstance(value, str) and value and _CREDENTIAL_KEY.search(str(key)) else value
        for key, value in config.items()
    }


class ExecutionSerializer(serializers.ModelSerializer):
    jobs_count = serializers.IntegerField(read_only=True, help_text="How many jobs use this execution.")
    # The model field has no choices (adding a driver needs no migration); the registry gives them.
    driver = serializers.ChoiceField(choices=driver_choices(), read_only=True)
    driver_config = serializers.SerializerMethodField(
        help_text="The driver's configuration (plain-text credentials redacted, secrets encrypted)."
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
        return driver_config_redacted(execution.driver_config)


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
