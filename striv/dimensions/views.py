"""Dimension pages (read-only: dimensions are kept in git and loaded with load-state)."""

from __future__ import annotations

import logging

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from striv.core.htmx import render_page
from striv.core.views import viewer_required
from striv.dimensions.models import Dimension, DimensionValue

logger = logging.getLogger(__name__)


@viewer_required
@require_GET
def dimension_list(request: HttpRequest) -> HttpResponse:
    dimensions = Dimension.objects.annotate(
        value_count=Count("values", distinct=True), job_count=Count("values__job_values__job", distinct=True)
    ).order_by("priority", "key")
    return render_page(
        request, "dimensions/dimension_list.html", "dimensions/partials/dimension_rows.html", {"dimensions": dimensions}
    )


@viewer_required
@require_GET
def dimension_detail(request: HttpRequest, key: str) -> HttpResponse:
    """A dimension: its priority, and each value with its params and how many jobs use it."""
    dimension = get_object_or_404(
        Dimension.objects.annotate(job_count=Count("values__job_values__job", distinct=True)), key=key
    )
    values = DimensionValue.objects.filter(dimension=dimension).annotate(job_count=Count("job_values")).order_by("key")
    context = {"dimension": dimension, "values": values}
    return render_page(request, "dimensions/dimension_detail.html", "dimensions/partials/value_rows.html", context)
