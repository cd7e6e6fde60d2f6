"""A job's life in the browser: create it with a live preview, see it pushed, run it, read its logs, edit, delete."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from striv.jobs import services
from striv.jobs.models import Job
from striv.runs.models import Run
from striv.runs.refresh import runs_refresh
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package").expect


def nomad_id(job: Job) -> str:
    return f"striv-{job.pk}"


#: A Friday morning: the next five daily launches span a weekend, whatever the day the tests run on.
FRIDAY_MORNING = datetime(2025, 6, 6, 10, 0, tzinfo=UTC)


def row(page, index: int):
    return page.locator("#param-rows tr").nth(index)


def test_operator_creates_runs_follows_edits_and_deletes_a_job(clock, new_page, users, live_estate, nomad, shoot):
    clock.move_to(FRIDAY_MORNING, tick=False)
    live_estate.gold.params = {**live_estate.gold.params, "cron": "0 2 * * *"}
    live_estate.gold.save()
    page = new_page()
    log_in(page, "otto")

    # Create: choose dimension values, watch the preview take their params.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    page.get_by_role("link", name="New job").click()
    # htmx binds the form's triggers once the page has loaded; typing earlier would send nothing.
    page.wait_for_load_state()
    page.get_by_label("Name", exact=True).fill("acme nightly import")
    page.get_by_label("Execution").select_option("greeter")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Next launches")
    expect(preview.locator("tr", has_text="greeting")).to_contain_text("hello")
    page.get_by_label("Customer").select_option("acme")
    expect(preview.locator("tr", has_text="greeting")).to_contain_text("hi acme")
    expect(preview.locator("tr", has_text="greeting")).to_contain_text("customer = acme")
    page.get_by_label("Service level").select_option("gold")
    expect(preview.locator("tr", has_text="env.LEVEL")).to_contain_text("gold")
    # The gold level's cron moves launches to 02:00 every day.
    launch_days = ("Sat Jun 7", "Sun Jun 8", "Mon Jun 9", "Tue Jun 10", "Wed Jun 11")
    expect(preview.locator("ol.launches li")).to_have_text([f"{day} 2025, 02:00 UTC" for day in launch_days])

    # A job param overrides the dimension's, and the preview says so as the user types.
    row(page, 0).locator("input[name=param_key]").fill("greeting")
    row(page, 0).locator("input[name=param_value]").fill("good morning")
    expect(preview.locator("tr", has_text="greeting")).to_contain_text("good morning")
    expect(preview.locator("tr", has_text="greeting")).to_contain_text("job")

    # A secret param: encrypted, shown only as "secret, set".
    page.get_by_role("button", name="+ Add param").click()
    expect(page.locator("#param-rows tr")).to_have_count(2)
    row(page, 1).locator("input[name=param_key]").fill("env.API_TOKEN")
    row(page, 1).locator("select[name=param_type]").select_option("secret")
    expect(row(page, 1).locator("input[type=password]")).to_be_visible()
    row(page, 1).locator("input[name=param_value]").fill("s3cret-token")
    expect(preview.locator("tr", has_text="env.API_TOKEN")).to_contain_text("secret, set")
    expect(preview).not_to_contain_text("s3cret-token")

    # A bad param is flagged next to its row, and the preview recovers once it is fixed.
    page.get_by_role("button", name="+ Add param").click()
    row(page, 2).locator("input[name=param_key]").fill("retries")
    row(page, 2).locator("select[name=param_type]").select_option("number")
    row(page, 2).locator("input[name=param_value]").fill("three")
    expect(row(page, 2).locator(".field-error")).to_contain_text("Enter a number")
    row(page, 2).locator("input[name=param_value]").fill("3")
    expect(row(page, 2).locator(".field-error")).to_be_empty()
    expect(preview.locator("tr", has_text="retries")).to_contain_text("3")
    shoot(page, "job-form", full_page=True)

    page.get_by_role("button", name="Create job").click()
    expect(page.locator("#toasts")).to_contain_text("pushed it to the cluster")
    job = Job.objects.get(name="acme nightly import")
    held = nomad.job(nomad_id(job))
    task = held["TaskGroups"][0]["Tasks"][0]
    assert task["Env"]["API_TOKEN"] == "s3cret-token"  # cleartext only on the cluster
    assert task["Config"]["args"] == ["good morning"]
    assert "s3cret-token" not in json.dumps(job.params) and "s3cret-token" not in page.content()
    expect(page.locator("#job-summary")).to_contain_text("In sync")
    expect(page.locator("#job-plan")).to_contain_text("No changes")

    # The job list shows it with its dimension values and sync state.
    services.job_create(name="globex weekly", execution=live_estate.execution, values=[live_estate.globex], params={})
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    listed = page.locator("#job-rows tr", has_text="acme nightly import")
    expect(listed).to_contain_text("acme")
    expect(listed).to_contain_text("gold")
    expect(listed).to_contain_text("In sync")
    page.wait_for_load_state()  # the filters' live triggers are bound on load
    page.get_by_label("Name", exact=True).fill("acme")
    expect(page.locator("#job-rows tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"search=acme"))
    page.get_by_label("Name", exact=True).fill("")
    expect(page.locator("#job-rows tbody tr")).to_have_count(2)
    shoot(page, "job-list")

    # Run now; the emulator ends the run with output on stderr; the refresher finds it.
    page.get_by_role("link", name="acme nightly import").click()
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#toasts")).to_contain_text("Started a run")
    child = nomad.children(nomad_id(job))[-1]
    alloc = nomad.alloc_ids(child)[0]
    nomad.alloc_run(alloc)
    nomad.alloc_finish(
        alloc,
        "failed",
        exit_code=3,
        stdout=b"importing 120 records\n",
        stderr=b"error: upstream refused the connection\n",
    )
    runs_refresh()
    page.reload()
    runs = page.locator("#run-rows")
    expect(runs).to_contain_text("Failed")
    runs.get_by_role("link").first.click()
    expect(page.locator("#run-summary")).to_contain_text("Failed")
    expect(page.locator("#run-summary")).to_contain_text("3")
    expect(page.locator("#log-text")).to_contain_text("importing 120 records")
    page.get_by_role("tab", name="stderr").click()
    expect(page.get_by_role("tab", name="stderr")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#log-text")).to_contain_text("error: upstream refused the connection")
    expect(page.locator("#log-banner")).to_contain_text(re.compile("Archived|Live"))
    shoot(page, "run-detail")

    # Follow a running run: new lines are appended as they arrive, each once. (Launched a minute ahead so that its
    # Nomad ID, which carries the launch second, cannot be the forced run's.)
    child = nomad.launch(nomad_id(job), int(time.time()) + 60)
    alloc = nomad.alloc_ids(child)[0]
    nomad.alloc_run(alloc)
    nomad.alloc_append_log(alloc, "run", "stdout", b"step 1 of 3\n")
    runs_refresh()
    running = Run.objects.get(job=job, status=Run.Status.RUNNING)
    page.goto(f"/runs/{running.pk}/")
    log = page.locator("#log-text")
    expect(log).to_contain_text("step 1 of 3")
    expect(page.locator("#log-banner")).to_contain_text("Live")
    expect(page.get_by_label("Follow")).to_be_checked()
    nomad.alloc_append_log(alloc, "run", "stdout", b"step 2 of 3\n")
    expect(log).to_contain_text("step 2 of 3")
    nomad.alloc_append_log(alloc, "run", "stdout", b"step 3 of 3\n")
    expect(log).to_contain_text("step 3 of 3")
    assert log.inner_text().count("step 1 of 3") == 1
    shoot(page, "run-follow")
    nomad.alloc_finish(alloc, "complete", stdout=b"done\n")
    runs_refresh()
    expect(log).to_contain_text("done")
    expect(page.locator("#log-follow")).to_contain_text("finished")
    expect(page.locator("#run-summary")).to_contain_text("Successful")
    assert log.inner_text().count("step 2 of 3") == 1

    # Edit a param and see the plan against the cluster before saving.
    page.goto(f"/jobs/{job.pk}/")
    page.get_by_role("link", name="Edit").click()
    greeting = page.locator("#param-rows tr", has=page.locator("input[value=greeting]"))
    greeting.locator("input[name=param_value]").fill("good evening")
    expect(page.locator("#preview tr", has_text="greeting")).to_contain_text("good evening")
    expect(page.locator("#param-rows")).to_contain_text("secret, set")
    page.get_by_role("button", name="Compare with cluster").click()
    plan = page.locator("#job-plan")
    expect(plan).to_contain_text("Changes")
    expect(plan).to_contain_text("good evening")
    expect(plan).not_to_contain_text("s3cret-token")
    plan.scroll_into_view_if_needed()
    shoot(page, "job-edit-plan")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#toasts")).to_contain_text("pushed it to the cluster")
    assert nomad.job(nomad_id(job))["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["good evening"]
    assert nomad.job(nomad_id(job))["TaskGroups"][0]["Tasks"][0]["Env"]["API_TOKEN"] == "s3cret-token"
    shoot(page, "job-detail", full_page=True)

    # Delete, with a confirmation.
    page.get_by_role("link", name="Delete").click()
    dialog = page.locator("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete acme nightly import?")
    dialog.get_by_role("button", name="Delete the job").click()
    expect(page.locator("#toasts")).to_contain_text("Deleted acme nightly import")
    assert nomad.job(nomad_id(job)) is None
    assert not Job.objects.filter(pk=job.pk).exists()


def test_bulk_run_asks_for_confirmation_naming_the_number_of_jobs(new_page, users, live_estate):
    for name in ("a one", "a two", "b three"):
        services.job_create(name=name, execution=live_estate.execution, params={})
    page = new_page()
    log_in(page, "otto")
    page.goto("/jobs/")
    page.get_by_label("Select a one").check()
    page.get_by_label("Select a two").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.locator("#bulk-form").get_by_role("button", name="Run now").click()
    dialog = page.locator("dialog")
    expect(dialog).to_contain_text("Run now 2 jobs?")
    dialog.get_by_role("button", name="Run now 2 jobs").click()
    expect(page.locator("#toasts")).to_contain_text("Started 2 runs")


def test_viewer_sees_no_edit_buttons_and_cannot_write(new_page, users, live_estate):
    job = services.job_create(
        name="acme nightly", execution=live_estate.execution, values=[live_estate.acme], params={}
    ).job
    page = new_page()
    log_in(page, "vera")
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("h1")).to_have_text("acme nightly")
    for name in ("Edit", "Delete"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    expect(page.get_by_role("button", name="Run now")).to_have_count(0)
    expect(page.get_by_role("button", name="Push again")).to_have_count(0)
    page.goto("/jobs/")
    expect(page.get_by_role("link", name="New job")).to_have_count(0)
    expect(page.locator("[data-select-row]")).to_have_count(0)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(f"/jobs/{job.pk}/delete/", headers={"X-CSRFToken": token, "Referer": page.url})
    assert response.status == 403
    assert page.goto(f"/jobs/{job.pk}/edit/").status == 403
    assert Job.objects.filter(pk=job.pk).exists()


def test_dashboard_shows_failing_jobs_and_the_outcome_chart(clock, new_page, users, live_estate, shoot):
    """Also the source of the dashboard, executions and dimensions screenshots."""
    jobs = [
        services.job_create(
            name=f"{customer} {kind}", execution=live_estate.execution, values=[live_estate.value(customer)], params={}
        ).job
        for customer in ("acme", "globex")
        for kind in ("nightly import", "weekly export", "hourly sync")
    ]
    now = timezone.now()
    pattern = ["successful"] * 6 + ["failed", "successful", "lost", "successful"]
    for day in range(14):
        for index, job in enumerate(jobs):
            status = pattern[(day * 3 + index) % len(pattern)] if day % 4 else "successful"
            created = now - timedelta(days=day, hours=index + 1)
            Run.objects.create(
                job=job,
                external_id=f"{job.pk}/{day}",
                status=status,
                created=created,
                started=created,
                finished=created + timedelta(minutes=3 + index),
                exit_code=0 if status == "successful" else 1,
            )
    Job.objects.filter(pk=jobs[1].pk).update(latest_run_status="failed", latest_run_at=now - timedelta(hours=2))
    Job.objects.filter(pk=jobs[4].pk).update(latest_run_status="lost", latest_run_at=now - timedelta(hours=5))
    Job.objects.filter(pk=jobs[5].pk).update(sync_status=Job.SyncStatus.PENDING, sync_error="Nomad unreachable")
    page = new_page()
    log_in(page, "otto")
    expect(page.locator("#failing-title")).to_be_visible()
    expect(page.locator(".card", has_text="Failing now")).to_contain_text("acme weekly export")
    expect(page.locator(".card", has_text="Out of sync")).to_contain_text("globex hourly sync")
    expect(page.locator(".chart svg rect")).not_to_have_count(0)
    shoot(page, "dashboard", full_page=True)
    page.locator(".card", has_text="Failing now").get_by_role("link", name=re.compile("failing jobs")).click()
    expect(page.locator("#job-rows tbody tr")).to_have_count(2)
    page.goto("/executions/greeter/")
    shoot(page, "execution-detail", full_page=True)
    page.goto("/dimensions/customer/")
    shoot(page, "dimension-detail")
    page.set_viewport_size({"width": 820, "height": 1180})
    page.goto("/jobs/")
    shoot(page, "job-list-tablet")
