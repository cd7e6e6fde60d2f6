"""Jobs API: list, create, read, update, delete, plus evaluate (preview), run-now and plan.

Writes go through striv.jobs.services, so the API renders, validates and pushes exactly as the UI and load-state do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import filters, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from striv import templating
from striv.core import roles
from striv.core.api.etags import ETAG_HEADER, IF_MATCH_PARAMETER, etag, if_match_version, stale
from striv.core.api.problems import Problem, django_validation_errors, invalid, render_error_field
from striv.core.api.schema import StrivAutoSchema
from striv.drivers.base import DriverError
from striv.jobs import services
from striv.jobs.bulk import BULK_MAX_ITEMS, jobs_bulk_create, jobs_bulk_update
from striv.jobs.filtersets import JobFilterSet
from striv.jobs.models import Job
from striv.jobs.plan import job_plan
from striv.jobs.rendering import JobRenderError, job_render
from striv.jobs.serializers import (
    FIELD_NAMES,
    NEXT_LAUNCH_COUNT,
    BulkJobUpdateSerializer,
    EvaluationSerializer,
    JobDetailSerializer,
    JobEvaluateSerializer,
    JobSerializer,
    PlanSerializer,
    RunNowSerializer,
    iso,
)
from striv.jobs.sync import PushOutcome

logger = logging.getLogger(__name__)

# --- OpenAPI parameters ------------------------------------------------------------------------------------------


DIMENSION_PARAMETER = OpenApiParameter(
    "dimension",
    {"type": "array", "items": {"type": "string", "pattern": "^[^:]+:.+$"}},
    OpenApiParameter.QUERY,
    required=False,
    explode=True,
    description=(
        "<dimension>:<value>, e.g. customer:acme; repeat the parameter for more. Values of one dimension are "
        "alternatives; different dimensions must all match."
    ),
)
JOB_EXAMPLE = OpenApiExample(
    "A customer's nightly import",
    value={
        "name": "acme nightly import",
        "execution": "integration",
        "dimensions": {"customer": "acme", "service_level": "enterprise"},
        "params": {"batch_size": 200, "schedule.cron": "15 1 * * *"},
    },
    request_only=True,
)
BULK_DESCRIPTION = (
    f"A list of up to {BULK_MAX_ITEMS} jobs is checked first, every item; if any fails, the answer is 400 with "
    "each error naming its item (`index`) and field, and nothing is saved. Otherwise all are saved in one "
    "transaction and then pushed (several cluster calls at a time, over kept-alive connections); the answer lists "
    "each job as stored after its push: `sync_status` `in_sync` (pushed), `pending` (the cluster cannot be reached; "
    "a later sync pushes it) or `failed` (the cluster refused it; `sync_error` says why; the job stays saved)."
)
ORDERING_FIELDS = ["name", "created", "modified"]
ORDERING_PARAMETER = OpenApiParameter(
    "ordering",
    str,
    OpenApiParameter.QUERY,
    required=False,
    enum=[*ORDERING_FIELDS, *(f"-{name}" for name in ORDERING_FIELDS)],
    description="Sort field; '-' sorts descending. Default: name.",
)


class JobAutoSchema(StrivAutoSchema):
    """The schema of the jobs API: create takes one job or a list (and answers likewise), bulk bodies are bounded,
    and only the list is paginated (the bulk answers are plain lists)."""

    def _get_paginator(self):
        return super()._get_paginator() if getattr(self.view, "action", None) == "list" else None

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        action = getattr(self.view, "action", None)
        if schema and action == "create":
            schema = {"oneOf": [schema, bulk_array(schema)]}
        elif schema and action == "bulk_partial_update":
            schema = {**schema, "minItems": 1, "maxItems": BULK_MAX_ITEMS}
        return schema, required

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        if getattr(self.view, "action", None) == "create" and str(status_code) == "201":
            for content in response.get("content", {}).values():
                content["schema"] = {"oneOf": [content["schema"], {"type": "array", "items": content["schema"]}]}
            headers = response.get("headers", {})
            for header in headers.values():
                header["required"] = False  # a bulk create answers no ETag
        return response


def bulk_array(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": schema, "minItems": 1, "maxItems": BULK_MAX_ITEMS}


# --- views -------------------------------------------------------------------------------------------------------


def driver_problem(error: DriverError) -> Problem:
    """503 when the cluster cannot be reached (retry later), 409 when it refused the request."""
    if error.retryable:
        return Problem(
            503, error.message, slug="cluster-unavailable", title="The cluster cannot be reached",
            headers={"Retry-After": "30"},
        )  # fmt: skip
    return Problem(409, error.message, slug="cluster-refused", title="The cluster refused the request")


def deleting_problem(job: Job) -> Problem:
    return Problem(
        409,
        f"job {job.pk} is being deleted (its cluster could not be reached yet); it cannot be changed or run",
        slug="job-deleting",
        title="The job is being deleted",
    )


@extend_schema(tags=["jobs"])
class JobViewSet(viewsets.ModelViewSet):
    """Jobs: the periodic batch jobs striv keeps and pushes to their clusters."""

    serializer_class = JobSerializer
    schema = JobAutoSchema()
    lookup_field = "id"
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = JobFilterSet
    ordering_fields = ORDERING_FIELDS
    ordering = ["name", "id"]
    required_roles = {"evaluate": roles.OPERATOR}
    problem_statuses = {
        "bulk_partial_update": (),
        "update": (409, 412),
        "partial_update": (409, 412),
        "destroy": (409, 412),
        "create": (),
        "run_now": (409, 503),
        "plan": (409, 503),
    }

    def get_queryset(self):
        jobs = Job.objects.select_related("execution")
        if self.action == "list":
            # A list needs only the execution's key and driver; its template could be large and repeats per row.
            jobs = jobs.defer(
                "execution__payload_template", "execution__default_params", "execution__driver_config",
                "execution__refresh_error",
            )  # fmt: skip
        return jobs

    def get_serializer_class(self):
        if self.action == "list":
            return JobSerializer
        if self.action == "evaluate":
            return JobEvaluateSerializer
        return JobDetailSerializer

    def _detail_response(self, job: Job, status_code: int = status.HTTP_200_OK, **headers: str) -> Response:
        # The job as the service left it (saved, with its push outcome): reading it back would cost a query.
        data = JobDetailSerializer(job, context=self.get_serializer_context()).data
        return Response(data, status=status_code, headers={"ETag": etag(job.version), **headers})

    def _saved(self, call, **kwargs: Any) -> Job:
        try:
            return call(**kwargs).job
        except JobRenderError as exc:
            raise invalid([render_error_field(exc.error)]) from None
        except DjangoValidationError as exc:
            raise invalid(django_validation_errors(exc, field_names=FIELD_NAMES)) from None

    @extend_schema(
        summary="List jobs",
        parameters=[DIMENSION_PARAMETER, ORDERING_PARAMETER],
        description=(
            "Jobs ordered by name (then id) unless `ordering` says otherwise, cursor-paginated: `limit` (default 50, "
            "at most 500) and the opaque `next`/`previous` links."
        ),
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a job", parameters=[ETAG_HEADER])
    def retrieve(self, request, *args, **kwargs):
        job = self.get_object()
        return Response(self.get_serializer(job).data, headers={"ETag": etag(job.version)})

    @extend_schema(
        summary="Create a job, or many",
        description=(
            "Renders the job, saves it and pushes it to its cluster. When the cluster cannot be reached the job is "
            "still saved, with sync_status `pending`; a later sync pushes it. When the cluster refuses the job, "
            "nothing is saved and the answer is 400.\n\n" + BULK_DESCRIPTION
        ),
        request=JobSerializer,
        responses={201: JobDetailSerializer},
        examples=[JOB_EXAMPLE],
        parameters=[ETAG_HEADER],
    )
    def create(self, request, *args, **kwargs):
        if isinstance(request.data, list):
            jobs = jobs_bulk_create(request.data, context=self.get_serializer_context())
            return self._list_response(jobs, status.HTTP_201_CREATED)
        # The detail serializer, so that a job read with GET (spec included) can be sent back.
        serializer = JobDetailSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = self._saved(
            services.job_create,
            name=data["name"],
            execution=data["execution"],
            values=data.get("job_values", []),
            params=data.get("params", {}),
        )
        return self._detail_response(job, status.HTTP_201_CREATED, Location=f"{request.path.rstrip('/')}/{job.pk}")

    @extend_schema(
        summary="Replace a job",
        description="Fields left out (dimensions, params) become empty. Send If-Match to refuse a stale write.",
        request=JobSerializer,
        responses={200: JobDetailSerializer},
        parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        examples=[JOB_EXAMPLE],
    )
    def update(self, request, *args, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some fields of a job",
        description="Only the fields sent change. Send If-Match to refuse a stale write.",
        request=JobSerializer,
        responses={200: JobDetailSerializer},
        parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
    )
    def partial_update(self, request, *args, **kwargs):
        return self._update(request, partial=True)

    @extend_schema(
        operation_id="jobs_bulk_partial_update",
        summary="Change some fields of many jobs",
        description=(
            "Each item names its job by `id` and may send its `version` (the job is then refused if someone saved it "
            "since); only the fields sent change.\n\n" + BULK_DESCRIPTION
        ),
        request=BulkJobUpdateSerializer(many=True),
        responses={200: JobDetailSerializer(many=True)},
    )
    def bulk_partial_update(self, request, *args, **kwargs):
        jobs = jobs_bulk_update(request.data, context=self.get_serializer_context())
        return self._list_response(jobs, status.HTTP_200_OK)

    def _list_response(self, jobs: Sequence[Job], status_code: int) -> Response:
        data = JobDetailSerializer(jobs, many=True, context=self.get_serializer_context()).data
        return Response(data, status=status_code)

    def _update(self, request, *, partial: bool) -> Response:
        job = self.get_object()
        expected = if_match_version(request, job.version)
        if job.sync_status == Job.SyncStatus.DELETING:
            raise deleting_problem(job)
        serializer = JobDetailSerializer(job, data=request.data, partial=partial, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = services.JobChanges(
            name=data.get("name"),
            execution=data.get("execution"),
            values=data.get("job_values"),
            params=data.get("params"),
        )
        try:
            job = self._saved(services.job_update, job=job, changes=changes, expected_version=expected)
        except services.StaleVersion as exc:
            raise stale(
                exc.job.version, f"job {job.pk} was saved by someone else since version {exc.expected}"
            ) from None
        return self._detail_response(job)

    @extend_schema(
        summary="Delete a job",
        description=(
            "Removes the job from its cluster and from striv (204). When the cluster cannot be reached the job is "
            "kept with sync_status `deleting` and removed by a later sync (202, with the job). When the cluster "
            "refuses, nothing changes (409)."
        ),
        parameters=[IF_MATCH_PARAMETER],
        responses={
            204: OpenApiResponse(description="Removed from the cluster and from striv."),
            202: OpenApiResponse(JobDetailSerializer, description="The cluster cannot be reached: marked deleting."),
        },
    )
    def destroy(self, request, *args, **kwargs):
        job = self.get_object()
        expected = if_match_version(request, job.version)
        try:
            outcome = services.job_delete(job=job, expected_version=expected)
        except services.StaleVersion as exc:
            raise stale(exc.job.version, f"job {job.pk} was saved by someone else since version {expected}") from None
        except DjangoValidationError as exc:
            raise Problem(
                409, " ".join(exc.messages), slug="cluster-refused", title="The cluster refused the request"
            ) from None
        if outcome.status == PushOutcome.REMOVED:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._detail_response(job, status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="jobs_evaluate",
        summary="Preview a job definition without saving it",
        description=(
            "Renders a job body (as for create) and answers the spec, the effective params and where each param "
            "comes from, with secrets redacted. A definition that does not render answers 400 with errors naming "
            "the field and the param layer (and template line and column), exactly as create would."
        ),
        request=JobEvaluateSerializer,
        responses={200: EvaluationSerializer},
        examples=[JOB_EXAMPLE],
    )
    @action(detail=False, methods=["post"])
    def evaluate(self, request):
        serializer = JobEvaluateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        execution = data["execution"]
        try:
            values = services.job_values_check(data["job_values"])
        except DjangoValidationError as exc:
            raise invalid(django_validation_errors(exc, field_names=FIELD_NAMES)) from None
        try:
            rendered = job_render(execution=execution, values=values, params=data["params"], mode="preview")
        except templating.RenderError as exc:
            raise invalid([render_error_field(exc)]) from None
        launches = execution.next_launches(rendered.spec, count=NEXT_LAUNCH_COUNT)
        return Response(
            {
                "spec": rendered.spec,
                "params": rendered.params,
                "provenance": rendered.provenance,
                "next_launches": [iso(moment) for moment in launches],
            }
        )

    @extend_schema(
        operation_id="jobs_run_now",
        summary="Run a job now",
        description=(
            "Starts a run at once (a periodic job is forced; a job without a schedule is dispatched). A job whose "
            "cluster copy is out of date is pushed first. The run shows up in /api/runs after the next refresh."
        ),
        request=None,
        responses={202: RunNowSerializer},
    )
    @action(detail=True, methods=["post"], url_path="run-now")
    def run_now(self, request, id=None):
        job = self.get_object()
        if job.sync_status == Job.SyncStatus.DELETING:
            raise deleting_problem(job)
        try:
            result = services.job_run_now(job=job)
        except DriverError as exc:
            raise driver_problem(exc) from None
        return Response(
            {"external_id": result.external_id, "eval_id": result.eval_id, "warning": result.warning}, status=202
        )

    @extend_schema(
        operation_id="jobs_plan",
        summary="Compare a job with the live cluster",
        description=(
            "Asks the cluster what pushing the job would change, without changing anything. 409 when the job no "
            "longer renders (errors name the layer) or the cluster refuses; 503 when it cannot be reached."
        ),
        responses={200: PlanSerializer},
    )
    @action(detail=True, methods=["get"])
    def plan(self, request, id=None):
        job = self.get_object()
        try:
            plan = job_plan(job=job)
        except templating.RenderError as exc:
            raise Problem(
                409,
                f"the job does not render: {exc.message}",
                slug="job-does-not-render",
                title="The job does not render",
                errors=[render_error_field(exc)],
            ) from None
        except DriverError as exc:
            raise driver_problem(exc) from None
        return Response({"changed": plan.changed, "diff": plan.diff_text, "live": plan.live})
