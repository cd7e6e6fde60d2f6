"""Execution pages (read-only: executions are kept in git and loaded with load-state)."""

from __future__ import annotations

import logging

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from striv.core.htmx import render_page
from striv.core.views import viewer_required
from striv.executions.models import Execution

logger = logging.getLogger(__name__)


@viewer_required
@require_GET
def execution_list(request: HttpRequest) -> HttpResponse:
    executions = Execution.objects.annotate(job_count=Count("jobs")).order_by("key")
    return render_page(
        request,
        "executions/execution_list.html",
        "executions/partials/execution_rows.html",
        {"executions": executions},
    )


@viewer_required
@require_GET
def execution_detail(request: HttpRequest, key: str) -> HttpResponse:
    """An execution: its template source, default params, driver and how many jobs use it."""
    execution = get_object_or_404(Execution.objects.annotate(job_count=Count("jobs")), key=key)
    return render_page(
        request,
        "executions/execution_detail.html",
        "executions/partials/execution_summary.html",
        {"execution": execution},
    )
