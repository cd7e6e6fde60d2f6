"""Single creates and updates answer the job the service saved, without reading it back, in constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from striv.jobs.models import Job
from tests.api.test_bulk import body

pytestmark = pytest.mark.django_db


def job_reads(queries: CaptureQueriesContext) -> list[str]:
    """The reads of job rows (not the existence check of a new id that full_clean makes)."""
    name = connection.ops.quote_name("name")
    table = connection.ops.quote_name(Job._meta.db_table)
    return [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and f"{table}.{name}" in q["sql"]
    ]


def test_create_answers_the_saved_job_without_reading_it_back_in_constant_queries(estate, operator):
    counts = []
    for name, dimensions in (("one", {"customer": "acme"}), ("two", {"customer": "globex", "level": "gold"})):
        with CaptureQueriesContext(connection) as queries:
            response = operator.post("/api/jobs", body(name, dimensions=dimensions), format="json")
        assert response.status_code == 201
        assert response.json()["dimensions"] == dimensions and response.json()["version"] == 1
        assert job_reads(queries) == []
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_update_answers_in_constant_queries_whatever_the_dimensions(estate, operator):
    counts = []
    cases = (
        ([estate.acme], {"customer": "globex"}),
        ([estate.acme, estate.gold], {"customer": "globex", "level": "silver"}),
    )
    for values, dimensions in cases:
        job = estate.job(f"{len(values)} values", values=values)
        with CaptureQueriesContext(connection) as queries:
            response = operator.patch(f"/api/jobs/{job.pk}", {"dimensions": dimensions}, format="json")
        assert response.status_code == 200
        assert response.json()["dimensions"] == dimensions and response.json()["version"] == 2
        assert response["ETag"] == '"2"'
        # Read: the job addressed, its row locked for the save, and the service's refresh; not again for the answer.
        assert len(job_reads(queries)) <= 3
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
