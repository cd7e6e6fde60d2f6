"""Job pages: the list with filters and bulk actions, a job's page, its plan, run now, push and delete.

The job form (create, edit, live preview) is in ``edit_views.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from striv.core.htmx import redirect_after_post, render_page
from striv.core.views import operator_required, viewer_required
from striv.dimensions.models import Dimension, DimensionValue
from striv.drivers.base import DriverError
from striv.executions.models import Execution
from striv.jobs import services
from striv.jobs.filtersets import LATEST_RUN_CHOICES, SYNC_CHOICES, JobFilterSet
from striv.jobs.forms import BULK_ACTIONS, BulkForm
from striv.jobs.layers import job_values
from striv.jobs.models import Job
from striv.jobs.plan import job_plan as plan_job
from striv.jobs.rendering import EffectiveParam, effective_params, job_render
from striv.jobs.sync import PushOutcome, jobs_sync
from striv.templating import RenderError

logger = logging.getLogger(__name__)

JOBS_PER_PAGE = 50
RUNS_PER_PAGE = 20
LAUNCHES_SHOWN = 5

# --- helpers -----------------------------------------------------------------------------------------------------


def _safe_next(request: HttpRequest, url: str, default: str) -> str:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return default


# --- list --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterSelect:
    """One select of the job list's filters: its parameter, label, choices and the chosen values."""

    name: str
    label: str
    any_label: str
    choices: list[tuple[str, str]]
    chosen: frozenset[str]


def _filter_selects(request: HttpRequest, dimensions: list[Dimension]) -> list[FilterSelect]:
    """The job list's selects; each dimension's select sends ``dimension=<dim>:<value>``, as the API takes it."""
    executions = [
        (e.key, f"{e.name} — {e.key}" if e.name and e.name != e.key else e.key) for e in Execution.objects.all()
    ]
    dimension_chosen = frozenset(request.GET.getlist("dimension"))
    values: dict[int, list[tuple[str, str]]] = {}
    for value in DimensionValue.objects.select_related("dimension"):
        label = f"{value.label} ({value.key})" if value.label else value.key
        values.setdefault(value.dimension_id, []).append((f"{value.dimension.key}:{value.key}", label))
    selects = [
        FilterSelect("execution", "Execution", "Any execution", executions, frozenset(request.GET.getlist("execution")))
    ]
    selects += [
        FilterSelect(
            "dimension", d.display_name, f"Any {d.display_name.lower()}", values.get(d.pk, []), dimension_chosen
        )
        for d in dimensions
    ]
    for name, label, any_label, choices in (
        ("latest_run_status", "Latest run", "Any status", LATEST_RUN_CHOICES),
        ("sync_status", "Sync", "Any sync state", SYNC_CHOICES),
    ):
        selects.append(FilterSelect(name, label, any_label, list(choices), frozenset(request.GET.getlist(name))))
    return selects


@viewer_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    """Jobs with search, filters (in the URL, the same as the API's), pagination and bulk selection."""
    dimensions = list(Dimension.objects.all())
    filters = JobFilterSet(request.GET or None, queryset=Job.objects.all())
    jobs = filters.qs.select_related("execution").prefetch_related("job_values__value__dimension")
    page = Paginator(jobs.order_by("name", "id"), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(job, job.execution.next_launches(job.spec, count=1)) for job in page.object_list]
    context = {
        "filters": filters,
        "selects": _filter_selects(request, dimensions),
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
                messages.error(request, str(error))
        return redirect_after_post(request, back)
    action = form.cleaned_data["action"]
    jobs = list(form.cleaned_data["ids"].select_related("execution").order_by("name"))
    if not form.cleaned_data["confirmed"]:
        context = {"action": action, "action_label": BULK_ACTIONS[action], "jobs": jobs, "next": back}
        return render_page(request, "jobs/job_bulk_confirm.html", "jobs/partials/bulk_confirm.html", context)
    if action == "run":
        started, failed = 0, []
        for job, result in services.jobs_run_now(jobs=jobs):
            if isinstance(result, DriverError):
                failed.append(f"{job.name}: {result.message}")
            else:
                started += 1
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
        "launches": job.execution.next_launches(job.spec, count=LAUNCHES_SHOWN),
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
        if result.warning:
            messages.warning(request, f"The run was started; {result.warning}")
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
