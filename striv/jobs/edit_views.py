"""The job form: create and edit with a live preview (effective params and their layers, the rendered job, the next
launches), the params editor's rows, and the plan of unsaved changes. Errors are placed next to what caused them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from striv.core.htmx import redirect_after_post
from striv.core.views import operator_required
from striv.dimensions.models import Dimension
from striv.drivers.base import DriverError
from striv.executions.models import Execution
from striv.jobs import services
from striv.jobs.forms import (
    PARAM_TYPES,
    JobForm,
    ParamRow,
    dimension_field,
    new_row_id,
    params_from_rows,
    row_retyped,
    rows_from_params,
    rows_from_post,
)
from striv.jobs.layers import job_values
from striv.jobs.models import Job
from striv.jobs.plan import job_plan_changes
from striv.jobs.rendering import JobRenderError, effective_params, job_render
from striv.jobs.sync import PushOutcome
from striv.jobs.views import LAUNCHES_SHOWN
from striv.templating import LAYER_JOB, LayerName, RenderError

logger = logging.getLogger(__name__)

# --- placing errors ----------------------------------------------------------------------------------------------


@dataclass
class SlotErrors:
    """Errors placed next to what caused them: a form field, a dimension, a params row, or the template."""

    fields: dict[str, str] = field(default_factory=dict)  # "execution", "name", "dim_<key>"
    rows: dict[str, str] = field(default_factory=dict)  # row id -> message
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.rows or self.general)

    @property
    def count(self) -> int:
        return len(self.fields) + len(self.rows) + len(self.general)


def place_render_error(error: RenderError, rows: list[ParamRow], errors: SlotErrors) -> None:
    """Put a render error next to the params row, dimension or execution that caused it."""
    layer = error.layer if isinstance(error.layer, LayerName) else None
    if layer == LAYER_JOB:
        param = error.param or ""
        matches = [row for row in rows if row.key and (param == row.key or param.startswith(row.key + "."))]
        if not matches:
            matches = [row for row in rows if row.key and row.key.startswith(param + ".")] if param else []
        if matches:
            row = max(matches, key=lambda r: len(r.key))
            errors.rows[row.row] = error.message
            return
    elif layer is not None and layer.kind == "dimension":
        errors.fields[f"dim_{layer.key}"] = error.message
        return
    elif (layer is not None and layer.kind == "execution") or error.in_template:
        errors.fields["execution"] = error.message
        return
    errors.general.append(error.message)


def validation_errors_place(error: ValidationError, errors: SlotErrors) -> None:
    """Put a service's ValidationError next to the name or execution field, or at the top of the form."""
    if not hasattr(error, "error_dict"):
        errors.general.extend(error.messages)
        return
    for key, messages_ in error.message_dict.items():
        if key in ("name", "execution"):
            errors.fields[key] = " ".join(messages_)
        else:
            errors.general.extend(messages_)


# --- create and edit ---------------------------------------------------------------------------------------------


def _form_context(
    *,
    form: JobForm,
    rows: list[ParamRow],
    job: Job | None,
    errors: SlotErrors | None = None,
    theirs: Job | None = None,
) -> dict[str, Any]:
    errors = errors or SlotErrors()
    if form.is_bound:
        for name, field_errors in form.errors.items():
            if name in form.fields and name != "version":
                errors.fields.setdefault(name, " ".join(map(str, field_errors)))
    return {
        "form": form,
        "rows": rows,
        "job": job,
        "errors": errors,
        "theirs": theirs,
        "theirs_values": job_values(theirs) if theirs else [],
        "param_types": PARAM_TYPES,
    }


def _outcome_message(request: HttpRequest, saved: services.JobSaved, created: bool) -> None:
    outcome, name = saved.outcome, saved.job.name
    verb = "Created" if created else "Saved"
    if outcome.status == PushOutcome.PUSHED:
        messages.success(request, f"{verb} {name} and pushed it to the cluster.")
    elif outcome.status == PushOutcome.UNCHANGED:
        messages.success(request, f"{verb} {name}; the cluster already had this version (unchanged).")
    elif outcome.status == PushOutcome.PENDING:
        messages.warning(
            request,
            f"{verb} {name}, but the push is pending: {outcome.message} striv will push it again.",
        )
    else:
        messages.info(request, f"{verb} {name}; it was not pushed.")


def _job_save(request: HttpRequest, *, job: Job | None, dimensions: list[Dimension]) -> HttpResponse:
    data = request.POST
    rows = rows_from_post(data)
    params, rows_ok = params_from_rows(rows)
    form = JobForm(data, dimensions=dimensions)
    errors = SlotErrors(rows={row.row: row.error for row in rows if row.error})
    theirs = None
    if form.is_valid() and rows_ok:
        execution = form.cleaned_data["execution"]
        values = form.chosen_values()
        try:
            if job is None:
                saved = services.job_create(
                    name=form.cleaned_data["name"], execution=execution, values=values, params=params
                )
            else:
                saved = services.job_update(
                    job=job,
                    changes=services.JobChanges(
                        name=form.cleaned_data["name"], execution=execution, values=values, params=params
                    ),
                    expected_version=form.cleaned_data["version"],
                )
        except services.StaleVersion as exc:
            theirs = exc.job
            # Show their version; saving again (deliberately) replaces it with this one.
            fresh = data.copy()
            fresh["version"] = str(theirs.version)
            form = JobForm(fresh, dimensions=dimensions)
            form.is_valid()
            errors.general.append(
                f"Someone else saved this job first (now version {theirs.version}; you edited version "
                f"{exc.expected}). Nothing was saved. Their version is shown beside the form; save again to "
                "replace it with yours."
            )
        except JobRenderError as exc:
            place_render_error(exc.error, rows, errors)
        except ValidationError as exc:
            validation_errors_place(exc, errors)
        else:
            _outcome_message(request, saved, created=job is None)
            return redirect_after_post(request, reverse("jobs:detail", args=[saved.job.pk]))
    context = _form_context(form=form, rows=rows, job=job, errors=errors, theirs=theirs)
    status = 409 if theirs else 422
    return render(request, "jobs/job_form.html", context, status=status)


