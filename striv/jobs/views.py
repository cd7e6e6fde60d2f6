"""Job pages: list with filters and bulk actions, create/edit with a live preview, detail, plan, run now, delete."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from striv.core.htmx import redirect_after_post, render_page
from striv.core.views import operator_required, viewer_required
from striv.dimensions.models import Dimension
from striv.drivers import driver_class
from striv.drivers.base import DriverError
from striv.executions.models import Execution
from striv.jobs import services
from striv.jobs.forms import (
    BULK_ACTIONS,
    PARAM_TYPES,
    BulkForm,
    JobFilterForm,
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
from striv.jobs.plan import job_plan as plan_job
from striv.jobs.plan import job_plan_changes
from striv.jobs.rendering import JobRenderError, job_render
from striv.jobs.sync import PushOutcome, jobs_sync
from striv.templating import LAYER_JOB, LayerName, Rendered, RenderError

logger = logging.getLogger(__name__)

JOBS_PER_PAGE = 50
RUNS_PER_PAGE = 20
LAUNCHES_SHOWN = 5


# --- helpers -----------------------------------------------------------------------------------------------------


def next_launches(execution: Execution, spec: dict, count: int = LAUNCHES_SHOWN) -> list[datetime]:
    """The next ``count`` launch times of a rendered spec, as the execution's driver computes them."""
    try:
        return driver_class(execution.driver).next_launches(spec, count=count)
    except Exception:  # a driver without schedules, or a spec it cannot read: no launches to show
        logger.debug("no next launches for execution %s", execution.key, exc_info=True)
        return []


@dataclass(frozen=True)
class EffectiveParam:
    path: str
    value: Any
    layer: str


def effective_params(rendered: Rendered) -> list[EffectiveParam]:
    """The effective params of a rendering, one per leaf path, each with the layer that set it."""
    result = []
    for path in sorted(rendered.provenance):
        node: Any = rendered.params
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        result.append(EffectiveParam(path, node, rendered.provenance[path]))
    return result


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


def _safe_next(request: HttpRequest, url: str, default: str) -> str:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return default


# --- list --------------------------------------------------------------------------------------------------------


@viewer_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    """Jobs with search, filters (in the URL), pagination and bulk selection."""
    dimensions = list(Dimension.objects.all())
    filters = JobFilterForm(request.GET or None, dimensions=dimensions)
    jobs = filters.filter(Job.objects.all()) if filters.is_bound else Job.objects.all()
    jobs = jobs.select_related("execution").prefetch_related("job_values__value__dimension").order_by("name", "id")
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(job, next_launches(job.execution, job.spec, count=1)) for job in page.object_list]
    context = {
        "filters": filters,
        "page": page,
        "rows": rows,
        "dimensions": dimensions,
        "list_url": request.get_full_path(),
    }
    return render_page(request, "jobs/job_list.html", "jobs/partials/job_rows.html", context)


