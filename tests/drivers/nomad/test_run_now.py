"""Run now against the emulator: namespace-scoped tokens, launches whose follow-up read fails, dispatch refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from striv.drivers.base import DriverError
from striv.drivers.nomad import NomadDriver
from tests.emulators.nomad import NomadEmulator

JOB_ID = "0b6c8f43-7d0e-4d7c-9a57-3f1e2d3c4b5a"


def periodic_spec(**extra) -> dict:
    return {
        "Type": "batch",
        "Datacenters": ["dc1"],
        "Periodic": {"Spec": "0 3 * * *"},
        "TaskGroups": [{"Name": "main", "Tasks": [{"Name": "run", "Driver": "docker", "Config": {"image": "a"}}]}],
        **extra,
    }


@pytest.fixture
def secured() -> Iterator[NomadEmulator]:
    emulator = NomadEmulator(acl=True).start()
    emulator.add_namespace("striv")
    yield emulator
    emulator.stop()


def scoped_driver(emulator: NomadEmulator, capabilities=("read-job", "submit-job", "dispatch-job")) -> NomadDriver:
    """A driver whose token may act in the ``striv`` namespace only, as an operator would scope it."""
    token = emulator.create_token({"striv": list(capabilities)})
    return NomadDriver({"address": emulator.address, "namespace": "striv", "token": token})


def test_run_now_with_a_namespace_scoped_token_names_the_launched_child(secured):
    driver = scoped_driver(secured)
    driver.push(job_id=JOB_ID, name="nightly", spec=periodic_spec(), meta={})

    result = driver.run_now(job_id=JOB_ID)

    (child,) = secured.children(f"striv-{JOB_ID}", namespace="striv")
    assert result.external_id == child and result.eval_id and result.warning == ""


def test_evaluations_are_checked_against_the_request_namespace_first(secured):
    driver = scoped_driver(secured)
    driver.push(job_id=JOB_ID, name="nightly", spec=periodic_spec(), meta={})
    eval_id = driver.client.job.periodic_job(f"striv-{JOB_ID}")["EvalID"]
    from nomad.api.exceptions import URLNotAuthorizedNomadException

    with pytest.raises(URLNotAuthorizedNomadException):
        driver.client.evaluation.get_evaluation(eval_id)  # python-nomad sends no namespace: "default" is checked
    ok = driver.client.evaluation.request(eval_id, method="get", params={"namespace": "striv"}).json()
    assert ok["Namespace"] == "striv"


def test_a_launch_whose_follow_up_read_fails_is_reported_launched(secured):
    driver = scoped_driver(secured)
    driver.push(job_id=JOB_ID, name="nightly", spec=periodic_spec(), meta={})
    secured.fault("error500", path="/v1/evaluation/")

    result = driver.run_now(job_id=JOB_ID)

    assert len(secured.children(f"striv-{JOB_ID}", namespace="striv")) == 1
    assert result.eval_id and result.external_id == ""
    assert result.warning.startswith("launched, but Nomad failed to read evaluation")


@pytest.mark.parametrize(
    ("parameterized", "stop", "message"),
    [
        ({"Payload": "required"}, False, "Payload is not provided but required"),
        ({"Payload": "forbidden", "MetaRequired": ["customer"]}, False, "Dispatch did not provide required meta keys"),
        ({"Payload": "forbidden"}, True, "is stopped"),
    ],
)
def test_dispatch_refusals_are_refusals_with_nomads_message(secured, parameterized, stop, message):
    driver = scoped_driver(secured)
    spec = periodic_spec(ParameterizedJob=parameterized)
    del spec["Periodic"]
    driver.push(job_id=JOB_ID, name="on demand", spec=spec, meta={})
    if stop:
        driver.client.job.deregister_job(f"striv-{JOB_ID}")  # stopped, not purged

    with pytest.raises(DriverError) as raised:
        driver.run_now(job_id=JOB_ID)

    assert raised.value.retryable is False and message in raised.value.message
