"""Run pages: the run list, a run's detail, and its logs (tail, load earlier, follow, download, banners)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone

from striv.jobs import services as job_services
from striv.jobs.models import Job
from striv.runs import views
from striv.runs.models import Run
from striv.runs.refresh import runs_refresh
from tests.emulators.nomad import NomadEmulator
from tests.ui.conftest import HTMX, make_run

pytestmark = pytest.mark.django_db


@dataclass
class LoggedRun:
    """A run of the ``job`` fixture on the Nomad emulator, found by the refresher; ``alloc`` is its allocation."""

    run: Run
    alloc: str
    nomad: NomadEmulator

    def append(self, stream: str, data: bytes) -> None:
        """The task writes more to ``stream``."""
        self.nomad.alloc_append_log(self.alloc, "run", stream, data)

    def finish(self) -> None:
        """The task ends well; the refresher sees it (without archiving its logs)."""
        self.nomad.alloc_finish(self.alloc, "complete")
        runs_refresh(archive=False)
        self.run.refresh_from_db()


@pytest.fixture
def logged_run(job, nomad, archive):
    """``logged_run(stdout, stderr, running=, archived=)``: a run whose task ``run`` wrote these logs.

    A running run's logs are live on the cluster; a finished one's are archived when ``archived`` is set and read
    live from the cluster otherwise.
    """

    def make(stdout: bytes = b"", stderr: bytes = b"", *, running: bool = False, archived: bool = False) -> LoggedRun:
        child = nomad.launch(f"striv-{job.pk}")
        (alloc,) = nomad.alloc_ids(child)
        nomad.alloc_run(alloc)
        for stream, data in (("stdout", stdout), ("stderr", stderr)):
            if data:
                nomad.alloc_append_log(alloc, "run", stream, data)
        if not running:
            nomad.alloc_finish(alloc, "complete")
        runs_refresh(archive=archived)
        run = Run.objects.get(job=job, external_id=alloc)
        assert run.is_finished != running and (run.archived_at is not None) == archived
        return LoggedRun(run, alloc, nomad)

    return make


def log_reads(nomad: NomadEmulator) -> list[dict[str, list[str]]]:
    """The queries of the log reads the emulator answered, oldest first."""
    return [r.query for r in nomad.requests_log if r.path.startswith("/v1/client/fs/logs/")]


def log_url(run: Run, **query) -> str:
    from django.utils.http import urlencode

    return reverse("runs:log", args=[run.pk]) + ("?" + urlencode(query) if query else "")


# --- list and detail ---------------------------------------------------------------------------------------------


def test_run_list_shows_runs_newest_first_with_their_jobs(viewer_client, job):
    old = make_run(job, "failed", age=timedelta(days=2))
    new = make_run(job, "successful", age=timedelta(hours=1))
    response = viewer_client.get(reverse("runs:list"))
    assert response.status_code == 200
    assert [run.pk for run in response.context["runs"]] == [new.pk, old.pk]
    assert "acme nightly" in response.content.decode()


def test_run_list_filters_by_status_day_job_and_recency(viewer_client, job, nomad_estate, clock):
    other = job_services.job_create(name="globex", execution=nomad_estate.execution, params={}).job
    failed = make_run(job, "failed", age=timedelta(days=2))
    ok = make_run(job, "successful", age=timedelta(hours=1))
    elsewhere = make_run(other, "successful", age=timedelta(hours=2))

    def pks(query: str) -> set[int]:
        return {run.pk for run in viewer_client.get(reverse("runs:list") + "?" + query).context["runs"]}

    assert pks("status=failed") == {failed.pk}
    assert pks("day=2025-05-31") == {failed.pk}  # two days before the pinned Monday 2 June
    assert pks(f"job={other.pk}") == {elsewhere.pk}
    assert pks("last=24h") == {ok.pk, elsewhere.pk}
    assert pks("status=successful&last=24h") == {ok.pk, elsewhere.pk}


def test_run_list_htmx_request_gets_the_rows(viewer_client, job):
    make_run(job, "running", age=timedelta(minutes=1))
    html = viewer_client.get(reverse("runs:list") + "?status=running", **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="run-rows" hx-get="/runs/?status=running"')
    assert "<html" not in html and "every 4s" in html


def test_run_detail_shows_status_times_duration_exit_code_and_tasks(viewer_client, job):
    run = make_run(
        job,
        "failed",
        age=timedelta(hours=1),
        status_reason="Task failed",
        tasks=[
            {
                "name": "run",
                "state": "dead",
                "failed": True,
                "exit_code": 3,
                "started": "2026-01-01T10:00:00+00:00",
                "finished": "2026-01-01T10:01:00+00:00",
                "message": "Exit Code: 3",
            }
        ],
        exit_code=3,
    )
    response = viewer_client.get(reverse("runs:detail", args=[run.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Failed" in html and "Task failed" in html and "1 min" in html
    assert "Exit Code: 3" in html and "dead, failed" in html and "10:01:00" in html
    assert f'hx-get="/runs/{run.pk}/log/?task=run"' in html


def test_run_detail_refreshes_its_status_while_running(viewer_client, job):
    run = make_run(job, "running", age=timedelta(minutes=2))
    html = viewer_client.get(reverse("runs:detail", args=[run.pk]), **HTMX).content.decode()
    assert html.lstrip().startswith('<section id="run-summary"') and "every 3s" in html
    assert "so far" in html
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCESSFUL, finished=timezone.now())
    html = viewer_client.get(reverse("runs:detail", args=[run.pk]), **HTMX).content.decode()
    assert "every 3s" not in html


# --- logs --------------------------------------------------------------------------------------------------------


def test_log_panel_shows_stdout_tabs_banner_and_download(viewer_client, logged_run):
    run = logged_run(b"hello\nworld\n", b"oops\n", archived=True).run
    response = viewer_client.get(log_url(run), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="log-panel"')
    assert "hello\nworld\n</pre>" in html
    assert 'role="tab" id="tab-stdout"' in html and 'aria-selected="true"' in html
    assert "<strong>Archived</strong>" in html and "(12\xa0bytes)" in html
    assert f'href="/runs/{run.pk}/log/download/?task=run&amp;stream=stdout"' in html
    assert "log-follow" not in html  # a finished run is not followed


def test_log_panel_full_page_rendering(viewer_client, logged_run):
    run = logged_run(b"hello\n").run
    html = viewer_client.get(log_url(run)).content.decode()
    assert "<html" in html and "Log of run" in html and "hello" in html


def test_stderr_tab_reads_stderr(viewer_client, logged_run, nomad):
    run = logged_run(b"out\n", b"error: boom\n").run
    nomad.requests_log.clear()
    html = viewer_client.get(log_url(run, task="run", stream="stderr"), **HTMX).content.decode()
    assert "error: boom" in html and "out\n" not in html
    assert [(q["task"], q["type"]) for q in log_reads(nomad)] == [(["run"], ["stderr"])]
    assert re.search(r'id="tab-stderr"[^>]*aria-selected="true"', html)


def test_live_and_expired_logs_say_so_in_the_banner(viewer_client, logged_run, nomad):
    logged = logged_run(b"x\n", running=True)
    run = logged.run
    assert "<strong>Live</strong>" in viewer_client.get(log_url(run), **HTMX).content.decode()
    logged.finish()
    nomad.client_gc(logged.alloc)  # the client drops the logs before striv archived them
    html = viewer_client.get(log_url(run), **HTMX).content.decode()
    assert "<strong>Expired</strong>" in html and "no longer has this log" in html


def test_a_long_log_shows_its_tail_first_with_load_earlier(viewer_client, logged_run):
    lines = b"".join(b"line %05d\n" % i for i in range(20000))  # 220 kB
    run = logged_run(lines).run
    response = viewer_client.get(log_url(run), **HTMX)
    text = response.context["text"]
    assert text.endswith("line 19999\n") and text.startswith("line ")  # starts at a whole line
    assert len(text.encode()) <= views.TAIL_BYTES
    before = len(lines) - len(text.encode())
    assert f"before={before}" in response.context["earlier_url"]
    html = response.content.decode()
    assert "Load earlier" in html and 'hx-target="#log-earlier"' in html
    assert f"Load earlier ({filesizeformat(before)} before)" in html

    earlier = viewer_client.get(response.context["earlier_url"], **HTMX)
    html = earlier.content.decode()
    assert '<div hx-swap-oob="afterbegin:#log-text">' in html
    assert earlier.context["text"].encode() == lines[before - views.EARLIER_BYTES : before]
    # Loading earlier and earlier ends at the start of the log, with no more button.
    url = earlier.context["earlier_url"]
    pieces = [earlier.context["text"], text]
    while url:
        step = viewer_client.get(url, **HTMX)
        pieces.insert(0, step.context["text"])
        url = step.context["earlier_url"]
    assert "".join(pieces).encode() == lines
    assert "Load earlier" not in step.content.decode()


def test_follow_returns_only_new_bytes_and_the_next_offset(viewer_client, logged_run):
    logged = logged_run(b"one\n", running=True)
    run = logged.run
    panel = viewer_client.get(log_url(run), **HTMX)
    html = panel.content.decode()
    assert 'id="log-follow"' in html and "every 2s [strivFollowing()]" in html
    assert panel.context["follow_url"].endswith("view=follow&offset=4")
    logged.append("stdout", b"two\n")
    step = viewer_client.get(panel.context["follow_url"], **HTMX)
    html = step.content.decode()
    assert '<div hx-swap-oob="beforeend:#log-text">two\n</div>' in html
    assert "one" not in html
    assert step.context["follow_url"].endswith("offset=8")
    idle = viewer_client.get(step.context["follow_url"], **HTMX).content.decode()
    assert "hx-swap-oob" not in idle and "offset=8" in idle  # nothing new: keep polling from the same place


def test_follow_stops_once_a_finished_run_has_nothing_more(viewer_client, logged_run):
    run = logged_run(b"one\ntwo\n").run
    html = viewer_client.get(log_url(run, view="follow", offset=4), **HTMX).content.decode()
    assert "two" in html and "every 2s" in html  # one more poll to be sure nothing is left
    html = viewer_client.get(log_url(run, view="follow", offset=8), **HTMX).content.decode()
    assert "The run has finished" in html and "hx-get" not in html


def test_follow_holds_back_a_cut_utf8_character_until_it_is_whole(viewer_client, logged_run):
    euro = "€".encode()
    logged = logged_run(b"price: " + euro[:2], running=True)
    run = logged.run
    step = viewer_client.get(log_url(run, view="follow", offset=0), **HTMX)
    assert step.context["text"] == "price: " and step.context["follow_url"].endswith("offset=7")
    logged.append("stdout", euro[2:] + b"\n")
    step = viewer_client.get(step.context["follow_url"], **HTMX)
    assert step.context["text"] == "€\n"


def test_download_streams_the_whole_log_as_an_attachment(viewer_client, logged_run, monkeypatch):
    monkeypatch.setattr(views, "DOWNLOAD_CHUNK", 1000)
    data = b"".join(b"line %d\n" % i for i in range(1000))
    run = logged_run(b"", data).run
    response = viewer_client.get(reverse("runs:log_download", args=[run.pk]) + "?task=run&stream=stderr")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Disposition"].startswith('attachment; filename="acme nightly-')
    assert response["Content-Disposition"].endswith('-run-stderr.log"')


def test_download_of_a_job_named_with_non_ascii_and_cr_lf_has_a_safe_utf8_filename(viewer_client, estate):
    job = job_services.job_create(name="Zürich", execution=estate.execution, values=[estate.acme], params={}).job
    # Saves refuse control characters in names; a name stored before they did may still hold some.
    Job.objects.filter(pk=job.pk).update(name="Zürich\r\nX-Evil: 1")
    job.refresh_from_db()
    run = make_run(job)
    response = viewer_client.get(reverse("runs:log_download", args=[run.pk]) + "?task=run&stream=stdout")
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''Z%C3%BCrich%0D%0AX-Evil%3A%201-striv-")
    assert disposition.endswith("-run-stdout.log")
    assert "\r" not in disposition and "\n" not in disposition
    assert "X-Evil" not in response.headers


def test_unknown_task_or_stream_is_404(viewer_client, logged_run):
    run = logged_run(b"x").run
    assert viewer_client.get(log_url(run, task="nope")).status_code == 404
    assert viewer_client.get(log_url(run, stream="stdin")).status_code == 404
    assert viewer_client.get(log_url(run, view="earlier", before="x")).status_code == 404


def test_a_cluster_error_is_shown_instead_of_the_log(viewer_client, logged_run, nomad):
    run = logged_run(b"x\n", running=True).run
    nomad.down()
    html = viewer_client.get(log_url(run), **HTMX).content.decode()
    assert "The log cannot be read now: Nomad unreachable" in html


def test_logs_of_a_real_run_on_the_emulator_live_then_archived(viewer_client, job, nomad, archive):
    child = nomad.launch(f"striv-{job.pk}")
    alloc = nomad.alloc_ids(child)[0]
    nomad.alloc_run(alloc)
    nomad.alloc_append_log(alloc, "run", "stdout", b"working\n")
    runs_refresh()
    run = Run.objects.get(job=job)
    response = viewer_client.get(log_url(run), **HTMX)
    html = response.content.decode()
    assert "working" in html and "<strong>Live</strong>" in html and 'id="log-follow"' in html
    nomad.alloc_append_log(alloc, "run", "stdout", b"still working\n")
    step = viewer_client.get(response.context["follow_url"], **HTMX)
    assert step.context["text"] == "still working\n"
    nomad.alloc_finish(alloc, "failed", exit_code=2, stderr=b"fatal: disk full\n")
    runs_refresh()
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and run.archived_at is not None
    html = viewer_client.get(log_url(run, stream="stderr"), **HTMX).content.decode()
    assert "fatal: disk full" in html and "<strong>Archived</strong>" in html