@operator_required
@require_POST
def job_bulk(request: HttpRequest) -> HttpResponse:
    """Run now or delete the selected jobs, after a confirmation that names how many jobs."""
    form = BulkForm(request.POST)
    back = _safe_next(request, request.POST.get("next", ""), reverse("jobs:list"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect_after_post(request, back)
    action = form.cleaned_data["action"]
    jobs = list(form.cleaned_data["ids"].select_related("execution").order_by("name"))
    if not form.cleaned_data["confirmed"]:
        context = {"action": action, "action_label": BULK_ACTIONS[action], "jobs": jobs, "next": back}
        return render_page(request, "jobs/job_bulk_confirm.html", "jobs/partials/bulk_confirm.html", context)
    if action == "run":
        started, failed = 0, []
        for job in jobs:
            try:
                services.job_run_now(job=job)
                started += 1
            except DriverError as exc:
                failed.append(f"{job.name}: {exc.message}")
        if started:
            messages.success(request, f"Started {started} run{'s' if started != 1 else ''}.")
        for failure in failed:
            messages.error(request, f"Could not run {failure}")
    else:
        removed, pending, failed = 0, 0, []
        for job in jobs:
            try:
                outcome = services.job_delete(job=job)
            except ValidationError as exc:
                failed.append(f"{job.name}: {' '.join(exc.messages)}")
                continue
            if outcome.status == PushOutcome.PENDING:
                pending += 1
            else:
                removed += 1
        if removed:
            messages.success(request, f"Deleted {removed} job{'s' if removed != 1 else ''}.")
        if pending:
            messages.warning(
                request,
                f"{pending} job{'s' if pending != 1 else ''} could not be removed from the cluster yet; "
                "they are marked for deletion and striv will retry.",
            )
        for failure in failed:
            messages.error(request, f"Could not delete {failure}")
    return redirect_after_post(request, back)


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
                errors.fields.setdefault(name, " ".join(field_errors))
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
            errors.fields[name] = " ".join(form.errors[name])
    if "execution" in form.errors and request.POST.get("execution"):
        errors.fields["execution"] = " ".join(form.errors["execution"])
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
            launches = next_launches(execution, rendered.spec)
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


# --- detail and actions ------------------------------------------------------------------------------------------


def _job_or_404(pk: str) -> Job:
    return get_object_or_404(Job.objects.select_related("execution"), pk=pk)


def _runs_context(request: HttpRequest, job: Job) -> dict[str, Any]:
    page = Paginator(job.runs.all(), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    any_active = any(not run.is_finished for run in page.object_list)
    return {
        "job": job,
        "runs_page": page,
        "runs": page.object_list,
        "show_job": False,
        "refresh_url": reverse("jobs:runs", args=[job.pk]) + (f"?page={page.number}" if page.number > 1 else ""),
        "auto_refresh": any_active,
    }


@viewer_required
@require_GET
def job_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """A job: settings, effective params, rendered spec, plan, sync state and runs."""
    job = _job_or_404(pk)
    values = job_values(job)
    effective: list[EffectiveParam] = []
    render_error = ""
    try:
        effective = effective_params(job_render(execution=job.execution, values=values, params=job.params))
    except RenderError as exc:
        render_error = exc.message
    context = {
        "job": job,
        "values": values,
        "effective": effective,
        "render_error": render_error,
        "launches": next_launches(job.execution, job.spec),
        **_runs_context(request, job),
    }
    return render_page(request, "jobs/job_detail.html", "jobs/partials/job_summary.html", context)


@viewer_required
@require_GET
def job_runs(request: HttpRequest, pk: str) -> HttpResponse:
    """A job's runs, newest first; the partial refreshes itself while any run is unfinished."""
    job = _job_or_404(pk)
    return render_page(request, "jobs/job_runs.html", "runs/partials/run_rows.html", _runs_context(request, job))


@viewer_required
@require_GET
def job_plan(request: HttpRequest, pk: str) -> HttpResponse:
    """The job's plan against its cluster: would a push change anything, and what."""
    job = _job_or_404(pk)
    context: dict[str, Any] = {"job": job, "draft": False, "plan": None, "error": ""}
    try:
        context["plan"] = plan_job(job=job)
    except RenderError as exc:
        context["error"] = exc.message
    except DriverError as exc:
        context["error"] = exc.message
    return render_page(request, "jobs/job_plan.html", "jobs/partials/job_plan.html", context)


@operator_required
@require_POST
def job_run_now(request: HttpRequest, pk: str) -> HttpResponse:
    job = _job_or_404(pk)
    try:
        result = services.job_run_now(job=job)
    except DriverError as exc:
        messages.error(request, f"Could not start a run of {job.name}: {exc.message}")
    else:
        ref = f" ({result.external_id})" if result.external_id else ""
        messages.success(request, f"Started a run of {job.name}{ref}. It appears below once the refresher sees it.")
    return redirect_after_post(request, reverse("jobs:detail", args=[job.pk]))


@operator_required
@require_POST
def job_push(request: HttpRequest, pk: str) -> HttpResponse:
    """Push the job to its cluster again, even when striv believes it is in sync."""
    job = _job_or_404(pk)
    report = jobs_sync(jobs=Job.objects.filter(pk=job.pk), force=True)
    if report.failed:
        messages.error(request, f"The push failed: {report.failed[0][1]}")
    elif report.removed:
        messages.success(request, f"{job.name} was removed from the cluster.")
        return redirect_after_post(request, reverse("jobs:list"))
    elif report.pushed:
        messages.success(request, f"Pushed {job.name} to the cluster.")
    else:
        messages.success(request, f"The cluster already had {job.name} (unchanged).")
    return redirect_after_post(request, reverse("jobs:detail", args=[job.pk]))


@operator_required
def job_delete(request: HttpRequest, pk: str) -> HttpResponse:
    """GET asks for confirmation; POST removes the job from its cluster and from striv."""
    job = _job_or_404(pk)
    if request.method != "POST":
        return render_page(request, "jobs/job_confirm_delete.html", "jobs/partials/delete_confirm.html", {"job": job})
    try:
        outcome = services.job_delete(job=job)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect_after_post(request, reverse("jobs:detail", args=[job.pk]))
    if outcome.status == PushOutcome.PENDING:
        messages.warning(
            request,
            f"{job.name} could not be removed from the cluster yet ({outcome.message}); "
            "it is marked for deletion and striv will retry.",
        )
        return redirect_after_post(request, reverse("jobs:detail", args=[job.pk]))
    messages.success(request, f"Deleted {job.name} from striv and from the cluster.")
    return redirect_after_post(request, reverse("jobs:list"))
