"""Forms of the job pages: the job form with its params editor, the job list filters, bulk actions.

The params editor is a list of rows (key, type, value). Rows travel as parallel lists of inputs named ``param_row``,
``param_key``, ``param_type``, ``param_value`` and ``param_enc``; every row carries all five, so the lists line up.
A secret's cleartext is never sent back to the browser: once encrypted, a row keeps only the ciphertext (``param_enc``)
and shows "secret, set".
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import QueryDict

from striv import secret, templating
from striv.core import crypto, keys
from striv.dimensions.models import Dimension, DimensionValue
from striv.drivers.base import FAILING_RUN_STATUSES, RunStatus
from striv.executions.models import Execution
from striv.jobs.models import Job

logger = logging.getLogger(__name__)

PARAM_TYPES = [
    ("text", "Text"),
    ("number", "Number"),
    ("boolean", "Boolean"),
    ("json", "JSON"),
    ("secret", "Secret"),
]
PARAM_TYPE_KEYS = {key for key, _ in PARAM_TYPES}
_INT_RE = re.compile(r"^-?\d+$")

DIMENSION_PREFIX = "dim_"


class ExecutionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Execution) -> str:
        return f"{obj.name} — {obj.key}" if obj.name and obj.name != obj.key else obj.key


class ValueChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: DimensionValue) -> str:
        return f"{obj.label} ({obj.key})" if obj.label else obj.key


def value_choice_field(dimension: Dimension, *, empty_label: str, help_text: str = "") -> ValueChoiceField:
    """An optional select of ``dimension``'s values, chosen by key; the field remembers its dimension."""
    field = ValueChoiceField(
        queryset=DimensionValue.objects.filter(dimension=dimension).select_related("dimension"),
        to_field_name="key",
        required=False,
        empty_label=empty_label,
        label=dimension.display_name,
        help_text=help_text,
    )
    field.dimension = dimension
    return field


def dimension_field(dimension: Dimension) -> str:
    """The form field (and job list filter) name of a dimension: ``dim_<key>``."""
    return f"{DIMENSION_PREFIX}{dimension.key}"


@dataclass
class ParamRow:
    """One row of the params editor as shown: ``value`` is what the input holds (never a secret's cleartext)."""

    row: str
    key: str = ""
    type: str = "text"
    value: str = ""
    enc: str = ""
    error: str = ""

    @property
    def secret_set(self) -> bool:
        return self.type == "secret" and bool(self.enc)

    @property
    def blank(self) -> bool:
        return not self.key.strip() and not self.value.strip() and not self.enc


def new_row_id() -> str:
    return "r" + uuid.uuid4().hex[:8]


def param_type_of(value: Any) -> str:
    """The editor type that shows ``value`` best."""
    if secret.is_secret(value):
        return "secret"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "json"


def rows_from_params(params: dict[str, Any]) -> list[ParamRow]:
    """Editor rows for a job's stored params, one per top-level key, in stored order."""
    rows = []
    for index, (key, value) in enumerate(params.items()):
        kind = param_type_of(value)
        row = ParamRow(row=f"r{index}", key=key, type=kind)
        if kind == "secret":
            row.enc = str(value.get("encrypted", ""))
        elif kind == "boolean":
            row.value = "true" if value else "false"
        elif kind == "text":
            row.value = value
        elif kind == "number":
            row.value = json.dumps(value)
        else:
            row.value = json.dumps(value, indent=2, ensure_ascii=False)
        rows.append(row)
    return rows


def rows_from_post(data: QueryDict) -> list[ParamRow]:
    """Editor rows from a submitted form (the parallel ``param_*`` lists)."""
    ids = data.getlist("param_row")
    columns = [data.getlist(name) for name in ("param_key", "param_type", "param_value", "param_enc")]
    rows = []
    for index, row_id in enumerate(ids):
        key, kind, value, enc = (column[index] if index < len(column) else "" for column in columns)
        kind = kind if kind in PARAM_TYPE_KEYS else "text"
        rows.append(ParamRow(row=row_id or new_row_id(), key=key.strip(), type=kind, value=value, enc=enc.strip()))
    return rows


def row_retyped(row: ParamRow, kind: str) -> ParamRow:
    """The row after the user changed its type: the value is carried over where it still makes sense."""
    kind = kind if kind in PARAM_TYPE_KEYS else "text"
    value = row.value
    if kind == "boolean":
        value = "true" if value.strip().lower() in ("true", "1", "yes", "on") else "false"
    elif kind == "secret" or row.type == "secret":
        value = ""
    return ParamRow(row=row.row, key=row.key, type=kind, value=value, enc=row.enc if kind == "secret" else "")


def _row_value(row: ParamRow) -> Any:
    """Parse one row's value; raises ValueError with a message for the row."""
    text = row.value
    if row.type == "text":
        return text
    if row.type == "number":
        stripped = text.strip()
        if _INT_RE.match(stripped):
            return int(stripped)
        try:
            number = float(stripped)
        except ValueError:
            raise ValueError("Enter a number, e.g. 42 or 0.5.") from None
        if not math.isfinite(number):
            raise ValueError("Enter a finite number.")
        return number
    if row.type == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError("Choose true or false.")
        return lowered == "true"
    if row.type == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    # secret
    if text:
        try:
            value = keys.encrypt(text)
        except crypto.CryptoError as exc:
            raise ValueError(str(exc)) from None
        row.enc = value["encrypted"]
        row.value = ""
        return value
    if row.enc:
        return secret.make(row.enc)
    raise ValueError("Enter the secret's value.")


