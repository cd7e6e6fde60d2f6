"""Runs API: list (newest first), read, and read a run's logs in slices."""

from __future__ import annotations

import logging
from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from striv.core.api.base import CursorPagination, integer_lookup
from striv.core.api.problems import Problem, field_error, invalid
from striv.drivers.base import DriverError, RunStatus
from striv.runs.logs import (
    DEFAULT_MAX_BYTES,
    MAX_MAX_BYTES,
    STREAMS,
    LogRequestError,
    log_read_whole_characters,
    run_logs_read,
    run_task_names,
)
from striv.runs.models import Run

logger = logging.getLogger(__name__)


class RunSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job_id", read_only=True, help_text="The job's id.")
    job_name = serializers.CharField(source="job.name", read_only=True)
    execution = serializers.CharField(source="job.execution.key", read_only=True, help_text="The execution key.")
    tasks = serializers.SerializerMethodField(help_text="The run's tasks with their state, as the refresher saw them.")
    archived = serializers.SerializerMethodField(help_text="Whether striv holds a copy of the logs.")

    class Meta:
        model = Run
        fields = [
            "id",
            "job",
            "job_name",
            "execution",
            "external_id",
            "status",
            "status_reason",
            "created",
            "started",
            "finished",
            "exit_code",
            "tasks",
            "archived",
            "updated",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": {"type": "object", "additionalProperties": True}})
    def get_tasks(self, run: Run) -> list[dict[str, Any]]:
        return list(run.tasks or [])

    def get_archived(self, run: Run) -> bool:
        return run.archived_at is not None


class RunFilter(django_filters.FilterSet):
    job = django_filters.UUIDFilter(field_name="job_id", help_text="A job id.")
    execution = django_filters.CharFilter(field_name="job__execution__key", help_text="An execution key.")
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices, distinct=False, help_text="Repeatable.")
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created", lookup_expr="gte", help_text="Runs created at or after this time (ISO 8601)."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created", lookup_expr="lt", help_text="Runs created before this time (ISO 8601)."
    )

    class Meta:
        model = Run
        fields = ["job", "execution", "status", "created_after", "created_before"]


class RunPagination(CursorPagination):
    ordering = ("-created", "-id")


class LogQuerySerializer(serializers.Serializer):
    task = serializers.CharField(required=False, max_length=200, help_text="A task name; default: the first task.")
    stream = serializers.ChoiceField(choices=STREAMS, default="stdout")
    offset = serializers.IntegerField(
        default=0,
        min_value=-(2**53),
        max_value=2**53,
        help_text="Byte offset to read from; negative counts from the end (a tail). Use next_offset to follow.",
    )
    max_bytes = serializers.IntegerField(default=DEFAULT_MAX_BYTES, min_value=1, max_value=MAX_MAX_BYTES)


class LogSliceSerializer(serializers.Serializer):
    task = serializers.CharField()
    stream = serializers.ChoiceField(choices=STREAMS)
    text = serializers.CharField(help_text="The bytes read, decoded as UTF-8 (invalid bytes replaced).")
    offset = serializers.IntegerField(help_text="Where the text starts.")
    next_offset = serializers.IntegerField(help_text="Where to read on for more.")
    size = serializers.IntegerField(allow_null=True, help_text="The whole stream's size when known.")
    # a declared field named like Field.source: the serializer metaclass moves it out of the class attributes
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["archive", "live", "expired"],
        help_text="archive: striv's copy; live: read from the cluster; expired: neither has the logs any more.",
    )
    running = serializers.BooleanField(help_text="True while the run is live and may write more.")


@extend_schema(tags=["runs"])
class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs of jobs, as discovered on the clusters by the refresher, newest first."""

    serializer_class = RunSerializer
    filterset_class = RunFilter
    pagination_class = RunPagination
    lookup_field = "id"
    lookup_value_regex = "[0-9]+"
    problem_statuses = {"logs": (400, 503)}

    def get_queryset(self):
        runs = Run.objects.select_related("job__execution")
        if self.action == "list":
            runs = runs.only(*(f.name for f in Run._meta.concrete_fields), "job__name", "job__execution__key")
        return runs

    def get_object(self):
        self.kwargs[self.lookup_field] = integer_lookup(self.kwargs[self.lookup_field])
        return super().get_object()

    @extend_schema(summary="List runs, newest first")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a run")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        operation_id="runs_logs",
        summary="Read a slice of a run's logs",
        description=(
            "Reads striv's archived copy when there is one, else the cluster's live log. To follow a running job, "
            "call again with offset=next_offset while running is true. 503 when the cluster cannot be reached."
        ),
        parameters=[LogQuerySerializer],
        responses={200: LogSliceSerializer},
    )
    @action(detail=True, methods=["get"])
    def logs(self, request, id=None):
        run = self.get_object()
        query = LogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        task = options.get("task")
        try:
            piece = run_logs_read(
                run=run, task=task, stream=options["stream"], offset=options["offset"], max_bytes=options["max_bytes"]
            )
        except LogRequestError as exc:
            field = next((name for name in ("task", "stream", "max_bytes", "offset") if name in str(exc)), None)
            raise invalid([field_error(field, str(exc))]) from None
        except DriverError as exc:
            if not exc.retryable:
                raise Problem(
                    409, exc.message, slug="cluster-refused", title="The cluster refused the request"
                ) from None
            raise Problem(
                503, exc.message, slug="cluster-unavailable", title="The cluster cannot be reached",
                headers={"Retry-After": "10"},
            ) from None  # fmt: skip
        # A character cut by max_bytes is left for the next read instead of being garbled.
        piece = log_read_whole_characters(piece)
        tasks = run_task_names(run)
        return Response(
            {
                "task": task or (tasks[0] if tasks else ""),
                "stream": options["stream"],
                "text": piece.text,
                "offset": piece.offset,
                "next_offset": piece.next_offset,
                "size": piece.size,
                "source": piece.source,
                "running": piece.running,
            }
        )
