"""Run pages: the dashboard, the run list, a run's detail, and its logs (tail, load earlier, follow, download)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_GET

from striv.core.htmx import render_page
from striv.core.views import viewer_required
from striv.drivers.base import FAILING_RUN_STATUSES, DriverError, RunStatus
from striv.jobs.models import Job
from striv.runs import logs, selectors
from striv.runs.models import Run

logger = logging.getLogger(__name__)

RUNS_PER_PAGE = 50
# The first view of a log shows its last bytes; "load earlier" fetches this much more each time.
TAIL_BYTES = 64 * 1024
EARLIER_BYTES = 64 * 1024
FOLLOW_BYTES = 256 * 1024
DOWNLOAD_CHUNK = logs.MAX_MAX_BYTES

DASHBOARD_LIST_SIZE = 8
OUTCOME_ORDER = [
    RunStatus.SUCCESSFUL,
    RunStatus.FAILED,
    RunStatus.LOST,
    RunStatus.STOPPED,
    RunStatus.DISCONNECTED,
    RunStatus.RUNNING,
    RunStatus.PENDING,
]
CHART_DAYS = 14


@viewer_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Home page: failing jobs, jobs out of sync, runs of the last 24 hours and a 14-day outcome chart."""
    now = timezone.now()
    failing = Job.objects.filter(latest_run_status__in=FAILING_RUN_STATUSES).select_related("execution")
    unsynced = Job.objects.exclude(sync_status=Job.SyncStatus.IN_SYNC).select_related("execution")
    last_day = selectors.runs_count_by_status(since=now - timedelta(hours=24))
    context = {
        "failing": failing.order_by("-latest_run_at", "name")[:DASHBOARD_LIST_SIZE],
        "failing_count": failing.count(),
        "unsynced": unsynced.order_by("name")[:DASHBOARD_LIST_SIZE],
        "unsynced_count": unsynced.count(),
        "last_day": [(status, status.label, last_day.get(status, 0)) for status in OUTCOME_ORDER],
        "last_day_total": sum(last_day.values()),
        "days": selectors.runs_outcomes_per_day(days=CHART_DAYS, now=now),
    }
    return render_page(request, "runs/dashboard.html", "runs/partials/dashboard_panels.html", context)


