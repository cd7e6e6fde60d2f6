"""Serializers of the jobs API: a job as the API shows and takes it, and the answers of evaluate, run-now and plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from striv.core.api.serializers import (
    StrictSerializer,
    ValidatedModelSerializer,
    json_text_problem,
    validate_storable_json,
)
from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution
from striv.jobs.filtersets import RUN_STATUSES
from striv.jobs.layers import jobs_dimension_maps
from striv.jobs.models import Job

NEXT_LAUNCH_COUNT = 3
# Service field names in errors -> API field names.
FIELD_NAMES = {"values": "dimensions"}
# Where a list serializer keeps its page's {job id: {dimension: value}} for DimensionsField.
DIMENSION_MAPS = "dimension_maps"
# Where a bulk request keeps the executions and dimension values its items name, read once for all of them.
BULK_LOOKUPS = "bulk_lookups"


@dataclass(frozen=True)
class BulkLookups:
    """The executions (by key) and dimension values (by (dimension key, value key)) a bulk request names."""

    executions: dict[str, Execution]
    values: dict[tuple[str, str], DimensionValue]

    @classmethod
    def read(cls, items: list[Any]) -> BulkLookups:
        """Two queries for every item of a bulk body; what an item names but is missing is left to the fields."""
        # Only text a database can compare: the fields refuse the rest (NUL, lone surrogates) with their own error.
        keys = {item.get("execution") for item in items if _storable(item.get("execution"))}
        pairs = {
            (dim, value)
            for item in items
            if isinstance(item.get("dimensions"), dict)
            for dim, value in item["dimensions"].items()
            if _storable(dim) and _storable(value)
        }
        executions = {e.key: e for e in Execution.objects.filter(key__in=keys)} if keys else {}
        values = (
            {
                (v.dimension.key, v.key): v
                for v in DimensionValue.objects.select_related("dimension").filter(
                    dimension__key__in={dim for dim, _ in pairs}, key__in={value for _, value in pairs}
                )
            }
            if pairs
            else {}
        )
        return cls(executions, values)


def _storable(value: Any) -> bool:
    return isinstance(value, str) and json_text_problem(value) is None


class ExecutionField(serializers.SlugRelatedField):
    """An execution by key; in a bulk request, taken from the request's lookups instead of a query per item."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="key", queryset=Execution.objects.all(), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        lookups = self.context.get(BULK_LOOKUPS)
        if lookups is not None and isinstance(data, str) and data in lookups.executions:
            return lookups.executions[data]
        return super().to_internal_value(data)


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
        lookups = self.context.get(BULK_LOOKUPS)
        if lookups is not None and all(pair in lookups.values for pair in wanted.items()):
            return [lookups.values[pair] for pair in wanted.items()]
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

    execution = ExecutionField(help_text="The key of the job's execution.")
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


class BulkJobUpdateSerializer(JobSerializer):
    """An item of a bulk change (the schema of one; the API checks each with JobDetailSerializer)."""

    id = serializers.UUIDField(help_text="The job to change.")
    execution = ExecutionField(required=False, help_text="The key of the job's execution.")
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="When sent, the job is refused if it was saved since this version."
    )

    class Meta(JobSerializer.Meta):
        fields = ["id", "version", "name", "execution", "dimensions", "params"]
        read_only_fields: list[str] = []
        extra_kwargs = {"name": {"required": False}}


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
    warning = serializers.CharField(
        help_text="What could not be learnt after the launch (empty when nothing): the run was launched regardless."
    )


class PlanSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="Whether pushing the job would change the cluster's copy.")
    diff = serializers.CharField(help_text="A readable diff from the live job to the stored one, secrets redacted.")
    live = serializers.BooleanField(help_text="Whether the cluster holds the job at all.")
