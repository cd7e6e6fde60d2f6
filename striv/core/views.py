"""Cross-cutting UI views and helpers: role checks, login, the dashboard."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from striv.core import roles
from striv.core.htmx import render_page
from striv.jobs.models import Job
from striv.runs import services as run_services
from striv.runs.models import Run

logger = logging.getLogger(__name__)

FAILING_STATUSES = (Run.Status.FAILED, Run.Status.LOST)
DASHBOARD_LIST_SIZE = 8
OUTCOME_ORDER = [Run.Status.SUCCESSFUL, Run.Status.FAILED, Run.Status.LOST, Run.Status.RUNNING, Run.Status.PENDING]
CHART_DAYS = 14


def role_required(role: str) -> Callable:
    """Decorate a view so that only users with ``role`` (or a higher one) reach it.

    Anonymous users are sent to the login page; logged-in users without the role get 403, so a viewer's write is
    refused by the server even when it is crafted by hand.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not roles.has_role(request.user, role):
                raise PermissionDenied(f"This needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


viewer_required = role_required(roles.VIEWER)
operator_required = role_required(roles.OPERATOR)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@viewer_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Home page: failing jobs, jobs out of sync, runs of the last 24 hours and a 14-day outcome chart."""
    now = timezone.now()
    failing = Job.objects.filter(latest_run_status__in=FAILING_STATUSES).select_related("execution")
    unsynced = Job.objects.exclude(sync_status=Job.SyncStatus.IN_SYNC).select_related("execution")
    last_day = run_services.runs_count_by_status(since=now - timedelta(hours=24))
    context = {
        "failing": failing.order_by("-latest_run_at", "name")[:DASHBOARD_LIST_SIZE],
        "failing_count": failing.count(),
        "unsynced": unsynced.order_by("name")[:DASHBOARD_LIST_SIZE],
        "unsynced_count": unsynced.count(),
        "last_day": [(status, status.label, last_day.get(status, 0)) for status in OUTCOME_ORDER],
        "last_day_total": sum(last_day.values()),
        "days": run_services.runs_outcomes_per_day(days=CHART_DAYS, now=now),
    }
    return render_page(request, "core/dashboard.html", "core/partials/dashboard_panels.html", context)
