"""htmx helpers shared by the UI views: one URL, two renderings (a full page, or the partial htmx swaps in)."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect

logger = logging.getLogger(__name__)


def htmx_partial(request: HttpRequest) -> bool:
    """True when the request comes from htmx and wants a fragment.

    Boosted links and history restores want the whole page, so they get the full rendering.
    """
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest, page: str, partial: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """Render ``partial`` for htmx requests and ``page`` (which includes it) otherwise."""
    return render(request, partial if htmx_partial(request) else page, context, status=status)


def redirect_after_post(request: HttpRequest, url: str) -> HttpResponse:
    """Send the browser to ``url`` after a change: a full navigation for htmx (so toasts show), a 303 otherwise."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response