LAST_CHOICES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "14d": timedelta(days=14)}


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *RunStatus.choices], required=False)
    last = forms.ChoiceField(
        choices=[("", "Any time"), ("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("14d", "Last 14 days")],
        required=False,
        label="Created",
    )
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    job = forms.UUIDField(required=False, widget=forms.HiddenInput)


@viewer_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    """All runs, newest first, filtered by status, day and job (the dashboard's chart links here)."""
    filters = RunFilterForm(request.GET or None)
    runs = selectors.runs_list()
    job = None
    if filters.is_bound and filters.is_valid():
        data = filters.cleaned_data
        since = timezone.now() - LAST_CHOICES[data["last"]] if data["last"] else None
        runs = selectors.runs_list(status=data["status"], since=since, day=data["day"], job_id=data["job"])
        if data["job"]:
            job = Job.objects.filter(pk=data["job"]).first()
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "filters": filters,
        "filter_job": job,
        "runs_page": page,
        "runs": page.object_list,
        "show_job": True,
        "refresh_url": request.get_full_path(),
        "auto_refresh": any(not run.is_finished for run in page.object_list),
    }
    return render_page(request, "runs/run_list.html", "runs/partials/run_rows.html", context)


def _run_or_404(pk: int) -> Run:
    return get_object_or_404(Run.objects.select_related("job__execution"), pk=pk)


@viewer_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A run: status, times, exit code, its tasks, and a log panel per task and stream."""
    run = _run_or_404(pk)
    tasks = logs.run_task_names(run)
    context = {"run": run, "job": run.job, "tasks": tasks, "task": tasks[0] if tasks else ""}
    return render_page(request, "runs/run_detail.html", "runs/partials/run_summary.html", context)


# --- logs --------------------------------------------------------------------------------------------------------


def _log_params(request: HttpRequest, run: Run) -> tuple[str, str]:
    tasks = logs.run_task_names(run)
    task = request.GET.get("task") or (tasks[0] if tasks else "")
    stream = request.GET.get("stream") or "stdout"
    if stream not in logs.STREAMS or (tasks and task not in tasks):
        raise Http404("no such task or stream")
    return task, stream


def _int_arg(request: HttpRequest, name: str, default: int) -> int:
    try:
        return int(request.GET.get(name, default))
    except (TypeError, ValueError):
        raise Http404(f"{name} must be an integer") from None


def _log_url(run: Run, task: str, stream: str, **extra: Any) -> str:
    query = {"task": task, "stream": stream, **{key: value for key, value in extra.items() if value is not None}}
    return reverse("runs:log", args=[run.pk]) + "?" + urlencode(query)


def _read(run: Run, **kwargs: Any) -> tuple[logs.LogRead | None, str]:
    try:
        return logs.run_logs_read(run=run, **kwargs), ""
    except logs.LogRequestError as exc:
        raise Http404(str(exc)) from None
    except DriverError as exc:
        return None, exc.message


@viewer_required
@require_GET
def run_log(request: HttpRequest, pk: int) -> HttpResponse:
    """One task stream of a run's log.

    ``view=tail`` (default) shows the last bytes with "load earlier"; ``view=earlier&before=N`` returns the bytes
    before offset N; ``view=follow&offset=N`` returns only the bytes written since offset N, for follow mode.
    """
    run = _run_or_404(pk)
    task, stream = _log_params(request, run)
    view = request.GET.get("view", "tail")
    context: dict[str, Any] = {"run": run, "task": task, "stream": stream, "tasks": logs.run_task_names(run)}
    context["streams"] = logs.STREAMS

    if view == "earlier":
        before = max(_int_arg(request, "before", 0), 0)
        start = max(before - EARLIER_BYTES, 0)
        read, error = _read(run, task=task, stream=stream, offset=start, max_bytes=max(before - start, 1))
        shown = logs.log_text(read.data[: before - start] if read else b"", start, whole_head=start > 0)
        start = shown.start
        context.update(
            text=shown.text,
            error=error,
            earlier_url=_log_url(run, task, stream, view="earlier", before=start) if start > 0 else "",
            earlier_bytes=start,
        )
        return render(request, "runs/partials/log_earlier.html", context)

    if view == "follow":
        offset = max(_int_arg(request, "offset", 0), 0)
        read, error = _read(run, task=task, stream=stream, offset=offset, max_bytes=FOLLOW_BYTES)
        text, next_offset = "", offset
        if read is not None and read.data:
            shown = logs.log_text(read.data, read.offset, whole_tail=read.running)
            text, next_offset = shown.text, shown.end
        # A finished run is followed until a read brings nothing more, so its last lines are not missed.
        following = read is not None and (read.running or bool(text))
        context.update(
            text=text,
            error=error,
            read=read,
            following=following,
            follow_url=_log_url(run, task, stream, view="follow", offset=next_offset),
        )
        return render(request, "runs/partials/log_follow.html", context)

    read, error = _read(run, task=task, stream=stream, offset=-TAIL_BYTES, max_bytes=TAIL_BYTES)
    text, start, end = "", 0, 0
    if read is not None:
        # The tail begins at a line start so the first line is whole; "load earlier" brings the rest.
        shown = logs.log_tail_text(read)
        text, start, end = shown.text, shown.start, shown.end
    context.update(
        read=read,
        error=error,
        text=text,
        earlier_url=_log_url(run, task, stream, view="earlier", before=start) if start > 0 else "",
        earlier_bytes=start,
        following=read is not None and read.running,
        follow_url=_log_url(run, task, stream, view="follow", offset=end),
        download_url=reverse("runs:log_download", args=[run.pk]) + "?" + urlencode({"task": task, "stream": stream}),
        tab_urls=[(name, _log_url(run, task, name)) for name in logs.STREAMS],
        task_urls=[(name, _log_url(run, name, stream)) for name in logs.run_task_names(run)],
    )
    return render_page(request, "runs/run_log.html", "runs/partials/log_panel.html", context)


@viewer_required
@require_GET
def run_log_download(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The whole of one task stream as a text file."""
    run = _run_or_404(pk)
    task, stream = _log_params(request, run)

    def chunks() -> Iterator[bytes]:
        offset = 0
        while True:
            read, error = _read(run, task=task, stream=stream, offset=offset, max_bytes=DOWNLOAD_CHUNK)
            if read is None or not read.data or read.next_offset <= offset:
                return
            yield read.data
            offset = read.next_offset

    response = StreamingHttpResponse(chunks(), content_type="text/plain; charset=utf-8")
    name = f"{run.job.name}-{run.external_id}-{task}-{stream}.log".replace("/", "_")
    # quotes an ASCII name, and sends any other (non-ASCII, control characters such as CR/LF) as RFC 5987 UTF-8
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name) or "attachment"
    return response
