"""The job filters: one FilterSet used by the job list page, the API's job list and the admin.

Parameters (all in the URL, so a filtered view can be shared): ``search`` (part of the name), ``execution`` (a
key), ``dimension`` (``<dimension>:<value>``, repeated; values of one dimension are alternatives, dimensions
combine with AND), ``latest_run_status`` (a run status, ``failing`` for failed or lost, ``none`` for never ran;
repeatable) and ``sync_status`` (a sync status or ``not_in_sync``; repeatable).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from drf_spectacular.utils import extend_schema_field

from striv.core.api.serializers import json_text_problem
from striv.drivers.base import FAILING_RUN_STATUSES, RunStatus
from striv.jobs.models import Job, JobValue

RUN_STATUSES = tuple(RunStatus.values)
FAILING = "failing"
NEVER_RAN = "none"
NOT_IN_SYNC = "not_in_sync"

LATEST_RUN_CHOICES = [
    (FAILING, "Failing (failed or lost)"),
    *RunStatus.choices,
    (NEVER_RAN, "Never ran"),
]
SYNC_CHOICES = [(NOT_IN_SYNC, "Not in sync"), *Job.SyncStatus.choices]


class _ChoicesField(django_filters.fields.MultipleChoiceField):
    """Several choices; an empty one (the job list's "any" option) is no choice."""

    def to_python(self, value: Any) -> list[str]:
        return [item for item in super().to_python(value) if item]


class ChoicesFilter(django_filters.MultipleChoiceFilter):
    field_class = _ChoicesField


class DimensionValueListField(forms.Field):
    """Repeated ``dimension=<dim>:<value>`` query parameters, cleaned to a list of (dim, value) pairs."""

    widget = forms.SelectMultiple

    def to_python(self, value: Any) -> list[tuple[str, str]]:
        pairs = []
        for item in value or []:
            if item in ("", None):
                continue  # a dimension's "any" choice in the job list's selects
            dim, sep, key = str(item).partition(":")
            if not sep or not dim or not key:
                raise forms.ValidationError(f"{item!r} is not <dimension>:<value>", code="invalid")
            if json_text_problem(item):
                raise forms.ValidationError("contains characters that cannot be stored", code="invalid")
            pairs.append((dim, key))
        return pairs


@extend_schema_field({"type": "array", "items": {"type": "string", "pattern": "^[^:]+:.+$"}})
class DimensionValueFilter(django_filters.Filter):
    """Jobs with every given value; values of one dimension are alternatives, dimensions combine with AND."""

    field_class = DimensionValueListField

    def filter(self, qs: QuerySet[Job], value: list[tuple[str, str]]) -> QuerySet[Job]:
        if not value:
            return qs
        by_dimension: dict[str, list[str]] = {}
        for dim, key in value:
            by_dimension.setdefault(dim, []).append(key)
        for dim, keys in by_dimension.items():
            qs = qs.filter(
                Exists(JobValue.objects.filter(job=OuterRef("pk"), value__dimension__key=dim, value__key__in=keys))
            )
        return qs


class JobFilterSet(django_filters.FilterSet):
    """Filters of the job list, shared by the UI, the API and the admin."""

    search = django_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        label="Name",
        help_text="Part of the job name.",
        widget=forms.SearchInput(attrs={"placeholder": "Search by name"}),
    )
    execution = django_filters.CharFilter(field_name="execution__key", help_text="An execution key.")
    dimension = DimensionValueFilter(help_text="dimension:value; repeat for more.")
    latest_run_status = ChoicesFilter(
        choices=LATEST_RUN_CHOICES,
        method="filter_latest_run_status",
        label="Latest run",
        help_text=(
            "Status of the newest run; 'failing' for failed or lost, 'none' for jobs that never ran. "
            "Repeat for several."
        ),
    )
    sync_status = ChoicesFilter(
        choices=SYNC_CHOICES,
        method="filter_sync_status",
        label="Sync",
        help_text="Sync status; 'not_in_sync' for any status but in sync. Repeat for several.",
    )

    class Meta:
        model = Job
        fields = ["search", "execution", "dimension", "latest_run_status", "sync_status"]

    def filter_latest_run_status(self, queryset: QuerySet[Job], name: str, value: list[str]) -> QuerySet[Job]:
        if not value:
            return queryset
        statuses: set[str] = set()
        for status in value:
            if status == FAILING:
                statuses.update(FAILING_RUN_STATUSES)
            else:
                statuses.add("" if status == NEVER_RAN else status)
        return queryset.filter(latest_run_status__in=sorted(statuses))

    def filter_sync_status(self, queryset: QuerySet[Job], name: str, value: list[str]) -> QuerySet[Job]:
        if not value:
            return queryset
        if NOT_IN_SYNC in value:
            wanted = {status for status in Job.SyncStatus.values if status != Job.SyncStatus.IN_SYNC}
        else:
            wanted = set()
        wanted.update(status for status in value if status != NOT_IN_SYNC)
        return queryset.filter(sync_status__in=sorted(wanted))

    def is_filtered(self) -> bool:
        """Whether any valid filter narrows the list (for the UI's "match the filters")."""
        return bool(self.is_bound and self.is_valid() and any(self.form.cleaned_data.values()))
