"""The driver contract: spec errors, next launches and driver_config schemas whose errors carry their path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import pytest
import time_machine
from pydantic import BaseModel, ConfigDict, Field

from striv import templating
from striv.drivers.base import Driver, DriverConfig, DriverConfigError, SpecError, config_path_text, worded
from striv.drivers.nomad import NomadDriver
from striv.jobs.rendering import spec_validate
from tests.factories import ExecutionFactory

# --- SpecError and its mapping to RenderError ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message", "field"),
    [
        ({"Type": "cron"}, "Type: invalid job type 'cron'", "Type"),
        ({"Periodic": "daily"}, "Periodic must be an object", "Periodic"),
        (
            {"Type": "service", "Periodic": {"Spec": "0 3 * * *"}},
            'Periodic can only be used with "batch" or "sysbatch" jobs',
            "Type",
        ),
        (
            {"Periodic": {"Spec": "61 * * * *"}},
            "Periodic.Spec: Invalid cron spec \"61 * * * *\": syntax error in minute field: '61'",
            "Periodic.Spec",
        ),
    ],
)
def test_spec_errors_become_render_errors_with_the_same_message_and_the_field_as_param(spec, message, field):
    with pytest.raises(SpecError) as raised:
        NomadDriver.validate_spec(spec)
    assert (raised.value.message, str(raised.value), raised.value.field) == (message, message, field)

    with pytest.raises(templating.RenderError) as mapped:
        spec_validate(ExecutionFactory.build(key="greeter"), spec)
    assert mapped.value.message == f"rendered spec of execution greeter: {message}"
    assert (mapped.value.param, mapped.value.kind) == (field, "spec")


def test_a_valid_spec_passes_and_the_default_contract_checks_nothing():
    spec_validate(ExecutionFactory.build(), {"Type": "batch", "Periodic": {"Spec": "0 3 * * *"}})
    Driver.validate_spec({"anything": True})
    assert SpecError("no field").field is None


# --- next launches -------------------------------------------------------------------------------------------------


@time_machine.travel("2026-03-02 10:00:00+00:00", tick=False)
def test_next_launches_come_from_the_execution_driver_after_now():
    execution = ExecutionFactory.build()
    spec = {"Type": "batch", "Periodic": {"Spec": "0 3 * * *"}}
    assert execution.next_launches(spec, count=2) == [
        datetime(2026, 3, 3, 3, tzinfo=UTC),
        datetime(2026, 3, 4, 3, tzinfo=UTC),
    ]
    assert NomadDriver.next_launches(spec, count=1, after=datetime(2026, 3, 10, 4, tzinfo=UTC)) == [
        datetime(2026, 3, 11, 3, tzinfo=UTC)
    ]


@time_machine.travel("2026-03-02 10:00:00+00:00", tick=False)
def test_next_launches_are_empty_without_a_schedule_or_for_a_spec_the_driver_cannot_read():
    execution = ExecutionFactory.build()
    assert execution.next_launches({"Type": "batch"}, count=5) == []
    assert execution.next_launches({"Periodic": {"Spec": "not cron"}}, count=5) == []
    assert execution.next_launches({"Periodic": {"Spec": "0 3 * * *", "Enabled": False}}, count=5) == []
    assert NomadDriver.next_launches("not a spec", count=5) == []  # type: ignore[arg-type]
    assert Driver.next_launches({"Periodic": {"Spec": "0 3 * * *"}}, count=5) == []


def test_job_id_prefix_is_declared_by_the_driver():
    assert NomadDriver.job_id_prefix({"address": "http://a:4646"}) == "striv-"
    assert NomadDriver.job_id_prefix({"address": "http://a:4646", "job_prefix": "ops-"}) == "ops-"
    driver = NomadDriver({"address": "http://a:4646", "job_prefix": "ops-"})
    assert driver.external_id("1234").startswith(driver.job_id_prefix(driver.config))


# --- driver_config schemas -----------------------------------------------------------------------------------------


class TlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ca_file: Annotated[str, worded("must be a path")] = ""


class NestedConfig(DriverConfig):
    url: str
    tls: TlsConfig = Field(default_factory=TlsConfig)
    hosts: list[Annotated[str, worded("must be a host name")]] = []


class NestedDriver(Driver):
    name = "nested"
    config_model = NestedConfig


def test_config_errors_carry_their_path_as_data():
    config = {"url": "http://x", "tls": {"ca_file": 3}, "hosts": ["a", 5]}
    assert NestedDriver.config_errors(config) == [
        (("tls", "ca_file"), "must be a path"),
        (("hosts", 1), "must be a host name"),
    ]
    with pytest.raises(DriverConfigError) as info:
        NestedDriver(config)
    assert info.value.errors == [(("tls", "ca_file"), "must be a path"), (("hosts", 1), "must be a host name")]
    assert info.value.problems == {"tls.ca_file": "must be a path", "hosts[1]": "must be a host name"}
    assert str(info.value) == "invalid driver_config: tls.ca_file: must be a path; hosts[1]: must be a host name"


def test_config_errors_name_missing_and_unknown_fields_and_a_config_that_is_no_object():
    assert NestedDriver.config_errors({"colour": "red"}) == [
        (("url",), "required"),
        (("colour",), "unknown field; known: url, tls, hosts"),
    ]
    assert NestedDriver.config_errors(["url"]) == [((), "must be an object")]
    assert NestedDriver.config_problems(["url"]) == {"": "must be an object"}
    assert config_path_text(()) == "" and config_path_text(("a", 0, "b")) == "a[0].b"


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        ({}, [(("address",), "required (the Nomad HTTP address)")]),
        ({"address": "nomad:4646"}, [(("address",), "must be an http(s) URL, got 'nomad:4646'")]),
        ({"nomad_url": "ftp://x"}, [(("nomad_url",), "must be an http(s) URL, got 'ftp://x'")]),
        (
            {"address": "http://a:4646", "nomad_url": "http://a:4646"},
            [(("nomad_url",), "give either address or its older name nomad_url, not both")],
        ),
        ({"address": "http://a:4646", "token": 5}, [(("token",), "must be a string or a secret value")]),
        ({"address": "http://a:4646", "timeout": True}, [(("timeout",), "must be a positive number of seconds")]),
        ({"address": "http://a:4646", "timeout": "10"}, [(("timeout",), "must be a positive number of seconds")]),
        ({"address": "http://a:4646", "verify": 1}, [(("verify",), "must be true, false or a CA bundle path")]),
        ({"address": "http://a:4646", "namespace": None}, [(("namespace",), "must be a string")]),
        (
            {"address": "http://a:4646", "client_key": 5},
            [(("client_key",), "must be a string"), (("client_key",), "needs client_cert")],
        ),
        (
            {"address": "http://a:4646", "colour": "red"},
            [
                (
                    ("colour",),
                    "unknown field; known: address, nomad_url, token, namespace, region, ca_cert, client_cert, "
                    "client_key, verify, tls_server_name, job_prefix, timeout",
                )
            ],
        ),
    ],
)
def test_nomad_config_errors_keep_their_wording_and_carry_their_path(config, errors):
    assert NomadDriver.config_errors(config) == errors


def test_nomad_config_accepts_every_field_it_has_and_secrets_for_the_token():
    config = {
        "address": "https://nomad:4646/",
        "token": {"_striv_type": "secret", "encrypted": "abc"},
        "namespace": "ops",
        "region": "eu",
        "ca_cert": "/ca.pem",
        "client_cert": "/c.pem",
        "client_key": "/k.pem",
        "verify": "/bundle.pem",
        "job_prefix": "ops-",
        "timeout": 2.5,
    }
    assert NomadDriver.config_errors(config) == []
    assert NomadDriver.config_errors({"nomad_url": "http://nomad:4646", "verify": False, "timeout": 3}) == []


def test_config_schema_is_the_json_schema_of_the_driver_config():
    schema = NomadDriver.config_schema()
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert list(schema["properties"]) == NomadDriver.config_model.field_names()
    assert schema["properties"]["address"]["type"] == "string"
    assert schema["properties"]["timeout"]["exclusiveMinimum"] == 0
    assert "secret" in schema["properties"]["token"]["description"]
