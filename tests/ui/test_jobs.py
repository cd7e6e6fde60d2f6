"""Job pages: list and filters, bulk actions, the form with its live preview, detail, plan, run now, delete."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from striv.core import keys
from striv.jobs import services
from striv.jobs import sync as job_sync
from striv.jobs.models import Job
from striv.runs.models import Run
from tests.factories import DimensionValueFactory, ExecutionFactory, JobFactory
from tests.ui.conftest import HTMX, make_run

pytestmark = pytest.mark.django_db


def nomad_id(job: Job) -> str:
    return f"striv-{job.pk}"


def form_data(nomad_estate, **overrides) -> dict:
    """A job form submission: name, execution, dimension values and params rows (key, type, value)."""
    rows = overrides.pop("rows", [("greeting", "text", "good morning")])
    data = {
        "name": "acme nightly",
        "execution": nomad_estate.execution.key,
        "dim_customer": "acme",
        "dim_level": "gold",
        "param_row": [f"r{i}" for i in range(len(rows))],
        "param_key": [row[0] for row in rows],
        "param_type": [row[1] for row in rows],
        "param_value": [row[2] for row in rows],
        "param_enc": [row[3] if len(row) > 3 else "" for row in rows],
    }
    data.update(overrides)
    return data


# --- list --------------------------------------------------------------------------------------------------------


@pytest.fixture
def listed(nomad_estate):
    """Four jobs spread over customers, statuses and sync states."""
    other = ExecutionFactory(key="other", driver_config=nomad_estate.execution.driver_config)
    jobs = {
        "a": JobFactory(
            name="acme import",
            execution=nomad_estate.execution,
            latest_run_status="failed",
            latest_run_at=timezone.now(),
            sync_status=Job.SyncStatus.IN_SYNC,
        ),
        "b": JobFactory(
            name="acme export",
            execution=nomad_estate.execution,
            latest_run_status="successful",
            sync_status=Job.SyncStatus.PENDING,
        ),
        "c": JobFactory(
            name="globex import", execution=other, latest_run_status="lost", sync_status=Job.SyncStatus.IN_SYNC
        ),
        "d": JobFactory(name="globex export", execution=other, sync_status=Job.SyncStatus.OUT_OF_SYNC),
    }
    for key in ("a", "b"):
        jobs[key].job_values.create(dimension=nomad_estate.customer, value=nomad_estate.acme)
    jobs["a"].job_values.create(dimension=nomad_estate.level, value=nomad_estate.gold)
    for key in ("c", "d"):
        jobs[key].job_values.create(dimension=nomad_estate.customer, value=nomad_estate.globex)
    return jobs


def names(response) -> list[str]:
    return [job.name for job, _ in response.context["rows"]]


def test_job_list_shows_dimension_values_latest_run_next_launch_and_sync(viewer_client, listed):
    Job.objects.filter(pk=listed["a"].pk).update(spec={"Periodic": {"Spec": "0 3 * * *"}})
    response = viewer_client.get(reverse("jobs:list"))
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(
        r'<tr>\s*<td><a class="strong" href="/jobs/' + str(listed["a"].pk) + r'/">acme import.*?</tr>', html, re.S
    ).group(0)
    assert "customer</span> acme" in row and "level</span> gold" in row
    assert "run-failed" in row and "ago" in row
    assert "03:00" in row
    assert "In sync" in row
    assert names(response) == ["acme export", "acme import", "globex export", "globex import"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("search=IMPORT", ["acme import", "globex import"]),
        ("execution=other", ["globex export", "globex import"]),
        ("dimension=customer:acme", ["acme export", "acme import"]),
        ("dimension=customer:acme&dimension=level:gold", ["acme import"]),
        ("latest_run_status=failing", ["acme import", "globex import"]),
        ("latest_run_status=successful", ["acme export"]),
        ("latest_run_status=none", ["globex export"]),
        ("sync_status=not_in_sync", ["acme export", "globex export"]),
        ("sync_status=pending", ["acme export"]),
        ("search=export&dimension=customer:globex", ["globex export"]),
    ],
)
def test_job_list_filters_come_from_the_url(viewer_client, listed, query, expected):
    response = viewer_client.get(reverse("jobs:list") + "?" + query)
    assert names(response) == expected


def test_job_list_htmx_request_gets_only_the_rows(viewer_client, listed):
    response = viewer_client.get(reverse("jobs:list") + "?search=acme", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="job-rows">')
    assert "<html" not in html and 'id="job-filters"' not in html
    assert "acme import" in html and "globex" not in html
    assert 'name="next" value="/jobs/?search=acme"' in html  # bulk actions come back to the filtered view


def test_job_list_paginates_keeping_the_filters_in_page_links(viewer_client, nomad_estate):
    for index in range(55):
        JobFactory(name=f"job {index:02d}", execution=nomad_estate.execution)
    response = viewer_client.get(reverse("jobs:list") + "?search=job")
    assert len(response.context["rows"]) == 50
    assert 'href="?search=job&amp;page=2"' in response.content.decode()
    response = viewer_client.get(reverse("jobs:list") + "?search=job&page=2")
    assert len(response.context["rows"]) == 5


def test_job_list_says_when_nothing_matches(viewer_client, listed):
    html = viewer_client.get(reverse("jobs:list") + "?search=nothing-like-this").content.decode()
    assert "No job matches these filters" in html


def test_viewer_sees_no_new_job_button_and_no_bulk_selection(viewer_client, listed):
    response = viewer_client.get(reverse("jobs:list"))
    assert response.status_code == 200 and set(names(response)) == {job.name for job in listed.values()}
    html = response.content.decode()
    assert "New job" not in html and 'name="ids"' not in html and "Run now" not in html


def test_operator_sees_bulk_selection_with_labelled_checkboxes(operator_client, listed):
    html = operator_client.get(reverse("jobs:list")).content.decode()
    assert 'aria-label="Select acme import"' in html and "data-select-all" in html
    assert 'href="/jobs/new/"' in html


# --- bulk actions ------------------------------------------------------------------------------------------------


def test_bulk_action_first_asks_for_confirmation_naming_how_many_jobs(operator_client, job, nomad_estate):
    other = services.job_create(name="globex nightly", execution=nomad_estate.execution, params={}).job
    data = {"action": "delete", "ids": [job.pk, other.pk], "next": "/jobs/?search=a"}
    response = operator_client.post(reverse("jobs:bulk"), data)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Delete 2 jobs?" in html and "globex nightly" in html
    assert 'name="confirmed" value="1"' in html
    partial = operator_client.post(reverse("jobs:bulk"), data, **HTMX).content.decode()
    assert "<html" not in partial and "Delete 2 jobs?" in partial
    assert Job.objects.count() == 2


def test_bulk_delete_after_confirmation_removes_jobs_from_striv_and_nomad(operator_client, job, nomad_estate, nomad):
    other = services.job_create(name="globex nightly", execution=nomad_estate.execution, params={}).job
    data = {"action": "delete", "ids": [job.pk, other.pk], "confirmed": "1", "next": "/jobs/?search=a"}
    response = operator_client.post(reverse("jobs:bulk"), data, follow=True)
    assert response.redirect_chain[0] == ("/jobs/?search=a", 303)
    assert "Deleted 2 jobs." in response.content.decode()
    assert not Job.objects.exists()
    assert nomad.job(nomad_id(job)) is None and nomad.job(nomad_id(other)) is None


def test_bulk_run_now_starts_a_run_of_each_job(operator_client, job, nomad_estate, nomad):
    other = services.job_create(name="globex nightly", execution=nomad_estate.execution, params={}).job
    response = operator_client.post(
        reverse("jobs:bulk"), {"action": "run", "ids": [job.pk, other.pk], "confirmed": "1"}, follow=True
    )
    assert "Started 2 runs." in response.content.decode()
    assert len(nomad.children(nomad_id(job))) == 1 and len(nomad.children(nomad_id(other))) == 1


def test_bulk_action_via_htmx_redirects_the_whole_page(operator_client, job):
    response = operator_client.post(
        reverse("jobs:bulk"), {"action": "run", "ids": [job.pk], "confirmed": "1", "next": "/jobs/"}, **HTMX
    )
    assert response["HX-Redirect"] == "/jobs/"


def test_bulk_action_without_selection_says_so(operator_client, job):
    response = operator_client.post(reverse("jobs:bulk"), {"action": "run"}, follow=True)
    assert "Select jobs first." in response.content.decode()


def test_bulk_action_refuses_a_foreign_next_url(operator_client, job):
    response = operator_client.post(
        reverse("jobs:bulk"), {"action": "run", "ids": [job.pk], "confirmed": "1", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/jobs/"


# --- create and edit ---------------------------------------------------------------------------------------------


def test_new_job_form_has_a_select_per_dimension_with_none_and_a_params_editor(operator_client, nomad_estate):
    response = operator_client.get(reverse("jobs:create"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="dim_customer"' in html and 'name="dim_level"' in html
    assert '<option value="" selected>none</option>' in html
    assert 'name="param_key"' in html and '<option value="secret">Secret</option>' in html
    assert 'hx-post="/jobs/preview/"' in html and "delay:500ms" in html
    assert 'aria-live="polite"' in html


def test_create_saves_pushes_and_says_so(operator_client, nomad_estate, nomad):
    response = operator_client.post(reverse("jobs:create"), form_data(nomad_estate), follow=True)
    job = Job.objects.get()
    assert response.redirect_chain == [(f"/jobs/{job.pk}/", 303)]
    assert "Created acme nightly and pushed it to the cluster." in response.content.decode()
    assert job.params == {"greeting": "good morning"}
    assert {v.key for v in job.values.all()} == {"acme", "gold"}
    assert nomad.job(nomad_id(job))["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["good morning"]


def test_create_parses_each_param_type(operator_client, nomad_estate):
    rows = [
        ("greeting", "text", "42"),
        ("retries", "number", "3"),
        ("ratio", "number", "0.5"),
        ("dry_run", "boolean", "true"),
        ("extra", "json", '{"a": [1, 2]}'),
        ("env.TOKEN", "secret", "hunter2"),
        ("", "text", ""),  # a blank row is ignored
    ]
    operator_client.post(reverse("jobs:create"), form_data(nomad_estate, rows=rows))
    params = Job.objects.get().params
    assert params["greeting"] == "42" and params["retries"] == 3 and params["ratio"] == 0.5
    assert params["dry_run"] is True and params["extra"] == {"a": [1, 2]}
    assert params["env.TOKEN"]["_striv_type"] == "secret"
    assert keys.decrypt(params["env.TOKEN"]["encrypted"]) == "hunter2"
    assert "hunter2" not in json.dumps(params)


def test_secret_is_pushed_in_cleartext_and_shown_only_as_secret_set(operator_client, nomad_estate, nomad):
    rows = [("env.TOKEN", "secret", "hunter2")]
    response = operator_client.post(reverse("jobs:create"), form_data(nomad_estate, rows=rows), follow=True)
    job = Job.objects.get()
    assert nomad.job(nomad_id(job))["TaskGroups"][0]["Tasks"][0]["Env"]["TOKEN"] == "hunter2"
    html = response.content.decode()
    assert "hunter2" not in html and "secret, set" in html
    edit = operator_client.get(reverse("jobs:edit", args=[job.pk])).content.decode()
    assert "hunter2" not in edit and "secret, set" in edit


def test_wrong_rows_are_refused_with_the_error_next_to_the_row(operator_client, nomad_estate):
    rows = [("extra", "json", "{not json"), ("retries", "number", "three"), ("bad key", "text", "x")]
    response = operator_client.post(reverse("jobs:create"), form_data(nomad_estate, rows=rows))
    assert response.status_code == 422
    html = response.content.decode()
    assert re.search(r'id="err-row-r0".*Not valid JSON', html, re.S)
    assert re.search(r'id="err-row-r1".*Enter a number', html, re.S)
    assert re.search(r'id="err-row-r2".*A name starts with a letter', html, re.S)
    assert 'value="{not json"' not in html  # textarea content, not an attribute
    assert "{not json" in html  # the user's input is kept
    assert not Job.objects.exists()


def test_a_new_secret_survives_a_refused_save_as_ciphertext_only(operator_client, nomad_estate):
    rows = [("env.TOKEN", "secret", "hunter2"), ("retries", "number", "x")]
    response = operator_client.post(reverse("jobs:create"), form_data(nomad_estate, rows=rows))
    html = response.content.decode()
    assert "hunter2" not in html and "secret, set" in html
    encrypted = re.search(r'name="param_enc" value="([^"]+)"', html).group(1)
    assert keys.decrypt(encrypted) == "hunter2"


def test_missing_name_and_execution_are_reported_next_to_the_fields(operator_client, nomad_estate):
    response = operator_client.post(reverse("jobs:create"), form_data(nomad_estate, name="", execution=""))
    html = response.content.decode()
    assert response.status_code == 422
    assert re.search(r'id="err-name".*This field is required', html, re.S)
    assert re.search(r'id="err-execution".*This field is required', html, re.S)


def test_a_bad_dimension_value_param_is_reported_next_to_its_dimension(operator_client, nomad_estate):
    DimensionValueFactory(dimension=nomad_estate.customer, key="broken", params={"bad key": 1})
    response = operator_client.post(reverse("jobs:create"), form_data(nomad_estate, dim_customer="broken"))
    html = response.content.decode()
    assert response.status_code == 422
    assert re.search(r'id="err-dim_customer".*bad key', html, re.S)


def test_a_template_error_is_reported_next_to_the_execution_with_its_line(operator_client, nomad_estate):
    nomad_estate.execution.payload_template = "{\n  a: params.nope,\n}"
    nomad_estate.execution.save()
    html = operator_client.post(reverse("jobs:create"), form_data(nomad_estate)).content.decode()
    match = re.search(r'id="err-execution" class="field-error"><span role="alert">([^<]*)<', html)
    assert match, html
    message = "template of execution greeter failed at line 2, column 6: Field does not exist: nope"
    assert unescape(match.group(1)) == message


def test_a_bad_schedule_is_refused_with_its_message(operator_client, nomad_estate):
    html = operator_client.post(
        reverse("jobs:create"), form_data(nomad_estate, rows=[("cron", "text", "every full moon")])
    ).content.decode()
    assert re.search(r'role="alert"[^>]*>\s*<p>[^<]*Invalid cron spec &quot;every full moon&quot;', html)
    assert not Job.objects.exists()


def test_a_refusal_by_the_cluster_saves_nothing_and_shows_its_reason(operator_client, nomad_estate):
    nomad_estate.execution.payload_template = nomad_estate.execution.payload_template.replace(
        "Type: 'batch',", "Type: 'batch', Priority: std.get(params, 'priority', 50),"
    )
    nomad_estate.execution.save()
    response = operator_client.post(
        reverse("jobs:create"), form_data(nomad_estate, rows=[("priority", "number", "500")])
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert re.search(r'id="err-general">\s*<p>The cluster refused the job: [^<]*priority must be between', html)
    assert not Job.objects.exists()


def test_save_with_the_cluster_down_is_kept_pending_with_the_clusters_error(operator_client, nomad_estate, nomad):
    nomad.down()
    response = operator_client.post(reverse("jobs:create"), form_data(nomad_estate), follow=True)
    html = response.content.decode()
    assert "but the push is pending" in html and "unreachable" in html.lower()
    assert Job.objects.get().sync_status == Job.SyncStatus.PENDING


def test_edit_form_shows_stored_params_by_type(operator_client, nomad_estate):
    job = services.job_create(
        name="x",
        execution=nomad_estate.execution,
        params={"greeting": "hi", "retries": 2, "dry_run": False, "extra": {"a": 1}, "tok": keys.encrypt("s")},
    ).job
    html = operator_client.get(reverse("jobs:edit", args=[job.pk])).content.decode()
    assert 'value="greeting"' in html and 'value="hi"' in html
    assert re.search(r'value="retries".*?<option value="number" selected>', html, re.S)
    assert re.search(r'value="dry_run".*?<option value="false" selected>', html, re.S)
    assert re.search(r'value="extra".*?<textarea[^>]*>\{\n  &quot;a&quot;: 1\n\}</textarea>', html, re.S)
    assert 'name="version"' in html and f'value="{job.version}"' in html


def test_edit_keeps_a_secret_left_blank_and_replaces_one_typed_again(operator_client, nomad_estate, nomad):
    job = services.job_create(name="x", execution=nomad_estate.execution, params={"env.TOKEN": keys.encrypt("old")}).job
    stored = job.params["env.TOKEN"]["encrypted"]
    data = form_data(
        nomad_estate,
        name="x",
        rows=[("env.TOKEN", "secret", "", stored), ("greeting", "text", "yo")],
        version=str(job.version),
    )
    operator_client.post(reverse("jobs:edit", args=[job.pk]), data)
    job.refresh_from_db()
    assert job.params["env.TOKEN"]["encrypted"] == stored and job.params["greeting"] == "yo"
    data = form_data(nomad_estate, name="x", rows=[("env.TOKEN", "secret", "new", stored)], version=str(job.version))
    operator_client.post(reverse("jobs:edit", args=[job.pk]), data)
    job.refresh_from_db()
    assert keys.decrypt(job.params["env.TOKEN"]["encrypted"]) == "new"
    assert nomad.job(nomad_id(job))["TaskGroups"][0]["Tasks"][0]["Env"]["TOKEN"] == "new"


def test_unchanged_save_says_the_cluster_already_had_it(operator_client, job, nomad_estate):
    data = form_data(nomad_estate, name=job.name, rows=[], version=str(job.version))
    response = operator_client.post(reverse("jobs:edit", args=[job.pk]), data, follow=True)
    assert "(unchanged)" in response.content.decode()


def test_stale_edit_is_refused_showing_the_other_version(operator_client, job, nomad_estate):
    services.job_update(job=job, changes=services.JobChanges(name="renamed by someone else"))
    data = form_data(nomad_estate, name="my name", version=str(job.version))
    response = operator_client.post(reverse("jobs:edit", args=[job.pk]), data)
    html = response.content.decode()
    assert response.status_code == 409
    assert "Someone else saved this job first" in html
    assert "Their version (version 2)" in html and "renamed by someone else" in html
    assert 'value="my name"' in html  # the user's edit is kept
    assert 'name="version" value="2"' in html  # saving again deliberately replaces theirs
    assert Job.objects.get().name == "renamed by someone else"


def test_param_row_endpoint_returns_an_empty_focused_row(operator_client):
    html = operator_client.get(reverse("jobs:param_row"), **HTMX).content.decode()
    assert html.lstrip().startswith("<tr") and "autofocus" in html
    assert 'name="param_row"' in html and 'name="param_enc"' in html


def test_param_row_changes_its_value_input_with_the_type(operator_client):
    query = {"param_row": "r1", "param_key": "flag", "param_type": "boolean", "param_value": "yes", "param_enc": ""}
    html = operator_client.get(reverse("jobs:param_row"), query, **HTMX).content.decode()
    assert 'id="row-r1"' in html and '<option value="true" selected>' in html
    query.update(param_type="secret", param_value="typed text")
    html = operator_client.get(reverse("jobs:param_row"), query, **HTMX).content.decode()
    assert 'type="password"' in html and "typed text" not in html


# --- preview -----------------------------------------------------------------------------------------------------


def test_preview_shows_effective_params_with_their_layers_spec_and_next_launches(operator_client, nomad_estate):
    rows = [("greeting", "text", "yo"), ("env.TOKEN", "secret", "hunter2")]
    response = operator_client.post(reverse("jobs:preview"), form_data(nomad_estate, rows=rows), **HTMX)
    html = response.content.decode()
    effective = {p.path: (p.value, p.layer) for p in response.context["effective"]}
    assert effective["greeting"] == ("yo", "job")
    assert effective["env.LEVEL"] == ("gold", "dimension:level=gold")
    assert effective["image"] == ("alpine:3.20", "execution:greeter")
    assert effective["env.TOKEN"][1] == "job"
    assert "secret, set" in html and "hunter2" not in html
    assert len(response.context["launches"]) == 5
    assert "Next launches" in html and "Rendered job" in html and "&quot;Periodic&quot;" in html
    assert 'hx-swap-oob="true"' in html  # error slots are cleared out of band


def test_preview_puts_errors_next_to_the_row_out_of_band(operator_client, nomad_estate):
    rows = [("greeting", "text", "ok"), ("extra", "json", "[1,")]
    html = operator_client.post(reverse("jobs:preview"), form_data(nomad_estate, rows=rows), **HTMX).content.decode()
    assert re.search(r'<div id="err-row-r1" class="field-error" hx-swap-oob="true"><span role="alert">Not valid', html)
    assert '<div id="err-row-r0" class="field-error" hx-swap-oob="true"></div>' in html
    assert "does not render yet" in html
    assert "1 problem to fix" in html


def test_preview_names_the_row_of_a_param_the_template_rejects(operator_client, nomad_estate):
    rows = [("greeting", "text", "ok"), ("_striv_type", "text", "x")]
    html = operator_client.post(reverse("jobs:preview"), form_data(nomad_estate, rows=rows), **HTMX).content.decode()
    assert re.search(r'id="err-row-r1"[^>]*><span role="alert">[^<]*_striv_type', html)


def test_preview_without_an_execution_asks_for_one(operator_client, nomad_estate):
    html = operator_client.post(reverse("jobs:preview"), form_data(nomad_estate, execution=""), **HTMX).content.decode()
    assert "Choose an execution" in html


def test_preview_without_a_key_reports_the_secret_row(operator_client, nomad_estate, settings):
    settings.ENCRYPTION_KEY = ""
    rows = [("env.TOKEN", "secret", "hunter2")]
    html = operator_client.post(reverse("jobs:preview"), form_data(nomad_estate, rows=rows), **HTMX).content.decode()
    assert re.search(r'id="err-row-r0"[^>]*><span role="alert">no encryption key', html)


def test_plan_draft_shows_what_saving_would_change_without_saving(operator_client, job, nomad_estate, nomad):
    data = form_data(
        nomad_estate, name=job.name, rows=[("greeting", "text", "brand new"), ("env.TOKEN", "secret", "hunter2")]
    )
    response = operator_client.post(reverse("jobs:plan_draft", args=[job.pk]), data, **HTMX)
    html = response.content.decode()
    assert response.context["plan"].changed
    assert "Saving changes the cluster" in html and "brand new" in html
    assert "hunter2" not in html
    assert nomad.job(nomad_id(job))["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["hi acme"]
    assert Job.objects.get().params == {}


# --- detail, plan, runs ------------------------------------------------------------------------------------------


def test_job_detail_shows_settings_params_spec_sync_and_runs(viewer_client, job):
    old = make_run(job, "failed", age=timedelta(days=1))
    new = make_run(job, "successful", age=timedelta(hours=1))
    response = viewer_client.get(reverse("jobs:detail", args=[job.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "customer</span> acme" in html and "In sync" in html
    assert [run.pk for run in response.context["runs"]] == [new.pk, old.pk]
    assert {p.path: p.layer for p in response.context["effective"]}["greeting"] == "dimension:customer=acme"
    assert "Rendered spec" in html and f'hx-get="/jobs/{job.pk}/plan/"' in html
    assert "every 4s" not in html  # nothing is running, so the runs do not refresh


def test_job_detail_htmx_request_gets_the_summary_partial(viewer_client, job):
    html = viewer_client.get(reverse("jobs:detail", args=[job.pk]), **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="job-summary"') and "<html" not in html


def test_viewer_sees_no_edit_run_or_delete_buttons(viewer_client, job):
    response = viewer_client.get(reverse("jobs:detail", args=[job.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert job.name in html and 'id="job-summary"' in html  # the job's own page, not an error page
    for text in ("Run now", "Push again", f"/jobs/{job.pk}/edit/", f"/jobs/{job.pk}/delete/"):
        assert text not in html


def test_operator_sees_run_edit_delete_and_push_again(operator_client, job):
    html = operator_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    for text in ("Run now", "Push again", f"/jobs/{job.pk}/edit/", f"/jobs/{job.pk}/delete/"):
        assert text in html


def test_job_runs_refresh_themselves_while_a_run_is_active(viewer_client, job):
    make_run(job, "running", age=timedelta(minutes=1))
    full = viewer_client.get(reverse("jobs:runs", args=[job.pk]))
    assert full.status_code == 200 and "<html" in full.content.decode()
    html = viewer_client.get(reverse("jobs:runs", args=[job.pk]), **HTMX).content.decode()
    assert html.lstrip().startswith(f'<div id="run-rows" hx-get="/jobs/{job.pk}/runs/"')
    assert "every 4s" in html and "Running" in html
    Run.objects.update(status=Run.Status.SUCCESSFUL, finished=timezone.now())
    html = viewer_client.get(reverse("jobs:runs", args=[job.pk]), **HTMX).content.decode()
    assert "every 4s" not in html


def test_job_runs_are_paginated_newest_first(viewer_client, job):
    for hours in range(25):
        make_run(job, "successful", age=timedelta(hours=hours + 1))
    response = viewer_client.get(reverse("jobs:runs", args=[job.pk]) + "?page=2")
    oldest = Run.objects.filter(job=job).order_by("created")[:5]
    assert [run.pk for run in response.context["runs"]] == [run.pk for run in reversed(oldest)]


def test_plan_says_no_changes_when_the_cluster_has_the_job(viewer_client, job):
    full = viewer_client.get(reverse("jobs:plan", args=[job.pk]))
    assert full.status_code == 200 and "<html" in full.content.decode()
    html = viewer_client.get(reverse("jobs:plan", args=[job.pk]), **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="job-plan"') and "No changes" in html


def test_plan_shows_the_diff_of_an_unpushed_change(viewer_client, job):
    services.job_update(job=job, changes=services.JobChanges(params={"greeting": "changed"}), push=False)
    html = viewer_client.get(reverse("jobs:plan", args=[job.pk]), **HTMX).content.decode()
    assert "A push would change" in html and "changed" in html


def test_plan_reports_an_unreachable_cluster(viewer_client, job, nomad):
    nomad.down()
    html = viewer_client.get(reverse("jobs:plan", args=[job.pk]), **HTMX).content.decode()
    assert "The cluster could not be asked" in html


# --- actions -----------------------------------------------------------------------------------------------------


def test_run_now_starts_a_run_and_says_so(operator_client, job, nomad):
    response = operator_client.post(reverse("jobs:run_now", args=[job.pk]), follow=True)
    assert response.redirect_chain == [(f"/jobs/{job.pk}/", 303)]
    assert "Started a run of acme nightly" in response.content.decode()
    assert len(nomad.children(nomad_id(job))) == 1


def test_run_now_with_the_cluster_down_shows_the_error(operator_client, job, nomad):
    nomad.down()
    response = operator_client.post(reverse("jobs:run_now", args=[job.pk]), follow=True)
    assert "Could not start a run of acme nightly" in response.content.decode()


def test_run_now_via_htmx_redirects_the_page(operator_client, job):
    response = operator_client.post(reverse("jobs:run_now", args=[job.pk]), **HTMX)
    assert response["HX-Redirect"] == f"/jobs/{job.pk}/"


def test_push_again_pushes_and_reports(operator_client, job, nomad):
    nomad.fault("error500")
    job_sync.jobs_sync(jobs=Job.objects.all(), force=True)
    nomad.fault(None)
    assert Job.objects.get().sync_status == Job.SyncStatus.PENDING
    response = operator_client.post(reverse("jobs:push", args=[job.pk]), follow=True)
    assert "Pushed acme nightly" in response.content.decode() or "(unchanged)" in response.content.decode()
    assert Job.objects.get().sync_status == Job.SyncStatus.IN_SYNC


def test_delete_asks_for_confirmation_first(operator_client, job):
    full = operator_client.get(reverse("jobs:delete", args=[job.pk]))
    assert full.status_code == 200 and "Delete acme nightly?" in full.content.decode()
    partial = operator_client.get(reverse("jobs:delete", args=[job.pk]), **HTMX).content.decode()
    assert "<html" not in partial and 'id="dialog-title"' in partial
    assert Job.objects.exists()


def test_delete_removes_the_job_and_returns_to_the_list(operator_client, job, nomad):
    response = operator_client.post(reverse("jobs:delete", args=[job.pk]), follow=True)
    assert response.redirect_chain == [("/jobs/", 303)]
    assert "Deleted acme nightly" in response.content.decode()
    assert not Job.objects.exists() and nomad.job(nomad_id(job)) is None


def test_delete_with_the_cluster_down_keeps_the_job_marked_for_deletion(operator_client, job, nomad):
    nomad.down()
    response = operator_client.post(reverse("jobs:delete", args=[job.pk]), follow=True)
    assert "marked for deletion" in response.content.decode()
    assert Job.objects.get().sync_status == Job.SyncStatus.DELETING


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("jobs:create", "post"),
        ("jobs:edit", "post"),
        ("jobs:edit", "get"),
        ("jobs:delete", "post"),
        ("jobs:delete", "get"),
        ("jobs:run_now", "post"),
        ("jobs:push", "post"),
        ("jobs:bulk", "post"),
        ("jobs:preview", "post"),
        ("jobs:plan_draft", "post"),
        ("jobs:param_row", "get"),
    ],
)
def test_viewer_writes_are_refused_by_the_server(viewer_client, job, nomad_estate, name, method):
    args = [job.pk] if name in ("jobs:edit", "jobs:delete", "jobs:run_now", "jobs:push", "jobs:plan_draft") else []
    data = {"action": "delete", "ids": [job.pk], "confirmed": "1"} if name == "jobs:bulk" else form_data(nomad_estate)
    response = getattr(viewer_client, method)(reverse(name, args=args), data if method == "post" else None)
    assert response.status_code == 403
    assert Job.objects.get().name == "acme nightly"


def test_actions_that_change_something_refuse_get(operator_client, job):
    for name in ("jobs:run_now", "jobs:push"):
        assert operator_client.get(reverse(name, args=[job.pk])).status_code == 405
    assert operator_client.get(reverse("jobs:bulk")).status_code == 405


def test_posts_need_a_csrf_token(operator, job):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(reverse("jobs:run_now", args=[job.pk])).status_code == 403
    html = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert client.post(reverse("jobs:run_now", args=[job.pk]), {"csrfmiddlewaretoken": token}).status_code == 303


def test_unknown_job_is_404(viewer_client, db):
    import uuid

    assert viewer_client.get(reverse("jobs:detail", args=[uuid.uuid4()])).status_code == 404
