"""NomadDriver units: config checks, error classification, allocation parsing, plan diffs, cron validation."""

from __future__ import annotations

import pytest
import requests

from striv.drivers import driver_choices, get_driver
from striv.drivers.base import DriverConfigError, SpecError
from striv.drivers.nomad import NomadDriver
from striv.drivers.nomad.diff import diff_text
from striv.drivers.nomad.errors import nomad_error
from striv.drivers.nomad.translate import alloc_run_info


class FakeError(Exception):
    def __init__(self, status: int, text: str) -> None:
        response = requests.Response()
        response.status_code = status
        response._content = text.encode()
        self.nomad_resp = response


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "address"),
        ({"address": "nomad:4646"}, "address"),
        ({"nomad_url": "ftp://x"}, "nomad_url"),
        ({"address": "http://a:4646", "nomad_url": "http://a:4646"}, "nomad_url"),
        ({"address": "http://a:4646", "colour": "red"}, "colour"),
        ({"address": "http://a:4646", "token": 5}, "token"),
        ({"address": "http://a:4646", "timeout": 0}, "timeout"),
        ({"address": "http://a:4646", "client_key": "/k"}, "client_key"),
    ],
)
def test_config_problems_name_the_field(config, field):
    assert field in NomadDriver.config_problems(config)


def test_valid_config_and_older_nomad_url_name():
    assert NomadDriver.config_problems({"nomad_url": "http://nomad:4646", "namespace": "ops"}) == {}
    driver = get_driver("nomad", {"nomad_url": "http://nomad:4646/"})
    assert driver.config["address"] == "http://nomad:4646/"
    assert NomadDriver.cluster_key({"nomad_url": "http://nomad:4646/"}) == ("http://nomad:4646", "", "default")
    with pytest.raises(DriverConfigError, match="address"):
        get_driver("nomad", {})
    assert ("nomad", "HashiCorp Nomad") in driver_choices()


@pytest.mark.parametrize(
    ("status", "text", "retryable"),
    [
        (500, "1 error occurred:\n\t* Missing job task groups\n\n", False),
        (500, 'cannot update job from type "batch" to "service"', False),
        (500, 'job "x" is in nonexistent namespace "ops"', False),
        (500, "rpc error: No cluster leader", True),
        (500, "No path to region", True),
        (503, "Service Unavailable", True),
        (403, "Permission denied", False),
        (400, "Job ID does not match name", False),
        (429, "too many", True),
    ],
)
def test_errors_are_classified_as_refusals_or_retryable(status, text, retryable):
    error = nomad_error(FakeError(status, text), "register job x")
    assert error.retryable is retryable and error.status == status
    assert text.strip().splitlines()[0] in error.message


def test_connection_errors_are_retryable():
    class Wrapped(Exception):
        nomad_resp = requests.ConnectionError("refused")

    assert nomad_error(Wrapped(), "x").retryable


def test_job_ref_prefers_the_longest_prefix():
    driver = get_driver("nomad", {"address": "http://a:4646"})
    prefixes = ["striv-", "striv-ship-"]
    assert driver.job_ref("striv-ship-1234/periodic-1700000000", prefixes) == "1234"
    assert driver.job_ref("striv-abcd/dispatch-1700000000-0a1b2c3d", prefixes) == "abcd"
    assert driver.job_ref("striv-abcd", prefixes) == "abcd"
    assert driver.job_ref("other-job", prefixes) is None


def test_prefix_filter_escapes_regex_metacharacters_only():
    assert NomadDriver._prefix_filter(["striv-", "a.b"]) == 'JobID matches "^(a\\\\.b|striv-)"'


