"""The state schema: every problem named by its path, as data and in the message, and nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError

from striv.dimensions.models import DimensionValue
from striv.executions.models import Execution
from striv.state.load import state_read
from striv.state.schema import StateError, StateProblem, state_json_schema, state_parse
from tests.conftest import REPO
from tests.state.helpers import base_state, load, snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["executions"]["greeter"].update(colour="red"), "executions.greeter.colour: unknown field"),
        (lambda s: s["executions"]["greeter"].update(driver="k8s"), "executions.greeter.driver: unknown driver"),
        (lambda s: s["executions"]["greeter"].pop("payload_template"), "executions.greeter.payload_template: required"),
        (
            lambda s: s["dimensions"]["customer"]["values"]["acme"].update(params=[1]),
            "dimensions.customer.values.acme.params: must be an object",
        ),
        (
            lambda s: s["dimensions"]["customer"].update(priority="high"),
            "dimensions.customer.priority: must be an integer",
        ),
        (
            lambda s: s["executions"]["greeter"]["default_params"].update({"bad key": 1}),
            "executions.greeter.default_params",
        ),
        (
            lambda s: s["executions"]["greeter"]["driver_config"].update(address="nomad:4646"),
            "executions.greeter.driver_config.address: must be an http(s) URL",
        ),
        (lambda s: s.update(jobs={}), "(top level).jobs: unknown field"),
        (
            lambda s: s["executions"]["greeter"].update(payload_template="{ a: }"),
            "executions.greeter.payload_template",
        ),
    ],
)
def test_schema_errors_name_the_path_and_change_nothing(write_state, mutate, expected):
    load(write_state(base_state()))
    before = snapshot()
    state = base_state()
    mutate(state)
    with pytest.raises(CommandError) as info:
        load(write_state(state, name="bad.json"))
    assert expected in str(info.value)
    assert snapshot() == before


def test_nomad_url_is_accepted_as_the_older_name_of_address(write_state):
    state = base_state()
    state["executions"]["greeter"]["driver_config"] = {"nomad_url": "http://nomad:4646"}
    load(write_state(state))
    assert Execution.objects.get(key="greeter").driver_config == {"nomad_url": "http://nomad:4646"}


def test_state_parse_collects_every_problem():
    state = base_state()
    state["executions"]["greeter"]["colour"] = 1
    state["dimensions"]["customer"]["priority"] = None
    with pytest.raises(StateError) as info:
        state_parse(state, source="x.json")
    assert len(info.value.problems) == 2


def test_a_schema_error_names_its_path_as_data_and_in_the_message_with_the_file(write_state):
    state = base_state()
    del state["executions"]["greeter"]["payload_template"]
    path = write_state(state, name="bad.json")
    with pytest.raises(StateError) as info:
        state_parse(state_read(path), source=str(path))
    assert info.value.errors == [StateProblem(("executions", "greeter", "payload_template"), "required")]
    assert info.value.summary == f"{path}: invalid state"
    with pytest.raises(CommandError) as command:
        load(path)
    assert str(command.value) == f"{path}: invalid state\n  - executions.greeter.payload_template: required"


def test_driver_config_problems_come_from_the_driver_under_the_execution_path():
    state = base_state()
    state["executions"]["greeter"]["driver_config"] = {"address": "nomad:4646", "colour": "red"}
    with pytest.raises(StateError) as info:
        state_parse(state)
    messages = {error.path: error.message for error in info.value.errors}
    assert set(messages) == {
        ("executions", "greeter", "driver_config", "address"),
        ("executions", "greeter", "driver_config", "colour"),
    }
    assert "must be an http(s) URL" in messages[("executions", "greeter", "driver_config", "address")]


PRIORITY = ("dimensions", "customer", "priority")


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        ([1, 2], (), "must be an object, got an array"),
        ({"executions": {}, "jobs": {}}, ("jobs",), "unknown field (allowed: dimensions, executions)"),
        ({"executions": []}, ("executions",), "must be an object, got an array"),
        ({"executions": {"greeter": "x"}}, ("executions", "greeter"), "must be an object, got a string"),
        ({"dimensions": {"customer": {"priority": "1"}}}, PRIORITY, "must be an integer"),
        (
            {"dimensions": {"customer": {"priority": True}}},
            ("dimensions", "customer", "priority"),
            "must be an integer",
        ),
        ({"dimensions": {"customer": {"priority": 1.5}}}, PRIORITY, "must be an integer"),
        ({"dimensions": {"customer": {"label": 3}}}, ("dimensions", "customer", "label"), "must be a string"),
        ({"dimensions": {"bad key": {}}}, ("dimensions", "bad key"), "keys use letters, digits"),
        ({"dimensions": {"c": {"values": {"v": {"x": 1}}}}}, ("dimensions", "c", "values", "v", "x"), "unknown field"),
    ],
)
def test_unknown_top_level_keys_and_wrong_types_are_refused_with_the_database_unchanged(
    write_state, document, path, message
):
    load(write_state(base_state()))
    before = snapshot()
    with pytest.raises(StateError) as info:
        state_parse(document)
    assert [error.path for error in info.value.errors] == [path]
    assert info.value.errors[0].message.startswith(message)
    with pytest.raises(CommandError):
        load(write_state(document, name="bad.json"))
    assert snapshot() == before


def test_every_problem_is_listed_at_once_shape_and_content():
    state = base_state()
    state["executions"]["greeter"]["colour"] = "red"
    state["executions"]["other"] = {**state["executions"]["greeter"], "payload_template": "{ a: }"}
    del state["executions"]["other"]["colour"]
    state["dimensions"]["customer"]["values"]["acme"]["params"] = {"bad key": 1}
    with pytest.raises(StateError) as info:
        state_parse(state)
    assert [error.path for error in info.value.errors] == [
        ("executions", "greeter", "colour"),
        ("executions", "other", "payload_template"),
        ("dimensions", "customer", "values", "acme", "params", "bad key"),
    ]


def test_logstore_and_null_optional_strings_load_as_older_files_wrote_them(write_state):
    state = base_state()
    state["executions"]["greeter"].update(logstore="nomad", name=None)
    state["dimensions"]["customer"].update(label=None, description=None)
    state["dimensions"]["customer"]["values"]["acme"]["label"] = None
    load(write_state(state))
    execution = Execution.objects.get(key="greeter")
    assert (execution.name, execution.logstore) == ("greeter", "nomad")
    assert DimensionValue.objects.get(key="acme").label == ""


def test_values_the_database_cannot_hold_are_refused_by_the_schema(write_state):
    state = base_state()
    state["executions"]["greeter"]["name"] = "n" * 201
    state["executions"]["greeter"]["payload_template"] = ""
    with pytest.raises(StateError) as info:
        state_parse(state)
    assert [(error.path[-1], error.message) for error in info.value.errors] == [
        ("name", "at most 200 characters"),
        ("payload_template", "must not be empty"),
    ]


def _docs_schema() -> dict:
    text = (REPO / "docs" / "state-format.md").read_text()
    section = text.split("\n## JSON Schema\n", 1)[1]
    block = section.split("```json\n", 1)[1].split("\n```", 1)[0]
    return json.loads(block)


def test_the_json_schema_in_the_docs_is_the_models_schema():
    assert _docs_schema() == state_json_schema(), "regenerate it: python -m striv.state.schema"


def test_the_json_schema_is_printed_by_python_m_striv_state_schema():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "striv.state.schema"], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == state_json_schema()
