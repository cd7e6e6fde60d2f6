"""Jobs API: list, create, read, update, delete, plus evaluate (preview), run-now and plan.

Writes go through striv.jobs.services, so the API renders, validates and pushes exactly as the UI and load-state do.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import filters, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from striv import templating
from striv.core import roles
from striv.core.api.etags import ETAG_HEADER, IF_MATCH_PARAMETER, etag, if_match_version, stale
from striv.core.api.problems import Problem, django_validation_errors, invalid, render_error_field
from striv.core.api.serializers import (
    StrictSerializer,
    ValidatedModelSerializer,
    json_text_problem,
    validate_storable_json,
)
from striv.dimensions.models import Dimension, DimensionValue
from striv.drivers.base import DriverError
from striv.executions.models import Execution
from striv.jobs import services
from striv.jobs.filtersets import RUN_STATUSES, JobFilterSet
from striv.jobs.layers import jobs_dimension_maps
from striv.jobs.models import Job
from striv.jobs.plan import job_plan
from striv.jobs.rendering import JobRenderError, job_render
from striv.jobs.sync import PushOutcome

logger = logging.getLogger(__name__)

NEXT_LAUNCH_COUNT = 3
# Where a list serializer keeps its page's {job id: {dimension: value}} for DimensionsField.
DIMENSION_MAPS = "dimension_maps"
# Service field names in errors -> API field names.
FIELD_NAMES = {"values": "dimensions"}


# --- next launch times -------------------------------------------------------------------------------------------

_launch_cache: dict[tuple[str, str], list[datetime]] = {}
_LAUNCH_CACHE_MAX = 50_000


def job_next_launches(job: Job) -> list[datetime]:
    """The next NEXT_LAUNCH_COUNT launch times of a saved job (empty when its driver has no schedules or it has none).

    Computing a schedule costs a fraction of a millisecond, too much for fifty jobs per list page, so results are
    kept per spec hash while still valid: launches after an earlier moment stay the launches after now until the
    first of them has passed.
    """
    key = (job.execution.driver, job.spec_hash)
    now = timezone.now()
    cached = _launch_cache.get(key) if job.spec_hash else None
    if cached is not None and (not cached or cached[0] > now):
        return cached
    launches = job.execution.next_launches(job.spec or {}, count=NEXT_LAUNCH_COUNT)
    if job.spec_hash:
        if len(_launch_cache) >= _LAUNCH_CACHE_MAX:
            _launch_cache.clear()
        _launch_cache[key] = launches
    return launches


class JobListSerializer(serializers.ListSerializer):
    def to_representation(self, data: Any) -> list[dict[str, Any]]:
        jobs = list(data.all() if hasattr(data, "all") else data)
        # Read once for the page; DimensionsField takes each job's map from the context.
        self.context[DIMENSION_MAPS] = jobs_dimension_maps([job.pk for job in jobs])
        return super().to_representation(jobs)


def iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z``, as DRF writes datetimes."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- serializers -------------------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "The job's value per dimension, as {dimension key: value key}.",
        "example": {"customer": "acme", "level": "gold"},
    }
)
class DimensionsField(serializers.Field):
    """``{dimension: value}`` on the wire; inside, ``job_values``: the list of DimensionValue rows.

    A list reads every job's map at once (``jobs_dimension_maps``, kept in the serializer context); a single job
    reads its own.
    """

    default_error_messages = {"not_a_dict": "Expected an object of {{dimension: value}}, got {type}."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", default=lambda: {"job_values": []}, **kwargs)

    def to_representation(self, job: Job) -> dict[str, str]:
        maps = self.context.get(DIMENSION_MAPS)
        if maps is None or job.pk not in maps:
            maps = jobs_dimension_maps([job.pk])
        return maps[job.pk]

    def to_internal_value(self, data: Any) -> dict[str, list[DimensionValue]]:
        return {"job_values": self._values(data)}

    def _values(self, data: Any) -> list[DimensionValue]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", type=type(data).__name__)
        errors: dict[str, str] = {}
        wanted: dict[str, str] = {}
        for dim, value in data.items():
            problem = json_text_problem(dim) or json_text_problem(value)
            if problem:
                errors[dim] = problem
            elif value is None:
                continue  # no value in this dimension
            elif not isinstance(value, str):
                errors[dim] = f"Expected a value key (a string), got {type(value).__name__}."
            else:
                wanted[dim] = value
        if errors:
            raise serializers.ValidationError(errors)
        found = {
            (v.dimension.key, v.key): v
            for v in DimensionValue.objects.select_related("dimension").filter(
                dimension__key__in=list(wanted), key__in=list(wanted.values())
            )
        }
        missing = [dim for dim, value in wanted.items() if (dim, value) not in found]
        known = set(Dimension.objects.filter(key__in=missing).values_list("key", flat=True)) if missing else set()
        for dim in missing:
            if dim in known:
                errors[dim] = f"Unknown value {wanted[dim]!r} of dimension {dim!r}."
            else:
                errors[dim] = f"Unknown dimension {dim!r}."
        values = [found[(dim, value)] for dim, value in wanted.items() if (dim, value) in found]
        if errors:
            raise serializers.ValidationError(errors)
        return values


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": (
            "Job-level params (the highest layer). Keys may be dotted (resources.cpu). Secrets are objects "
            '{"_striv_type": "secret", "encrypted": "..."} made with the public key, and stay encrypted here.'
        ),
    }
)
class ParamsField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> Any:
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected an object of params.", code="not_an_object")
        return validate_storable_json(data)


class LatestRunSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    at = serializers.DateTimeField(allow_null=True)


class JobSerializer(ValidatedModelSerializer):
    """A job. Writable: name, execution, dimensions, params; the rest is read-only.

    On PUT, dimensions and params left out become empty; on PATCH only the fields sent change.
    """

    execution = serializers.SlugRelatedField(
        slug_field="key", queryset=Execution.objects.all(), help_text="The key of the job's execution."
    )
    dimensions = DimensionsField()
    params = ParamsField(default=dict)
    latest_run = serializers.SerializerMethodField(help_text="The status and creation time of the newest run.")
    next_launches = serializers.SerializerMethodField(
        help_text=f"The next {NEXT_LAUNCH_COUNT} launch times (UTC) of the job's schedule; empty when it has none."
    )

    full_clean_exclude = ("spec",)
    field_names = FIELD_NAMES

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "execution",
            "dimensions",
            "params",
            "version",
            "sync_status",
            "sync_error",
            "synced_at",
            "latest_run",
            "next_launches",
            "created",
            "modified",
        ]
        read_only_fields = ["version", "sync_status", "sync_error", "synced_at", "created", "modified"]
        list_serializer_class = JobListSerializer

    @extend_schema_field(LatestRunSerializer(allow_null=True))
    def get_latest_run(self, job: Job) -> dict[str, Any] | None:
        if not job.latest_run_status:
            return None
        return {"status": job.latest_run_status, "at": iso(job.latest_run_at) if job.latest_run_at else None}

    @extend_schema_field(serializers.ListField(child=serializers.DateTimeField()))
    def get_next_launches(self, job: Job) -> list[str]:
        return [iso(moment) for moment in job_next_launches(job)]


class JobDetailSerializer(JobSerializer):
    """A job with its rendered spec (secrets redacted)."""

    spec = serializers.JSONField(read_only=True, help_text="The rendered orchestrator spec, secrets redacted.")

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "spec"]


class JobEvaluateSerializer(StrictSerializer):
    """A job definition to preview: the writable fields of a job; name is optional."""

    name = serializers.CharField(required=False, max_length=200, help_text="Ignored; accepted so a job body fits.")
    execution = serializers.SlugRelatedField(slug_field="key", queryset=Execution.objects.all())
    dimensions = DimensionsField()
    params = ParamsField(default=dict)


class EvaluationSerializer(serializers.Serializer):
    spec = serializers.JSONField(help_text="The rendered spec, secrets redacted.")
    params = serializers.JSONField(help_text="The effective params after merging every layer, secrets redacted.")
    provenance = serializers.DictField(
        child=serializers.CharField(),
        help_text="For each leaf param path, the layer that set it: job, execution:<key> or dimension:<dim>=<value>.",
    )
    next_launches = serializers.ListField(child=serializers.DateTimeField())


class RunNowSerializer(serializers.Serializer):
    external_id = serializers.CharField(help_text="The orchestrator's id of the launched run (when known).")
    eval_id = serializers.CharField(help_text="The orchestrator's evaluation id (when it has one).")


class PlanSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="Whether pushing the job would change the cluster's copy.")
    diff = serializers.CharField(help_text="A readable diff from the live job to the stored one, secrets redacted.")
    live = serializers.BooleanField(help_text="Whether the cluster holds the job at all.")


# --- filters -----------------------------------------------------------------------------------------------------


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
ORDERING_FIELDS = ["name", "created", "modified"]
ORDERING_PARAMETER = OpenApiParameter(
    "ordering",
    str,
    OpenApiParameter.QUERY,
    required=False,
    enum=[*ORDERING_FIELDS, *(f"-{name}" for name in ORDERING_FIELDS)],
    description="Sort field; '-' sorts descending. Default: name.",
)


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
    lookup_field = "id"
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = JobFilterSet
    ordering_fields = ORDERING_FIELDS
    ordering = ["name", "id"]
    required_roles = {"evaluate": roles.VIEWER}
    problem_statuses = {
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
        job = self.get_queryset().get(pk=job.pk)
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
        summary="Create a job",
        description=(
            "Renders the job, saves it and pushes it to its cluster. When the cluster cannot be reached the job is "
            "still saved, with sync_status `pending`; a later sync pushes it. When the cluster refuses the job, "
            "nothing is saved and the answer is 400."
        ),
        request=JobSerializer,
        responses={201: JobDetailSerializer},
        examples=[JOB_EXAMPLE],
        parameters=[ETAG_HEADER],
    )
    def create(self, request, *args, **kwargs):
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
        with transaction.atomic():
            locked = get_object_or_404(Job.objects.select_for_update().select_related("execution"), pk=job.pk)
            if expected is not None and locked.version != expected:
                raise stale(locked.version, f"job {job.pk} was saved by someone else since version {expected}")
            try:
                outcome = services.job_delete(job=locked)
            except DjangoValidationError as exc:
                raise Problem(
                    409, " ".join(exc.messages), slug="cluster-refused", title="The cluster refused the request"
                ) from None
        if outcome.status == PushOutcome.REMOVED:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._detail_response(locked, status.HTTP_202_ACCEPTED)

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
        return Response({"external_id": result.external_id, "eval_id": result.eval_id}, status=202)

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