@operator_required
def job_create(request: HttpRequest) -> HttpResponse:
    dimensions = list(Dimension.objects.all())
    if request.method == "POST":
        return _job_save(request, job=None, dimensions=dimensions)
    initial: dict[str, Any] = {}
    executions = list(Execution.objects.all()[:2])
    if len(executions) == 1:
        initial["execution"] = executions[0].key
    form = JobForm(initial=initial, dimensions=dimensions)
    return render(request, "jobs/job_form.html", _form_context(form=form, rows=[ParamRow(row=new_row_id())], job=None))


@operator_required
def job_edit(request: HttpRequest, pk: str) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("execution"), pk=pk)
    dimensions = list(Dimension.objects.all())
    if request.method == "POST":
        return _job_save(request, job=job, dimensions=dimensions)
    form = JobForm(initial=JobForm.initial_for(job), dimensions=dimensions)
    rows = rows_from_params(job.params) or [ParamRow(row=new_row_id())]
    return render(request, "jobs/job_form.html", _form_context(form=form, rows=rows, job=job))


@operator_required
@require_GET
def job_param_row(request: HttpRequest) -> HttpResponse:
    """One params editor row: a new empty one, or the given row re-rendered for its (changed) type."""
    if "param_row" in request.GET:
        rows = rows_from_post(request.GET)
        row = row_retyped(rows[0], rows[0].type) if rows else ParamRow(row=new_row_id())
        autofocus = False
    else:
        row = ParamRow(row=new_row_id())
        autofocus = True
    return render(
        request, "jobs/partials/param_row.html", {"row": row, "param_types": PARAM_TYPES, "autofocus": autofocus}
    )


def _draft(request: HttpRequest) -> tuple[JobForm, list[ParamRow], dict[str, Any], SlotErrors]:
    """Read an unsaved job from the form: (form, rows, params, errors of the rows and dimensions)."""
    dimensions = list(Dimension.objects.all())
    form = JobForm(request.POST, dimensions=dimensions)
    rows = rows_from_post(request.POST)
    params, _ = params_from_rows(rows)
    form.is_valid()
    errors = SlotErrors(rows={row.row: row.error for row in rows if row.error})
    for dimension in dimensions:
        name = dimension_field(dimension)
        if name in form.errors:
            errors.fields[name] = " ".join(map(str, form.errors[name]))
    if "execution" in form.errors and request.POST.get("execution"):
        errors.fields["execution"] = " ".join(map(str, form.errors["execution"]))
    return form, rows, params, errors


@operator_required
@require_POST
def job_preview(request: HttpRequest) -> HttpResponse:
    """The live preview beside the job form: effective params with their layers, the rendered job, next launches.

    Errors also go, out of band, next to the field, dimension or params row that caused them.
    """
    form, rows, params, errors = _draft(request)
    data = getattr(form, "cleaned_data", {})
    execution = data.get("execution")
    rendered = None
    launches: list[datetime] = []
    if execution is not None and not errors.rows and not errors.fields:
        try:
            rendered = job_render(execution=execution, values=form.chosen_values(), params=params)
        except RenderError as exc:
            place_render_error(exc, rows, errors)
        else:
            launches = execution.next_launches(rendered.spec, count=LAUNCHES_SHOWN)
    context = {
        "form": form,
        "rows": rows,
        "errors": errors,
        "execution": execution,
        "rendered": rendered,
        "effective": effective_params(rendered) if rendered else [],
        "launches": launches,
        "job_id": request.POST.get("job_id", ""),
        "oob": True,
    }
    return render(request, "jobs/partials/job_preview.html", context)


@operator_required
@require_POST
def job_plan_draft(request: HttpRequest, pk: str) -> HttpResponse:
    """What saving the form would change on the cluster, without saving."""
    job = get_object_or_404(Job.objects.select_related("execution"), pk=pk)
    form, rows, params, errors = _draft(request)
    data = getattr(form, "cleaned_data", {})
    context: dict[str, Any] = {"job": job, "draft": True, "plan": None, "error": ""}
    if errors or data.get("execution") is None:
        context["error"] = "Fix the form's errors first."
    else:
        changes = services.JobChanges(
            name=data.get("name") or job.name, execution=data["execution"], values=form.chosen_values(), params=params
        )
        try:
            context["plan"] = job_plan_changes(job=job, changes=changes)
        except RenderError as exc:
            context["error"] = exc.message
        except (DriverError, ValidationError) as exc:
            context["error"] = getattr(exc, "message", None) or " ".join(getattr(exc, "messages", [str(exc)]))
    return render(request, "jobs/partials/job_plan.html", context)
