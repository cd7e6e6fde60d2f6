"""Job layers: their order and names, and LayerSource's bulk read against the ORM's own relations."""

from __future__ import annotations

import pytest

from striv.jobs.layers import LayerSource, job_layers, jobs_dimension_maps
from striv.jobs.models import Job
from striv.templating import LAYER_JOB, LayerName
from tests.factories import DimensionFactory, DimensionValueFactory, ExecutionFactory, JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs() -> list[Job]:
    execution = ExecutionFactory(key="greeter")
    other = ExecutionFactory(key="other")
    customer = DimensionFactory(key="customer", priority=10)
    level = DimensionFactory(key="level", priority=10)  # a tie: broken by the dimension key
    region = DimensionFactory(key="region", priority=1)
    values = {
        "acme": DimensionValueFactory(dimension=customer, key="acme"),
        "gold": DimensionValueFactory(dimension=level, key="gold"),
        "eu": DimensionValueFactory(dimension=region, key="eu"),
    }
    made = []
    for index in range(7):
        job = JobFactory(name=f"job {index}", execution=execution if index % 2 else other)
        for key in list(values)[: index % 4]:
            value = values[key]
            job.job_values.create(dimension=value.dimension, value=value)
        made.append(job)
    return made


def test_layers_are_ordered_by_priority_then_dimension_key_and_named_by_parts(jobs):
    job = jobs[3]
    values = [jv.value for jv in job.job_values.select_related("value__dimension")]
    layers = job_layers(execution=job.execution, values=values, params={"a": 1})
    assert [layer.name for layer in layers] == [
        f"execution:{job.execution.key}",
        "dimension:region=eu",
        "dimension:customer=acme",
        "dimension:level=gold",
        "job",
    ]
    assert all(isinstance(layer.name, LayerName) for layer in layers)
    assert (layers[1].name.kind, layers[1].name.key, layers[1].name.value) == ("dimension", "region", "eu")
    assert layers[-1].name is LAYER_JOB


def test_shared_layers_are_the_same_objects_and_in_the_same_order(jobs):
    shared: dict = {}
    job = jobs[3]
    values = [jv.value for jv in job.job_values.select_related("value__dimension")]
    plain = job_layers(execution=job.execution, values=values, params={})
    first = job_layers(execution=job.execution, values=values, params={}, shared=shared)
    again = job_layers(execution=job.execution, values=list(reversed(values)), params={}, shared=shared)
    assert [layer.name for layer in first] == [layer.name for layer in plain] == [layer.name for layer in again]
    assert all(a is b for a, b in zip(first[:-1], again[:-1], strict=True))


def test_layer_source_reads_what_the_orm_relations_hold(jobs, django_assert_max_num_queries):
    expected = {
        job.pk: (job.execution_id, sorted(jv.value_id for jv in job.job_values.all())) for job in Job.objects.all()
    }
    # Master data once (values, executions), the jobs, then one query per chunk of three jobs' value links.
    with django_assert_max_num_queries(2 + 1 + 3):
        got = {
            job.pk: (job.execution.pk, sorted(value.pk for value in values))
            for job, values in LayerSource().jobs(Job.objects.order_by("name"), chunk_size=3)
        }
    assert got == expected


def test_dimension_maps_of_many_jobs_in_one_query(jobs, django_assert_num_queries):
    ids = [job.pk for job in jobs]
    with django_assert_num_queries(1):
        maps = jobs_dimension_maps(ids)
    for job in jobs:
        assert maps[job.pk] == {jv.value.dimension.key: jv.value.key for jv in job.job_values.all()}
