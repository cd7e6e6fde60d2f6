"""One job filterset serves the job list page, the API and the admin: the same parameters give the same jobs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.test import APIClient

from striv.jobs.filtersets import JobFilterSet
from striv.jobs.models import Job
from tests.factories import DimensionFactory, DimensionValueFactory, ExecutionFactory, JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs() -> dict[str, Job]:
    execution = ExecutionFactory(key="greeter")
    other = ExecutionFactory(key="other")
    customer = DimensionFactory(key="customer")
    acme = DimensionValueFactory(dimension=customer, key="acme")
    globex = DimensionValueFactory(dimension=customer, key="globex")
    made = {
        "failed": JobFactory(name="a failed", execution=execution, latest_run_status="failed", sync_status="in_sync"),
        "lost": JobFactory(name="b lost", execution=other, latest_run_status="lost", sync_status="pending"),
        "ok": JobFactory(name="c ok", execution=execution, latest_run_status="successful", sync_status="failed"),
        "never": JobFactory(name="d never", execution=other, sync_status="in_sync"),
    }
    for key, value in (("failed", acme), ("lost", globex), ("ok", acme), ("never", globex)):
        made[key].job_values.create(dimension=customer, value=value)
    return made


QUERIES = [
    ("latest_run_status=failing", ["a failed", "b lost"]),
    ("latest_run_status=none", ["d never"]),
    ("latest_run_status=successful&latest_run_status=none", ["c ok", "d never"]),
    ("sync_status=not_in_sync", ["b lost", "c ok"]),
    ("sync_status=pending", ["b lost"]),
    ("search=OK", ["c ok"]),
    ("execution=other", ["b lost", "d never"]),
    ("dimension=customer:acme", ["a failed", "c ok"]),
    ("dimension=customer:acme&latest_run_status=failing&sync_status=in_sync", ["a failed"]),
]


def _user(role: str) -> User:
    user = User.objects.create_user(f"{role}-user", password="pw")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_ui_and_api_filter_jobs_alike_including_failing_and_not_in_sync(jobs, query, expected):
    viewer = _user("viewer")
    page = Client()
    page.force_login(viewer)
    listed = page.get(f"/jobs/?{query}")
    assert listed.status_code == 200
    assert [job.name for job, _ in listed.context["rows"]] == expected
    api = APIClient()
    api.force_authenticate(viewer)
    answer = api.get(f"/api/jobs?{query}")
    assert answer.status_code == 200, answer.content
    assert [item["name"] for item in answer.json()["results"]] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [("latest_run_status=failing", ["a failed", "b lost"]), ("sync_status=not_in_sync", ["b lost", "c ok"])],
)
def test_admin_list_filters_with_the_same_filterset(jobs, query, expected):
    admin = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)
    response = client.get(f"/admin/jobs/job/?{query}")
    assert response.status_code == 200
    assert sorted(job.name for job in response.context["cl"].result_list) == expected


def test_the_filterset_is_the_one_the_api_uses():
    from striv.jobs.api import JobViewSet

    assert JobViewSet.filterset_class is JobFilterSet


def test_an_invalid_value_is_refused_by_the_api_and_shown_by_the_page(jobs):
    viewer = _user("viewer")
    api = APIClient()
    api.force_authenticate(viewer)
    assert api.get("/api/jobs?latest_run_status=bogus").status_code == 400
    page = Client()
    page.force_login(viewer)
    response = page.get("/jobs/?latest_run_status=bogus")
    assert response.status_code == 200
    assert "latest_run_status" in response.content.decode() and len(response.context["rows"]) == 4
