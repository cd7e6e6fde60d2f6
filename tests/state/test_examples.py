"""Every file in state_examples/ loads, and state files written for the original striv load unchanged."""

from __future__ import annotations

import jsonschema
import pytest

from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution
from striv.jobs import services
from striv.state.load import state_read
from striv.state.schema import state_json_schema
from tests.conftest import EXAMPLES
from tests.state.helpers import load

STATE_FILES = sorted(
    p for p in EXAMPLES.glob("*/*.jsonnet") if p.name not in {"nomad_job.jsonnet"} and "templates" not in p.parts
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", STATE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_state_file_loads_and_renders_a_job_per_execution(path):
    load(path)
    assert Execution.objects.exists()
    dimensions = list(Dimension.objects.prefetch_related("values"))
    for execution in Execution.objects.all():
        values = [d.values.order_by("key").first() for d in dimensions if d.values.exists()]
        job = services.job_create(name=f"job of {execution.key}", execution=execution, values=values, params={}).job
        if execution.driver == "mesos":
            assert job.spec["container"]["docker"]["image"], job.spec
        else:
            assert job.spec["TaskGroups"], job.spec


def test_original_striv_state_format_loads_unchanged(write_state):
    path = EXAMPLES / "getting-started" / "hello-world.jsonnet"
    load(path)
    execution = Execution.objects.get(key="hello_world")
    assert execution.logstore == "nomad"
    assert execution.driver_config == {"nomad_url": "http://127.0.0.1:4646"}
    assert DimensionValue.objects.get(dimension__key="audience", key="moon").params == {"greeting": "Luna"}


@pytest.mark.parametrize("path", STATE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_state_file_follows_the_published_json_schema(path):
    jsonschema.Draft202012Validator(state_json_schema()).validate(state_read(path))


def test_the_readme_example_of_the_original_striv_loads_as_written(write_state):
    nomad_job = (EXAMPLES / "getting-started" / "nomad_job.jsonnet").read_text()
    path = write_state(
        "{ executions: { hello_world: { name: 'Hello World', driver: 'nomad', logstore: 'nomad',\n"
        "  driver_config: { nomad_url: 'http://nomad:4646' }, payload_template: importstr './nomad_job.jsonnet',\n"
        "  default_params: { greeting: 'World' } } },\n"
        "  dimensions: { audience: { priority: 1, values: { world: { params: { greeting: 'Terra' } },\n"
        "  moon: { params: { greeting: 'Luna' } } } } } }\n",
        **{"nomad_job.jsonnet": nomad_job},
    )
    assert "execution added: hello_world" in load(path)
    execution = Execution.objects.get(key="hello_world")
    assert (execution.name, execution.logstore) == ("Hello World", "nomad")
    assert execution.driver_config == {"nomad_url": "http://nomad:4646"}
    assert Dimension.objects.get(key="audience").priority == 1