def params_from_rows(rows: list[ParamRow]) -> tuple[dict[str, Any], bool]:
    """Build job params from editor rows, encrypting newly typed secrets.

    Blank rows are skipped. Sets ``row.error`` on rows that are wrong and returns ``(params, ok)``; a newly typed
    secret is encrypted in place (the row then holds only the ciphertext).
    """
    params: dict[str, Any] = {}
    ok = True
    seen: set[str] = set()
    for row in rows:
        row.error = ""
        if row.blank:
            continue
        if not row.key:
            row.error = "Give the param a name."
        elif not templating.PARAM_KEY_RE.match(row.key) or "" in row.key.split("."):
            row.error = "A name starts with a letter or '_' and holds letters, digits, '_' and single dots."
        elif row.key in seen:
            row.error = "This name is used twice."
        if row.error:
            ok = False
            continue
        seen.add(row.key)
        try:
            params[row.key] = _row_value(row)
        except ValueError as exc:
            row.error = str(exc)
            ok = False
    return params, ok


class JobForm(forms.Form):
    """Name, execution and one optional value per dimension; params come from the editor rows."""

    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    execution = ExecutionChoiceField(
        queryset=Execution.objects.all(), to_field_name="key", empty_label="Choose an execution"
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, dimensions: list[Dimension] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dimensions = list(dimensions if dimensions is not None else Dimension.objects.all())
        for dimension in self.dimensions:
            self.fields[dimension_field(dimension)] = value_choice_field(
                dimension, empty_label="none", help_text=dimension.description
            )

    def dimension_fields(self) -> list[forms.BoundField]:
        return [self[dimension_field(dimension)] for dimension in self.dimensions]

    def chosen_values(self) -> list[DimensionValue]:
        """The dimension values chosen (after is_valid)."""
        return [
            self.cleaned_data[dimension_field(dimension)]
            for dimension in self.dimensions
            if self.cleaned_data.get(dimension_field(dimension))
        ]

    @classmethod
    def initial_for(cls, job: Job) -> dict[str, Any]:
        initial: dict[str, Any] = {"name": job.name, "execution": job.execution.key, "version": job.version}
        for job_value in job.job_values.select_related("value__dimension"):
            initial[f"{DIMENSION_PREFIX}{job_value.value.dimension.key}"] = job_value.value.key
        return initial


# --- job list ----------------------------------------------------------------------------------------------------

LATEST_STATUS_CHOICES = [
    ("", "Any status"),
    ("failing", "Failing (failed or lost)"),
    *[(value, label) for value, label in RunStatus.choices],
    ("none", "Never ran"),
]
SYNC_CHOICES = [
    ("", "Any sync state"),
    ("not_in_sync", "Not in sync"),
    *[(value, label) for value, label in Job.SyncStatus.choices],
]


class JobFilterForm(forms.Form):
    """The job list's filters; they live in the URL so that a filtered view can be shared."""

    q = forms.CharField(required=False, label="Name", widget=forms.SearchInput(attrs={"placeholder": "Search by name"}))
    execution = ExecutionChoiceField(
        queryset=Execution.objects.all(), to_field_name="key", required=False, empty_label="Any execution"
    )
    status = forms.ChoiceField(choices=LATEST_STATUS_CHOICES, required=False, label="Latest run")
    sync = forms.ChoiceField(choices=SYNC_CHOICES, required=False, label="Sync")

    def __init__(self, *args: Any, dimensions: list[Dimension] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dimensions = list(dimensions if dimensions is not None else Dimension.objects.all())
        for dimension in self.dimensions:
            self.fields[dimension_field(dimension)] = value_choice_field(
                dimension, empty_label=f"Any {dimension.display_name.lower()}"
            )

    def dimension_fields(self) -> list[forms.BoundField]:
        return [self[dimension_field(dimension)] for dimension in self.dimensions]

    def filter(self, jobs: Any) -> Any:
        """Apply the valid filters to the Job queryset ``jobs``; invalid ones are ignored (and shown as errors)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else getattr(self, "cleaned_data", {})
        if data.get("q"):
            jobs = jobs.filter(name__icontains=data["q"].strip())
        if data.get("execution"):
            jobs = jobs.filter(execution=data["execution"])
        for dimension in self.dimensions:
            value = data.get(dimension_field(dimension))
            if value:
                jobs = jobs.for_value(value)
        status = data.get("status")
        if status == "failing":
            jobs = jobs.filter(latest_run_status__in=FAILING_RUN_STATUSES)
        elif status == "none":
            jobs = jobs.filter(latest_run_status="")
        elif status:
            jobs = jobs.filter(latest_run_status=status)
        sync = data.get("sync")
        if sync == "not_in_sync":
            jobs = jobs.exclude(sync_status=Job.SyncStatus.IN_SYNC)
        elif sync:
            jobs = jobs.filter(sync_status=sync)
        return jobs

    def is_filtered(self) -> bool:
        return bool(self.is_bound and self.is_valid() and any(self.cleaned_data.values()))


BULK_ACTIONS = {"run": "Run now", "delete": "Delete"}


class BulkForm(forms.Form):
    """A bulk action on selected jobs; ``confirmed`` is set by the confirmation step."""

    action = forms.ChoiceField(choices=list(BULK_ACTIONS.items()))
    ids = forms.ModelMultipleChoiceField(queryset=Job.objects.all(), error_messages={"required": "Select jobs first."})
    confirmed = forms.BooleanField(required=False)
    next = forms.CharField(required=False)
