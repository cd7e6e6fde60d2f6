"""Loading a state file: evaluate it, then replace the database's executions and dimensions with it.

``state_read`` evaluates a jsonnet (or JSON) file, ``state_load`` applies a checked ``StateDocument`` in one
transaction, refusing when a removed item is still used or a job would be left broken, and ``state_after_load``
pushes the jobs whose spec changed once that transaction is committed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _gojsonnet
from django.db import transaction
from django.db.models import Q

from striv import templating
from striv.core import bulkwrite
from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution
from striv.jobs import rendering as job_rendering
from striv.jobs import sync as job_sync
from striv.jobs.models import Job
from striv.state.schema import ExecutionState, StateDocument, StateError, StateProblem

logger = logging.getLogger(__name__)

# Jobs listed by name in a refusal; the rest are counted.
MAX_LISTED = 50


@dataclass
class StateDiff:
    """What a load changed (or, with dry_run, would change)."""

    dry_run: bool = False
    executions_added: list[str] = field(default_factory=list)
    executions_changed: list[str] = field(default_factory=list)
    executions_removed: list[str] = field(default_factory=list)
    dimensions_added: list[str] = field(default_factory=list)
    dimensions_changed: list[str] = field(default_factory=list)
    dimensions_removed: list[str] = field(default_factory=list)
    values_added: list[str] = field(default_factory=list)
    values_changed: list[str] = field(default_factory=list)
    values_removed: list[str] = field(default_factory=list)
    jobs_changed: list[tuple[str, str]] = field(default_factory=list)  # (job id, name)
    jobs_rendered: int = 0

    @property
    def changed(self) -> bool:
        return any(
            getattr(self, name)
            for name in (
                "executions_added", "executions_changed", "executions_removed", "dimensions_added",
                "dimensions_changed", "dimensions_removed", "values_added", "values_changed", "values_removed",
            )
        )  # fmt: skip

    def lines(self) -> list[str]:
        """The report printed by load-state, one line per change."""
        out = []
        for label, items in (
            ("execution added", self.executions_added),
            ("execution changed", self.executions_changed),
            ("execution removed", self.executions_removed),
            ("dimension added", self.dimensions_added),
            ("dimension changed", self.dimensions_changed),
            ("dimension removed", self.dimensions_removed),
            ("dimension value added", self.values_added),
            ("dimension value changed", self.values_changed),
            ("dimension value removed", self.values_removed),
        ):
            out += [f"{label}: {item}" for item in items]
        out += [f"job spec changes: {name} ({job_id}), marked out of sync" for job_id, name in self.jobs_changed]
        verb = "would change" if self.dry_run else "changed"
        if not self.changed:
            out.append("no changes" + (" (dry run)" if self.dry_run else ""))
        else:
            out.append(
                f"{verb}: executions +{len(self.executions_added)} ~{len(self.executions_changed)} "
                f"-{len(self.executions_removed)}, dimension values +{len(self.values_added)} "
                f"~{len(self.values_changed)} -{len(self.values_removed)}, jobs re-rendered {self.jobs_rendered}, "
                f"jobs with a changed spec {len(self.jobs_changed)}"
                + (" (dry run, nothing saved)" if self.dry_run else "")
            )
        return out


# --- reading ---------------------------------------------------------------------------------------------------

_LOCATION_RE = re.compile(r"(?P<file>[^\s:]+(?::[^\s:]+)*?):(?P<line>\d+):(?P<col>\d+)")


def state_read(path: str | Path) -> Any:
    """Evaluate a state file (jsonnet or JSON); imports and importstr resolve relative to it.

    Returns the evaluated data. Raises StateError with ``file:line:column`` when it does not evaluate.
    """
    path = Path(path)
    if not path.is_file():
        raise StateError(f"{path}: no such file")
    try:
        text = _gojsonnet.evaluate_file(str(path))
    except RuntimeError as exc:
        raise StateError(f"{path}: does not evaluate", [StateProblem(None, _jsonnet_error_text(str(exc)))]) from None
    return json.loads(text)


def _jsonnet_error_text(message: str) -> str:
    message = message.strip()
    lines = message.splitlines()
    first = lines[0] if lines else message
    if first.startswith("RUNTIME ERROR: "):
        reason = first.removeprefix("RUNTIME ERROR: ")
        for line in lines[1:]:
            match = _LOCATION_RE.search(line)
            if match:
                return f"{match['file']}:{match['line']}:{match['col']}: {reason}"
        return reason
    match = _LOCATION_RE.match(first)
    if match:
        return f"{match['file']}:{match['line']}:{match['col']}: {first[match.end() :].lstrip(' -0123456789)').strip()}"
    return first


# --- loading ---------------------------------------------------------------------------------------------------


def _execution_fields(key: str, item: ExecutionState) -> dict[str, Any]:
    return {
        "name": item.name or key,
        "driver": item.driver,
        "driver_config": item.driver_config,
        "default_params": item.default_params,
        "payload_template": item.payload_template,
        "logstore": item.logstore or "",
    }


def _differs(obj: Any, fields: Mapping[str, Any]) -> bool:
    return any(getattr(obj, name) != value for name, value in fields.items())


def _job_label(job: Job) -> str:
    return f"job {job.name!r} ({job.pk})"


def _listed(items: list[str]) -> list[str]:
    if len(items) <= MAX_LISTED:
        return items
    return [*items[:MAX_LISTED], f"... and {len(items) - MAX_LISTED} more"]


ProgressWrapper = Callable[[Iterable[Any], int], Iterable[Any]]


@transaction.atomic
def state_load(*, state: StateDocument, dry_run: bool = False, progress: ProgressWrapper | None = None) -> StateDiff:
    """Replace executions and dimensions with ``state`` in one transaction.

    Keys present are created or updated, keys absent are deleted. Every job the change touches is re-rendered;
    jobs whose spec changes are marked out of sync. Returns the StateDiff. Raises StateError, changing nothing,
    when a removed execution or dimension value is still used by jobs, or when any job would fail to render.
    With ``dry_run`` the same checks and report happen and the transaction is rolled back.
    """
    diff = StateDiff(dry_run=dry_run)
    problems: list[StateProblem] = []

    executions = {e.key: e for e in Execution.objects.select_for_update().order_by("key")}
    dimensions = {d.key: d for d in Dimension.objects.select_for_update().order_by("key")}
    values = {(v.dimension.key, v.key): v for v in DimensionValue.objects.select_related("dimension")}

    # Removals that would orphan jobs are refused up front.
    removed_executions = [key for key in executions if key not in state.executions]
    for key in removed_executions:
        users = list(Job.objects.filter(execution=executions[key]).order_by("name")[: MAX_LISTED + 1])
        if users:
            problems.append(
                StateProblem(
                    None,
                    f"execution {key} is removed but used by jobs: "
                    + ", ".join(_listed([_job_label(j) for j in users])),
                )
            )
    removed_values = [
        pair for pair in values if pair[0] not in state.dimensions or pair[1] not in state.dimensions[pair[0]].values
    ]
    for pair in removed_values:
        users = list(Job.objects.for_value(values[pair]).order_by("name")[: MAX_LISTED + 1])
        if users:
            problems.append(
                StateProblem(
                    None,
                    f"dimension value {pair[0]}={pair[1]} is removed but used by jobs: "
                    + ", ".join(_listed([_job_label(j) for j in users])),
                )
            )
    if problems:
        raise StateError("state refused: removed items are still in use", problems)

    touched_executions: set[int] = set()
    touched_values: set[int] = set()
    touched_dimensions: set[int] = set()

    for key, execution_item in state.executions.items():
        fields = _execution_fields(key, execution_item)
        existing = executions.get(key)
        if existing is None:
            execution = Execution(key=key, **fields)
            execution.full_clean()
            execution.save()
            executions[key] = execution
            diff.executions_added.append(key)
        elif _differs(existing, fields):
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.full_clean()
            existing.save()
            touched_executions.add(existing.pk)
            diff.executions_changed.append(key)

    for key, item in state.dimensions.items():
        dimension_fields = {"priority": item.priority, "label": item.label or "", "description": item.description or ""}
        dimension = dimensions.get(key)
        if dimension is None:
            dimension = Dimension(key=key, **dimension_fields)
            dimension.full_clean()
            dimension.save()
            dimensions[key] = dimension
            diff.dimensions_added.append(key)
        elif _differs(dimension, dimension_fields):
            if dimension.priority != item.priority:
                touched_dimensions.add(dimension.pk)
            for name, value in dimension_fields.items():
                setattr(dimension, name, value)
            dimension.full_clean()
            dimension.save()
            diff.dimensions_changed.append(key)
        for value_key, value_item in item.values.items():
            value_fields = {"params": value_item.params, "label": value_item.label or ""}
            value = values.get((key, value_key))
            if value is None:
                value = DimensionValue(dimension=dimension, key=value_key, **value_fields)
                value.full_clean()
                value.save()
                diff.values_added.append(f"{key}={value_key}")
            elif _differs(value, value_fields):
                for name, field_value in value_fields.items():
                    setattr(value, name, field_value)
                value.full_clean()
                value.save()
                touched_values.add(value.pk)
                diff.values_changed.append(f"{key}={value_key}")

    for pair in removed_values:
        values[pair].delete()
        diff.values_removed.append(f"{pair[0]}={pair[1]}")
    for key in [k for k in dimensions if k not in state.dimensions]:
        dimensions[key].delete()
        diff.dimensions_removed.append(key)
    for key in removed_executions:
        executions[key].delete()
        diff.executions_removed.append(key)

    affected = Job.objects.none()
    if touched_executions or touched_values or touched_dimensions:
        affected = (
            Job.objects.filter(
                Q(execution_id__in=touched_executions)
                | Q(job_values__value_id__in=touched_values)
                | Q(job_values__dimension_id__in=touched_dimensions)
            )
            .distinct()
            .order_by("execution_id", "name", "id")
        )
    _rerender(affected, diff, progress=progress)

    if dry_run:
        transaction.set_rollback(True)
    return diff


def _rerender(jobs: Any, diff: StateDiff, *, progress: ProgressWrapper | None) -> None:
    """Render ``jobs`` against the new state; raise StateError listing every failure, else store changed specs."""
    total = jobs.count()
    diff.jobs_rendered = total
    results = job_rendering.jobs_render_many(jobs)
    if progress:
        results = progress(results, total)
    failures: list[str] = []
    changed: list[Job] = []
    for job, result in results:
        if isinstance(result, templating.RenderError):
            failures.append(f"{_job_label(job)}: {result}")
            continue
        rendered, new_hash = result
        if new_hash != job.spec_hash:
            job.spec = rendered.spec
            job.spec_hash = new_hash
            if new_hash != job.pushed_hash:
                job.sync_status = Job.SyncStatus.OUT_OF_SYNC
            changed.append(job)
            diff.jobs_changed.append((str(job.pk), job.name))
    if failures:
        raise StateError(
            f"state refused: {len(failures)} job(s) would fail to render",
            [StateProblem(None, failure) for failure in _listed(failures)],
        )
    # One UPDATE .. FROM (VALUES ..) per chunk: bulk_update's CASE WHEN statements were most of a re-render's time.
    bulkwrite.rows_update(Job, changed, ["spec", "spec_hash", "sync_status"])


def state_after_load(diff: StateDiff, *, progress: ProgressWrapper | None = None) -> list[str]:
    """After a committed load, push the jobs whose spec changed; returns report lines.

    A job that cannot be pushed now stays pending and is retried by sync-jobs and the refresher.
    """
    if diff.dry_run or not diff.jobs_changed:
        return []
    ids = [job_id for job_id, _ in diff.jobs_changed]
    report = job_sync.jobs_sync(jobs=Job.objects.filter(pk__in=ids), progress=progress)
    lines = [f"push: {report.summary()}"]
    lines += [f"push failed: {label}: {reason}" for label, reason in report.failed]
    return lines
