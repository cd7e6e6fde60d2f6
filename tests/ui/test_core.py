"""Login, roles, toasts and the dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from striv.core.htmx import htmx_partial
from striv.jobs.models import Job
from striv.runs.models import Run
from striv.runs.selectors import runs_outcomes_per_day
from tests.factories import ExecutionFactory, JobFactory, make_user
from tests.ui.conftest import HTMX, logged_in, make_run

pytestmark = pytest.mark.django_db


def test_login_page_renders_a_labelled_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'for="id_username"' in html and 'for="id_password"' in html
    assert 'autocomplete="current-password"' in html


def test_login_with_good_password_lands_on_the_dashboard(client):
    make_user("otto", "operator")
    response = client.post(reverse("login"), {"username": "otto", "password": "correct horse battery"}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"Failing now" in response.content


def test_login_with_bad_password_is_refused_with_a_message(client):
    make_user("otto", "operator")
    response = client.post(reverse("login"), {"username": "otto", "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content


def test_anonymous_user_is_sent_to_the_login_page(client):
    for name in ("home", "jobs:list", "runs:list", "executions:list", "dimensions:list"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_user_without_a_role_is_refused():
    client = logged_in(User.objects.create_user("nobody", password="x"))
    assert client.get(reverse("home")).status_code == 403
    assert client.get(reverse("jobs:list")).status_code == 403


def test_logout_is_a_post_and_ends_the_session(viewer_client):
    response = viewer_client.post(reverse("logout"))
    assert response.status_code == 302
    assert viewer_client.get(reverse("home")).status_code == 302


def test_navigation_marks_the_current_section_and_shows_the_role(viewer_client):
    html = viewer_client.get(reverse("jobs:list")).content.decode()
    assert '<a href="/jobs/" aria-current="page">Jobs</a>' in html
    assert "viewer" in html
    assert 'href="#content"' in html  # skip link


def test_htmx_partial_is_false_for_boosted_and_history_requests(rf):
    from django_htmx.middleware import HtmxDetails

    def request(**headers):
        req = rf.get("/", **headers)
        req.htmx = HtmxDetails(req)
        return req

    assert htmx_partial(request(HTTP_HX_REQUEST="true"))
    assert not htmx_partial(request())
    assert not htmx_partial(request(HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true"))
    assert not htmx_partial(request(HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"))


def test_messages_render_as_toasts_in_a_live_region(operator_client, job):
    response = operator_client.post(reverse("jobs:push", args=[job.pk]), follow=True)
    html = response.content.decode()
    assert 'id="toasts"' in html and 'aria-live="polite"' in html
    assert "toast-success" in html


# --- dashboard ---------------------------------------------------------------------------------------------------


@pytest.fixture
def busy(db, clock):
    """Jobs and runs around `PINNED_NOW` (a Monday 09:30 UTC): runs 1-3 hours and 3 and 20 days old."""
    execution = ExecutionFactory()
    failing = JobFactory(
        name="failing job",
        execution=execution,
        latest_run_status="failed",
        latest_run_at=timezone.now(),
        sync_status=Job.SyncStatus.IN_SYNC,
    )
    lost = JobFactory(
        name="lost job",
        execution=execution,
        latest_run_status="lost",
        latest_run_at=timezone.now(),
        sync_status=Job.SyncStatus.IN_SYNC,
    )
    fine = JobFactory(
        name="fine job", execution=execution, latest_run_status="successful", sync_status=Job.SyncStatus.IN_SYNC
    )
    pending = JobFactory(name="pending job", execution=execution, sync_status=Job.SyncStatus.PENDING)
    make_run(failing, "failed", age=timedelta(hours=2))
    make_run(lost, "lost", age=timedelta(hours=3))
    make_run(fine, "successful", age=timedelta(hours=1))
    make_run(fine, "successful", age=timedelta(days=3))
    make_run(fine, "failed", age=timedelta(days=20))  # outside the chart
    return {"failing": failing, "lost": lost, "fine": fine, "pending": pending}


def test_dashboard_lists_failing_and_unsynced_jobs_with_links_to_filtered_lists(viewer_client, busy):
    response = viewer_client.get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "failing job" in html and "lost job" in html and "pending job" in html
    assert 'href="/jobs/?latest_run_status=failing"' in html
    assert 'href="/jobs/?sync_status=not_in_sync"' in html
    assert 'href="/runs/?last=24h&amp;status=failed"' in html
    assert response.context["failing_count"] == 2
    assert response.context["unsynced_count"] == 1
    assert dict((s, n) for s, _, n in response.context["last_day"]) == {
        "successful": 1,
        "failed": 1,
        "lost": 1,
        "stopped": 0,
        "disconnected": 0,
        "running": 0,
        "pending": 0,
    }


def test_dashboard_chart_is_svg_with_a_bar_per_day_linking_to_that_days_runs(viewer_client, busy):
    html = viewer_client.get(reverse("home")).content.decode()
    assert '<svg viewBox="0 0' in html and 'role="img"' in html
    assert 'href="/runs/?day=2025-05-30&amp;status=successful"' in html  # three days before Monday 2 June
    assert "Show the numbers" in html  # the same data as a table


def test_dashboard_htmx_request_gets_the_self_refreshing_panels(viewer_client, busy):
    response = viewer_client.get(reverse("home"), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="dashboard-panels"')
    assert "<html" not in html and 'hx-trigger="every 30s' in html


def test_runs_outcomes_per_day_counts_each_day_oldest_first(busy):
    days = runs_outcomes_per_day(days=14)
    assert len(days) == 14
    assert days[0].day == date(2025, 5, 20) and days[-1].day == date(2025, 6, 2)
    assert sum(day.total for day in days) == 4
    assert next(d for d in days if d.day == date(2025, 5, 30)).counts == {"successful": 1}


def test_runs_outcomes_per_day_follows_the_current_time_zone(busy, settings, clock):
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14
    clock.move_to(datetime(2025, 6, 2, 10, 30, tzinfo=UTC), tick=False)  # 00:30 on 3 June in Kiritimati
    Run.objects.all().delete()
    make_run(busy["fine"], "successful", age=timedelta(minutes=1))  # 10:29 UTC on 2 June, 00:29 on 3 June there
    days = runs_outcomes_per_day(days=2)
    assert [(day.day, day.total) for day in days] == [(date(2025, 6, 2), 0), (date(2025, 6, 3), 1)]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("home", []),
        ("jobs:list", []),
        ("jobs:create", []),
        ("jobs:detail", ["00000000-0000-4000-8000-000000000000"]),
        ("runs:list", []),
        ("runs:detail", [1]),
        ("runs:log", [1]),
        ("executions:list", []),
        ("dimensions:list", []),
    ],
)
def test_pages_have_an_anonymous_client_redirect_not_an_error(name, args):
    url = reverse(name, args=args)
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=" + url
