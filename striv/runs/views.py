"""Run pages: the run list, a run's detail, and its logs (tail, load earlier, follow, download)."""

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
from striv.drivers.base import DriverError
from striv.jobs.models import Job
from striv.runs import services
from striv.runs.models import Run

logger = logging.getLogger(__name__)

RUNS_PER_PAGE = 50
# The first view of a log shows its last bytes; "load earlier" fetches this much more each time.
TAIL_BYTES = 64 * 1024
EARLIER_BYTES = 64 * 1024
FOLLOW_BYTES = 256 * 1024
DOWNLOAD_CHUNK = services.MAX_MAX_BYTES


LAST_CHOICES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "14d": timedelta(days=14)}


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Run.Status.choices], required=False)
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
    runs = Run.objects.select_related("job")
    job = None
    if filters.is_bound and filters.is_valid():
        data = filters.cleaned_data
        if data["status"]:
            runs = runs.filter(status=data["status"])
        if data["last"]:
            runs = runs.filter(created__gte=timezone.now() - LAST_CHOICES[data["last"]])
        if data["day"]:
            start, end = services.day_bounds(data["day"])
            runs = runs.filter(created__gte=start, created__lt=end)
        if data["job"]:
            job = Job.objects.filter(pk=data["job"]).first()
            runs = runs.filter(job_id=data["job"])
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
    tasks = services.run_task_names(run)
    context = {"run": run, "job": run.job, "tasks": tasks, "task": tasks[0] if tasks else ""}
    return render_page(request, "runs/run_detail.html", "runs/partials/run_summary.html", context)


# --- logs --------------------------------------------------------------------------------------------------------


def utf8_head_skip(data: bytes) -> int:
    """How many leading bytes continue a character cut off before them (0-3)."""
    count = 0
    while count < min(3, len(data)) and data[count] & 0xC0 == 0x80:
        count += 1
    return count


def utf8_tail_cut(data: bytes) -> int:
    """How many trailing bytes start a character whose remaining bytes are not there yet (0-3)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead byte
        if byte < 0x80:
            return 0
        needed = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
        return back if back < needed else 0
    return 0


def _log_params(request: HttpRequest, run: Run) -> tuple[str, str]:
    tasks = services.run_task_names(run)
    task = request.GET.get("task") or (tasks[0] if tasks else "")
    stream = request.GET.get("stream") or "stdout"
    if stream not in services.STREAMS or (tasks and task not in tasks):
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


def _read(run: Run, **kwargs: Any) -> tuple[services.LogRead | None, str]:
    try:
        return services.run_logs_read(run=run, **kwargs), ""
    except services.LogRequestError as exc:
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
    context: dict[str, Any] = {"run": run, "task": task, "stream": stream, "tasks": services.run_task_names(run)}
    context["streams"] = services.STREAMS

    if view == "earlier":
        before = max(_int_arg(request, "before", 0), 0)
        start = max(before - EARLIER_BYTES, 0)
        read, error = _read(run, task=task, stream=stream, offset=start, max_bytes=max(before - start, 1))
        data = read.data[: before - start] if read else b""
        skip = utf8_head_skip(data) if start > 0 else 0
        start += skip
        context.update(
            text=data[skip:].decode("utf-8", errors="replace"),
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
            data = read.data
            cut = utf8_tail_cut(data) if read.running else 0
            data = data[: len(data) - cut]
            text = data.decode("utf-8", errors="replace")
            next_offset = read.offset + len(data)
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
        data, start = read.data, read.offset
        if start > 0:
            skip = utf8_head_skip(data)
            # Begin the tail at a line start so the first line is whole; "load earlier" brings the rest.
            newline = data.find(b"\n", skip, skip + 4096)
            skip = newline + 1 if newline >= 0 else skip
            data, start = data[skip:], start + skip
        cut = utf8_tail_cut(data) if read.running else 0
        data = data[: len(data) - cut]
        end = start + len(data)
        text = data.decode("utf-8", errors="replace")
    context.update(
        read=read,
        error=error,
        text=text,
        earlier_url=_log_url(run, task, stream, view="earlier", before=start) if start > 0 else "",
        earlier_bytes=start,
        following=read is not None and read.running,
        follow_url=_log_url(run, task, stream, view="follow", offset=end),
        download_url=reverse("runs:log_download", args=[run.pk]) + "?" + urlencode({"task": task, "stream": stream}),
        tab_urls=[(name, _log_url(run, task, name)) for name in services.STREAMS],
        task_urls=[(name, _log_url(run, name, stream)) for name in services.run_task_names(run)],
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
