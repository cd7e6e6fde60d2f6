"""Executions and dimensions: read-only pages with templates, params and "used by N jobs" links."""

from __future__ import annotations

import pytest
from django.urls import reverse

from striv.core import keys
from tests.ui.conftest import HTMX

pytestmark = pytest.mark.django_db


def test_execution_list_links_used_by_count_to_the_filtered_job_list(viewer_client, job):
    response = viewer_client.get(reverse("executions:list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/jobs/?execution=greeter">1 job<' in html
    assert 'href="/executions/greeter/"' in html


def test_execution_list_htmx_request_gets_the_rows(viewer_client, job):
    html = viewer_client.get(reverse("executions:list"), **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="execution-rows">') and "<html" not in html


def test_execution_detail_shows_template_defaults_driver_and_usage(viewer_client, job, nomad_estate):
    execution = nomad_estate.execution
    execution.default_params = {**execution.default_params, "token": keys.encrypt("hunter2")}
    execution.save()
    response = viewer_client.get(reverse("executions:detail", args=["greeter"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Periodic: { Spec: params.cron }" in html
    assert "&quot;image&quot;: &quot;alpine:3.20&quot;" in html
    assert (
        "secret, set" in html and "hunter2" not in html and execution.default_params["token"]["encrypted"] not in html
    )
    assert "HashiCorp Nomad" in html and 'href="/jobs/?execution=greeter">1 job<' in html


def test_execution_detail_htmx_request_gets_the_summary(viewer_client, job):
    html = viewer_client.get(reverse("executions:detail", args=["greeter"]), **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="execution-summary"') and "<html" not in html


def test_unknown_execution_is_404(viewer_client, db):
    assert viewer_client.get(reverse("executions:detail", args=["nope"])).status_code == 404


def test_dimension_list_shows_priority_values_and_usage(viewer_client, job):
    response = viewer_client.get(reverse("dimensions:list"))
    html = response.content.decode()
    assert response.status_code == 200
    rows = {d.key: (d.priority, d.value_count, d.job_count) for d in response.context["dimensions"]}
    assert rows == {"customer": (20, 2, 1), "level": (10, 2, 1)}
    assert 'href="/dimensions/customer/"' in html


def test_dimension_list_htmx_request_gets_the_rows(viewer_client, job):
    html = viewer_client.get(reverse("dimensions:list"), **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="dimension-rows">') and "<html" not in html


def test_dimension_detail_shows_values_with_params_and_links_to_their_jobs(viewer_client, job):
    response = viewer_client.get(reverse("dimensions:detail", args=["customer"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "&quot;greeting&quot;: &quot;hi acme&quot;" in html
    assert 'href="/jobs/?dimension=customer:acme">1 job<' in html
    assert 'href="/jobs/?dimension=customer:globex">0 jobs<' in html


def test_dimension_detail_htmx_request_gets_the_value_rows(viewer_client, job):
    html = viewer_client.get(reverse("dimensions:detail", args=["customer"]), **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="value-rows">') and "<html" not in html


def test_used_by_link_leads_to_the_jobs_of_that_value(viewer_client, job):
    response = viewer_client.get("/jobs/?dimension=customer:acme")
    assert [j.name for j, _ in response.context["rows"]] == ["acme nightly"]
    response = viewer_client.get("/jobs/?dimension=customer:globex")
    assert response.context["rows"] == []


def test_execution_page_shows_no_credential_or_ciphertext_to_viewers(viewer_client, db, encryption_key):
    from striv.core import keys
    from tests.factories import ExecutionFactory

    sealed = keys.encrypt("nomad-token")
    ExecutionFactory(key="plain", driver_config={"address": "http://127.0.0.1:9", "token": "s.cleartext-token"})
    ExecutionFactory(key="sealed", driver_config={"address": "http://127.0.0.1:9", "token": sealed})
    for key in ("plain", "sealed"):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            page = viewer_client.get(f"/executions/{key}/", **headers).content.decode()
            assert "s.cleartext-token" not in page and sealed["encrypted"] not in page
            assert "&lt;redacted&gt;" in page