def alloc(status: str, **extra) -> dict:
    base = {
        "ID": "5457f16d-0f87-8e6b-5e91-0c7da3a41eb7",
        "JobID": "striv-abc/periodic-1700000000",
        "ClientStatus": status,
        "ClientDescription": "",
        "CreateIndex": 121,
        "CreateTime": 1700000000500000000,
        "ModifyTime": 1700000006000000000,
        "TaskStates": {
            "run": {
                "State": "dead" if status != "running" else "running",
                "Failed": status == "failed",
                "StartedAt": "2023-11-14T22:13:21.401234567Z",
                "FinishedAt": None if status == "running" else "2023-11-14T22:13:25.91Z",
                "Events": [
                    {"Type": "Started", "DisplayMessage": "Task started by client"},
                    {
                        "Type": "Terminated",
                        "ExitCode": 3 if status == "failed" else 0,
                        "DisplayMessage": "Exit Code: 3" if status == "failed" else "Exit Code: 0",
                    },
                ]
                if status != "running"
                else [{"Type": "Started", "DisplayMessage": "Task started by client"}],
            }
        },
    }
    base.update(extra)
    return base


def test_allocations_map_to_run_statuses_exit_codes_and_tasks():
    failed = alloc_run_info(alloc("failed"), "abc")
    assert (failed.status, failed.exit_code, failed.create_index) == ("failed", 3, 121)
    assert failed.tasks[0].failed and "Exit Code: 3" in failed.reason
    assert failed.started.isoformat().startswith("2023-11-14T22:13:21.401234")
    ok = alloc_run_info(alloc("complete"), "abc")
    assert (ok.status, ok.exit_code) == ("successful", 0) and ok.finished is not None
    running = alloc_run_info(alloc("running"), "abc")
    assert running.status == "running" and running.finished is None and running.exit_code is None
    lost = alloc_run_info(alloc("lost", ClientDescription="node down"), "abc")
    assert lost.status == "lost" and lost.reason == "node down"
    unknown = alloc_run_info(alloc("unknown"), "abc")
    assert unknown.status == "disconnected" and "disconnected" in unknown.reason and unknown.finished is None
    assert alloc_run_info(alloc("complete"), None) is None


def test_zero_times_are_none():
    info = alloc_run_info(
        alloc("pending", TaskStates={"run": {"State": "pending", "StartedAt": "0001-01-01T00:00:00Z"}}), "abc"
    )
    assert info.started is None and info.status == "pending"


def test_diff_text_lists_changed_fields_readably():
    diff = {
        "Type": "Edited",
        "ID": "striv-x",
        "Fields": [{"Type": "Edited", "Name": "Priority", "Old": "50", "New": "80"}],
        "Objects": [],
        "TaskGroups": [
            {
                "Type": "Edited",
                "Name": "main",
                "Updates": {"create/destroy update": 1},
                "Fields": [],
                "Objects": [],
                "Tasks": [
                    {
                        "Type": "Edited",
                        "Name": "run",
                        "Annotations": ["forces create/destroy update"],
                        "Fields": [{"Type": "Edited", "Name": "Env[GREETING]", "Old": "hi", "New": "hello"}],
                        "Objects": [],
                    }
                ],
            }
        ],
    }
    text = diff_text(diff)
    assert "~ Priority: '50' => '80'" in text
    assert "Task: run (forces create/destroy update)" in text
    assert "Env[GREETING]: 'hi' => 'hello'" in text
    assert diff_text({"Type": "None"}) == ""


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"Type": "batch", "Periodic": {"Spec": "61 * * * *"}}, "Periodic.Spec"),
        ({"Type": "batch", "Periodic": {"Spec": "0 3 * * *", "TimeZone": "Mars/Olympus"}}, "Periodic.TimeZone"),
        ({"Type": "service", "Periodic": {"Spec": "0 3 * * *"}}, "Type"),
        ({"Type": "cron"}, "Type"),
    ],
)
def test_validate_spec_names_the_field(spec, field):
    with pytest.raises(SpecError) as info:
        NomadDriver.validate_spec(spec)
    assert info.value.field == field


def test_next_launches_follow_nomad_cron_semantics():
    launches = NomadDriver.next_launches({"Periodic": {"Spec": "*/15 * * * * *"}}, count=5)
    assert len(launches) == 5
    assert all((b - a).total_seconds() == 900 for a, b in zip(launches, launches[1:], strict=False))
    assert NomadDriver.next_launches({"Type": "batch"}, count=5) == []
