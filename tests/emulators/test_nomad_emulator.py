"""Tests of the Nomad emulator, through python-nomad and raw HTTP, plus a contract test against the OpenAPI spec."""

import base64
import json
import threading
import time
from datetime import UTC, datetime

import nomad
import pytest
import requests
from nomad.api.exceptions import (
    BadRequestNomadException,
    BaseNomadException,
    URLNotAuthorizedNomadException,
    URLNotFoundNomadException,
)

from tests.emulators import openapi_contract
from tests.emulators.nomad import (
    FAULT_500_MESSAGE,
    NomadEmulator,
    NomadEmulatorError,
    cron_next,
    cron_normalize,
    go_parse_duration,
)

#: every exchange served by the `emu` fixture, checked against the spec by the last test of this module
SERVED: list = []


@pytest.fixture
def emu():
    emulator = NomadEmulator().start()
    yield emulator
    emulator.stop()
    SERVED.extend(emulator.requests_log)


@pytest.fixture
def client(emu):
    return nomad.Nomad(address=emu.address, timeout=10)


def periodic_job(job_id="nightly", spec="0 3 * * *", **overrides):
    job = {
        "ID": job_id,
        "Name": job_id,
        "Type": "batch",
        "Datacenters": ["dc1"],
        "Meta": {"striv_template": "nightly-report", "striv_revision": "42"},
        "Periodic": {"Spec": spec, "ProhibitOverlap": True},
        "TaskGroups": [
            {
                "Name": "main",
                "Tasks": [
                    {
                        "Name": "run",
                        "Driver": "docker",
                        "Config": {"image": "alpine:3.20", "command": "sh", "args": ["-c", "echo hi"]},
                        "Env": {"FOO": "bar"},
                        "Resources": {"CPU": 100, "MemoryMB": 128},
                    }
                ],
            }
        ],
    }
    job.update(overrides)
    return job


def batch_job(job_id="oneshot", **overrides):
    job = periodic_job(job_id, **overrides)
    job.pop("Periodic")
    return job


def decode_frames(body: str) -> list[dict]:
    decoder, frames, position = json.JSONDecoder(), [], 0
    while position < len(body):
        frame, position = decoder.raw_decode(body, position)
        frames.append(frame)
    return frames


def force_child(client, parent="nightly") -> str:
    forced = client.job.periodic_job(parent)
    return client.evaluation.get_evaluation(forced["EvalID"])["JobID"]


# register / read ------------------------------------------------------------------------------------------------


def test_register_periodic_job_gets_no_eval_and_nomad_defaults(client):
    response = client.jobs.register_job({"Job": periodic_job()})

    assert response["EvalID"] == "" and response["EvalCreateIndex"] == 0
    assert response["JobModifyIndex"] == response["Index"] > 0
    assert response["Warnings"] == ""
    job = client.job.get_job("nightly")
    assert (job["Version"], job["Status"], job["Stop"], job["ParentID"]) == (0, "running", False, "")
    assert job["Priority"] == 50 and job["Namespace"] == "default" and job["Region"] == "global"
    assert job["Periodic"] == {
        "Enabled": True,
        "Spec": "0 3 * * *",
        "Specs": [],
        "SpecType": "cron",
        "ProhibitOverlap": True,
        "TimeZone": "UTC",
    }
    group = job["TaskGroups"][0]
    assert group["Count"] == 1
    assert group["RestartPolicy"] == {
        "Attempts": 3,
        "Interval": 24 * 3600 * 10**9,
        "Delay": 15 * 10**9,
        "Mode": "fail",
        "RenderTemplates": False,
    }
    task = group["Tasks"][0]
    assert task["Resources"]["CPU"] == 100 and task["Resources"]["MemoryMB"] == 128
    assert task["Config"]["args"] == ["-c", "echo hi"] and task["Env"] == {"FOO": "bar"}
    assert task["Templates"] is None and job["Constraints"] is None


def test_register_defaults_type_to_service_and_resources_when_missing(emu, client):
    job = batch_job()
    del job["Type"], job["TaskGroups"][0]["Tasks"][0]["Resources"], job["Datacenters"]

    client.jobs.register_job({"Job": job})

    stored = client.job.get_job("oneshot")
    assert stored["Type"] == "service" and stored["Datacenters"] == ["*"]
    assert stored["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"] == 300


def test_register_on_job_path_needs_matching_id(client):
    with pytest.raises(BadRequestNomadException) as error:
        client.job.register_job("other", {"Job": periodic_job()})

    assert error.value.nomad_resp.text == "Job ID does not match name"
    assert client.job.register_job("nightly", {"Job": periodic_job()})["JobModifyIndex"] > 0


def test_identical_resubmit_is_not_written_and_a_change_bumps_version(client):
    first = client.jobs.register_job({"Job": periodic_job()})

    again = client.jobs.register_job({"Job": periodic_job()})
    assert again["JobModifyIndex"] == first["JobModifyIndex"] and again["Index"] == 0
    assert client.job.get_job("nightly")["Version"] == 0

    changed = client.jobs.register_job({"Job": periodic_job(spec="0 4 * * *")})
    job = client.job.get_job("nightly")
    assert changed["JobModifyIndex"] > first["JobModifyIndex"]
    assert (job["Version"], job["JobModifyIndex"], job["CreateIndex"]) == (
        1,
        changed["JobModifyIndex"],
        first["JobModifyIndex"],
    )


def test_non_periodic_batch_job_gets_an_eval_and_placed_allocs(client):
    response = client.jobs.register_job({"Job": batch_job()})

    assert response["EvalID"] and response["EvalCreateIndex"] == response["Index"]
    allocs = client.job.get_allocations("oneshot")
    assert [a["Name"] for a in allocs] == ["oneshot.main[0]"]
    assert allocs[0]["ClientStatus"] == "pending" and allocs[0]["TaskStates"] is None
    resubmit = client.jobs.register_job({"Job": batch_job()})
    assert resubmit["EvalID"] != response["EvalID"] and resubmit["Index"] == resubmit["EvalCreateIndex"]
    assert resubmit["JobModifyIndex"] == response["JobModifyIndex"]
    assert len(client.job.get_allocations("oneshot")) == 1


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (periodic_job(Type="service"), '\t* Periodic can only be used with "batch" or "sysbatch" scheduler\n'),
        (periodic_job(spec="61 * * * *"), "Invalid cron spec \"61 * * * *\": syntax error in minute field: '61'"),
        (periodic_job(spec="* * * *"), 'Invalid cron spec "* * * *": missing field(s)'),
        (periodic_job(Periodic={"Spec": "0 3 * * *", "Specs": ["0 4 * * *"]}), "Only cron or crons may be used"),
        (periodic_job(Periodic={"Spec": "0 3 * * *", "SpecType": ""}), 'Unknown periodic specification type ""'),
        (periodic_job(Periodic={"Spec": "0 3 * * *", "TimeZone": "Mars/Base"}), 'Invalid time zone "Mars/Base"'),
        (periodic_job(TaskGroups=[]), "Missing job task groups"),
        (periodic_job(ID="has space", Name="x"), "Job ID contains a space"),
        (periodic_job(Type="cron"), 'Invalid job type: "cron"'),
        (periodic_job(Priority=0), "job priority must be between [1, 100]"),
        (periodic_job(TaskGroups=[{"Name": "main", "Tasks": []}]), "Missing tasks for task group"),
    ],
)
def test_invalid_jobs_are_refused_with_a_500_multierror(client, job, message):
    with pytest.raises(BaseNomadException) as error:
        client.jobs.register_job({"Job": job})

    response = error.value.nomad_resp
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.endswith("\n\n") and "error" in response.text.splitlines()[0]
    assert message in response.text


def test_register_multierror_lists_every_problem(client):
    with pytest.raises(BaseNomadException) as error:
        client.jobs.register_job({"Job": periodic_job(Type="service", Priority=500)})

    assert error.value.nomad_resp.text.startswith("2 errors occurred:\n\t* ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Request body is empty"),
        (b"{}", "Job must be specified"),
        (b'{"Job": {"Type": "batch"}}', "Job ID hasn't been provided"),
        (b'{"Job": {"ID": "x"}, "EvalPriority": 200}', "Eval priority must be between 1 and 100 inclusively"),
        (b"not json", "invalid character 'n' looking for beginning of value"),
        (b'{"Job": {"ID": "x", "Meta": {"k": 1}}}', "json: cannot unmarshal number into Go struct field"),
    ],
)
def test_malformed_register_requests_are_400(emu, body, message):
    response = requests.put(f"{emu.address}/v1/jobs", data=body)

    assert response.status_code == 400
    assert message in response.text


def test_update_rules_apply_to_stopped_jobs_until_purged(client):
    client.jobs.register_job({"Job": periodic_job()})
    client.job.deregister_job("nightly")

    with pytest.raises(BaseNomadException) as error:
        client.jobs.register_job({"Job": batch_job("nightly")})
    assert error.value.nomad_resp.text == "cannot update periodic job to being non-periodic"
    with pytest.raises(BaseNomadException) as error:
        client.jobs.register_job({"Job": periodic_job(Type="sysbatch")})
    assert error.value.nomad_resp.text == 'cannot update job from type "batch" to "sysbatch"'

    client.job.deregister_job("nightly", purge=True)
    assert client.jobs.register_job({"Job": batch_job("nightly")})["EvalID"]


def test_enforce_index_checks_the_job_modify_index(emu):
    def register(**extra):
        return requests.post(f"{emu.address}/v1/jobs", json={"Job": periodic_job(), "EnforceIndex": True, **extra})

    assert register(JobModifyIndex=7).text == "Enforcing job modify index 7: job does not exist"
    created = register(JobModifyIndex=0).json()
    assert register(JobModifyIndex=0).text == "Enforcing job modify index 0: job already exists"
    index = created["JobModifyIndex"]
    conflict = register(JobModifyIndex=index + 5)
    assert conflict.status_code == 500
    assert conflict.text == (
        f"Enforcing job modify index {index + 5}: job exists with conflicting job modify index: {index}"
    )
    assert register(JobModifyIndex=index).status_code == 200


def test_missing_job_is_404_but_its_allocations_are_an_empty_list(client):
    with pytest.raises(URLNotFoundNomadException) as error:
        client.job.get_job("ghost")

    assert error.value.nomad_resp.text == "job not found"
    assert client.job.get_allocations("ghost") == []
    assert "ghost" not in client.job


# listing --------------------------------------------------------------------------------------------------------


def test_jobs_list_prefix_meta_filter_and_pagination(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    client.jobs.register_job({"Job": periodic_job("nightly2", Meta={"owner": "ops"})})
    emu.seed_runs("nightly", 3)

    children = client.jobs.get_jobs(prefix="nightly/periodic-")
    assert [j["ID"] for j in children] == emu.children("nightly")
    assert all(j["ParentID"] == "nightly" and j["Periodic"] is False and j["Status"] == "dead" for j in children)
    assert children[0]["JobSummary"]["Summary"]["main"]["Complete"] == 1
    assert "Meta" not in children[0]
    parent = client.jobs.get_jobs(prefix="nightly", meta=True)[0]
    assert parent["Periodic"] is True and parent["Meta"]["striv_template"] == "nightly-report"
    assert parent["JobSummary"]["Children"] == {"Pending": 0, "Running": 0, "Dead": 3}
    assert [j["ID"] for j in client.jobs.get_jobs(filter_='Meta.owner == "ops"')] == ["nightly2"]
    assert len(client.jobs.get_jobs(filter_='ParentID == "nightly" and Status == "dead"')) == 3
    assert client.jobs.get_jobs(prefix="nothing") == []

    pages, token = [], None
    while True:
        params = {"per_page": 2, **({"next_token": token} if token else {})}
        response = requests.get(f"{emu.address}/v1/jobs", params=params)
        pages.append([j["ID"] for j in response.json()])
        token = response.headers.get("X-Nomad-NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == sorted(["nightly", "nightly2", *emu.children("nightly")])


def test_filter_errors_are_400(emu):
    syntax = requests.get(f"{emu.address}/v1/allocations", params={"filter": "JobID ==="})
    assert syntax.status_code == 400
    assert syntax.text.startswith("failed to create result paginator: failed to read filter expression:")

    requests.post(f"{emu.address}/v1/jobs", json={"Job": batch_job()})
    unknown = requests.get(f"{emu.address}/v1/allocations", params={"filter": 'JobId == "x"'})
    assert unknown.status_code == 400
    assert unknown.text.startswith("failed to read result page: error finding value in datum: /JobId")


def test_namespaces_missing_explicit_and_query_wins(emu, client):
    with pytest.raises(BaseNomadException) as error:
        client.jobs.register_job({"Job": periodic_job(Namespace="prod")})
    assert error.value.nomad_resp.status_code == 500
    assert error.value.nomad_resp.text == 'job "nightly" is in nonexistent namespace "prod"'

    emu.add_namespace("prod")
    emu.add_namespace("qa")
    client.jobs.register_job({"Job": periodic_job(Namespace="prod")})
    response = requests.post(f"{emu.address}/v1/jobs?namespace=qa", json={"Job": periodic_job(Namespace="prod")})
    assert response.status_code == 200

    assert client.job.get_job("nightly", namespace="qa")["Namespace"] == "qa"
    with pytest.raises(URLNotFoundNomadException):
        client.job.get_job("nightly")
    everywhere = client.jobs.get_jobs(namespace="*")
    assert sorted(j["Namespace"] for j in everywhere) == ["prod", "qa"]
    assert [n["Name"] for n in client.namespaces.get_namespaces()] == ["default", "prod", "qa"]
    assert set(emu.jobs) == {"nightly@prod", "nightly@qa"}


# plan -----------------------------------------------------------------------------------------------------------


def test_plan_of_a_new_periodic_job_is_added_with_next_launch(clock, client):
    plan = client.job.plan_job("nightly", {"Job": periodic_job()}, diff=True)

    diff = plan["Diff"]
    assert diff["Type"] == "Added" and diff["ID"] == "nightly"
    assert {"Type": "Added", "Name": "Type", "Old": "", "New": "batch", "Annotations": None} in diff["Fields"]
    periodic = next(o for o in diff["Objects"] if o["Name"] == "Periodic")
    assert {"Type": "Added", "Name": "Spec", "Old": "", "New": "0 3 * * *", "Annotations": None} in periodic["Fields"]
    group = diff["TaskGroups"][0]
    assert (group["Type"], group["Updates"]) == ("Added", {"create": 1})
    assert group["Tasks"][0]["Annotations"] == ["forces create"]
    assert plan["Annotations"]["DesiredTGUpdates"]["main"]["Place"] == 1
    assert plan["JobModifyIndex"] == 0 and plan["FailedTGAllocs"] is None
    assert plan["NextPeriodicLaunch"] == "2025-06-03T03:00:00Z"  # the day after the pinned Monday 09:30 UTC
    with pytest.raises(URLNotFoundNomadException):
        client.job.get_job("nightly")


def test_plan_reports_none_for_unchanged_and_field_diffs_for_edits(client):
    registered = client.jobs.register_job({"Job": periodic_job()})

    unchanged = client.job.plan_job("nightly", {"Job": periodic_job()}, diff=True)
    assert unchanged["Diff"]["Type"] == "None" and unchanged["JobModifyIndex"] == registered["JobModifyIndex"]
    assert unchanged["Diff"]["TaskGroups"][0]["Type"] == "None"

    edited = periodic_job(spec="30 2 * * *")
    task = edited["TaskGroups"][0]["Tasks"][0]
    task["Env"] = {"FOO": "baz", "NEW": "1"}
    task["Config"]["image"] = "alpine:3.21"
    diff = client.job.plan_job("nightly", {"Job": edited}, diff=True)["Diff"]
    assert diff["Type"] == "Edited"
    periodic = next(o for o in diff["Objects"] if o["Name"] == "Periodic")
    assert periodic["Type"] == "Edited"
    assert periodic["Fields"] == [
        {"Type": "Edited", "Name": "Spec", "Old": "0 3 * * *", "New": "30 2 * * *", "Annotations": None}
    ]
    task_diff = diff["TaskGroups"][0]["Tasks"][0]
    assert task_diff["Type"] == "Edited" and task_diff["Annotations"] == ["forces create/destroy update"]
    assert {f["Name"]: (f["Type"], f["Old"], f["New"]) for f in task_diff["Fields"]} == {
        "Env[FOO]": ("Edited", "bar", "baz"),
        "Env[NEW]": ("Added", "", "1"),
    }
    config = next(o for o in task_diff["Objects"] if o["Name"] == "Config")
    assert config["Fields"] == [
        {"Type": "Edited", "Name": "image", "Old": "alpine:3.20", "New": "alpine:3.21", "Annotations": None}
    ]
    assert client.job.plan_job("nightly", {"Job": edited})["Diff"] is None


def test_plan_checks_ids_and_validation(emu, client):
    assert requests.post(f"{emu.address}/v1/job/nightly/plan", json={"Job": {}}).text == "Job must have a valid ID"
    mismatch = requests.put(f"{emu.address}/v1/job/other/plan", json={"Job": periodic_job()})
    assert (mismatch.status_code, mismatch.text) == (400, "Job ID does not match")
    with pytest.raises(BaseNomadException) as error:
        client.job.plan_job("nightly", {"Job": periodic_job(spec="bogus")})
    assert error.value.nomad_resp.status_code == 500 and 'Invalid cron spec "bogus"' in error.value.nomad_resp.text


# periodic launches ----------------------------------------------------------------------------------------------


def test_force_launch_derives_a_child_named_after_the_request_second(emu, client):
    client.jobs.register_job({"Job": periodic_job()})

    before = int(time.time())
    forced = client.job.periodic_job("nightly")
    after = int(time.time())

    assert set(forced) == {"EvalID", "EvalCreateIndex", "Index"}
    assert forced["EvalCreateIndex"] == forced["Index"]
    evaluation = client.evaluation.get_evaluation(forced["EvalID"])
    assert evaluation["TriggeredBy"] == "periodic-job" and evaluation["Status"] == "complete"
    child_id = evaluation["JobID"]
    parent, _, suffix = child_id.partition("/periodic-")
    assert parent == "nightly" and before <= int(suffix) <= after
    child = client.job.get_job(child_id)
    assert (child["ParentID"], child["Name"], child["Periodic"], child["Status"]) == (
        "nightly",
        child_id,
        None,
        "running",
    )
    assert child["Meta"] == periodic_job()["Meta"]
    allocs = client.job.get_allocations(child_id)
    assert [a["Name"] for a in allocs] == [f"{child_id}.main[0]"]
    assert allocs[0]["EvalID"] == forced["EvalID"] and allocs[0]["JobType"] == "batch"
    assert client.job.get_allocations("nightly") == []


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (None, "job not found"),
        ({"Job": batch_job("nightly")}, "can't force launch non-periodic job"),
        (
            {"Job": periodic_job(Periodic={"Spec": "0 3 * * *", "Enabled": False})},
            'force launch for job "nightly" failed: can\'t force run non-tracked job "nightly" (default)',
        ),
    ],
)
def test_force_launch_errors_are_500(client, setup, message):
    if setup:
        client.jobs.register_job(setup)

    with pytest.raises(BaseNomadException) as error:
        client.job.periodic_job("nightly")

    assert (error.value.nomad_resp.status_code, error.value.nomad_resp.text) == (500, message)


def test_force_launch_of_a_stopped_parent_is_refused(client):
    client.jobs.register_job({"Job": periodic_job()})
    client.job.deregister_job("nightly")

    with pytest.raises(BaseNomadException) as error:
        client.job.periodic_job("nightly")

    assert "can't force run non-tracked job" in error.value.nomad_resp.text


def test_scheduled_launch_uses_the_cron_instant_and_respects_prohibit_overlap(clock, emu, client):
    client.jobs.register_job({"Job": periodic_job()})

    first = emu.launch_next("nightly")
    launched_at = int(first.rsplit("-", 1)[1])
    assert launched_at == int(datetime(2025, 6, 3, 3, tzinfo=UTC).timestamp())  # next 03:00 after the pinned clock
    assert emu.launch("nightly", datetime(2030, 1, 1, 3, tzinfo=UTC)) is None  # first child still runs

    alloc_id = emu.alloc_ids(first)[0]
    emu.alloc_run(alloc_id)
    emu.alloc_finish(alloc_id)
    second = emu.launch_next("nightly")
    assert int(second.rsplit("-", 1)[1]) == launched_at + 86400
    assert emu.children("nightly") == [first, second]
    assert client.job.get_job(first)["Status"] == "dead"


def test_cron_follows_nomad_field_layout():
    start = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    assert cron_normalize("0 3 * * *") == "0 0 3 * * * *"
    assert cron_normalize("*/15 * * * * *") == "0 */15 * * * * *"  # six fields: the sixth is the YEAR
    assert cron_normalize("@daily") == "0 0 0 * * * *"
    assert cron_next("*/15 * * * * *", start) == datetime(2026, 1, 15, 12, 15, tzinfo=UTC)
    assert cron_next("0 30 9 * * * 2030", start) == datetime(2030, 1, 1, 9, 30, tzinfo=UTC)
    assert cron_next("0 0 * * 5L", start) == datetime(2026, 1, 30, tzinfo=UTC)
    assert cron_next("0 3 * * *", start, "Europe/Berlin").isoformat() == "2026-01-16T03:00:00+01:00"
    for spec, error in [("* * * *", "missing field(s)"), ("*/0 * * * *", "invalid interval */0")]:
        with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
            cron_normalize(spec)
    assert go_parse_duration("1m30s") == 90 * 10**9


# deregister -----------------------------------------------------------------------------------------------------


def test_deregister_stops_then_purges_and_leaves_children_alone(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    child = force_child(client)

    stopped = client.job.deregister_job("nightly")
    assert stopped["EvalID"] == "" and stopped["JobModifyIndex"] == stopped["Index"] > 0
    job = client.job.get_job("nightly")
    assert (job["Stop"], job["Status"], job["Version"]) == (True, "dead", 1)
    assert client.job.get_job(child)["Status"] == "running"

    client.job.deregister_job("nightly", purge=True)
    with pytest.raises(URLNotFoundNomadException):
        client.job.get_job("nightly")
    assert client.job.get_job(child)["ParentID"] == "nightly"

    missing = client.job.deregister_job("ghost", purge=True)
    assert (missing["EvalID"], missing["JobModifyIndex"]) == ("", 0)


def test_stopping_a_batch_job_stops_its_allocs(emu, client):
    client.jobs.register_job({"Job": batch_job()})
    alloc_id = emu.alloc_ids("oneshot")[0]
    emu.alloc_run(alloc_id)

    response = client.job.deregister_job("oneshot")

    assert response["EvalID"]
    alloc = client.allocation.get_allocation(alloc_id)
    assert (alloc["DesiredStatus"], alloc["ClientStatus"]) == ("stop", "complete")
    events = alloc["TaskStates"]["run"]["Events"]
    assert [e["Type"] for e in events][-3:] == ["Killing", "Terminated", "Killed"]
    assert (events[-2]["ExitCode"], events[-2]["Signal"], events[-2]["Details"]["signal"]) == (143, 15, "15")


def test_query_booleans_parse_like_go(emu):
    for value in ("True", "1", "t"):
        requests.post(f"{emu.address}/v1/jobs", json={"Job": periodic_job()})
        assert requests.delete(f"{emu.address}/v1/job/nightly", params={"purge": value}).status_code == 200
        assert requests.get(f"{emu.address}/v1/job/nightly").status_code == 404

    bad = requests.delete(f"{emu.address}/v1/job/nightly", params={"purge": "yes"})
    assert bad.status_code == 500 and bad.text.startswith('Failed to parse value of "purge" (yes)')


# allocations ----------------------------------------------------------------------------------------------------


def test_allocations_filter_pagination_and_task_states(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    client.jobs.register_job({"Job": periodic_job("other")})
    runs = emu.seed_runs("nightly", 5, "complete", start=1_700_000_000)
    runs += emu.seed_runs("nightly", 2, "failed", exit_code=3, start=1_700_000_300)
    emu.seed_runs("other", 2)
    alloc_ids = [emu.alloc_ids(run)[0] for run in runs]

    everything = client.allocations.get_allocations(filter_='JobID matches "^nightly/periodic-"')
    assert [a["JobID"] for a in everything] == runs
    failed = client.allocations.get_allocations(filter_='JobID matches "^nightly/" and ClientStatus == "failed"')
    assert [a["JobID"] for a in failed] == runs[5:]
    terminated = failed[0]["TaskStates"]["run"]["Events"][-2]
    assert (terminated["Type"], terminated["ExitCode"], terminated["DisplayMessage"]) == (
        "Terminated",
        3,
        "Exit Code: 3",
    )
    assert terminated["Details"] == {"exit_code": "3", "signal": "0", "oom_killed": "false"}
    listed = client.allocations.get_allocations(filter_='(ClientStatus == "pending" or ClientStatus == "failed")')
    assert len(listed) == 2
    # go-bexpr has no list literal: Nomad refuses the filter before it reads a row.
    refused = requests.get(f"{emu.address}/v1/allocations", params={"filter": 'ClientStatus in ["pending", "failed"]'})
    assert refused.status_code == 400
    assert refused.text.startswith("failed to create result paginator: failed to read filter expression: 1:17")

    seen, token = [], None
    while True:
        params = {"filter": 'JobID matches "^nightly/"', "per_page": 3, "task_states": "false"}
        if token:
            params["next_token"] = token
        response = requests.get(f"{emu.address}/v1/allocations", params=params)
        page = response.json()
        assert all(a["TaskStates"] is None for a in page)
        seen += [a["JobID"] for a in page]
        token = response.headers.get("X-Nomad-NextToken")
        if not token:
            break
        assert token == f"{emu.allocs[alloc_ids[len(seen)]]['CreateIndex']}.{alloc_ids[len(seen)]}"
    assert seen == runs

    newest = requests.get(f"{emu.address}/v1/allocations", params={"reverse": "true", "per_page": 1}).json()
    assert newest[0]["JobID"].startswith("other/")


def listed_stubs_and_rendered(emu):
    """Return the raw body of ``GET /v1/allocations`` and the stubs rendered afresh, encoded as Nomad encodes them."""
    body = requests.get(f"{emu.address}/v1/allocations").content
    state = emu._state
    with state.lock:
        fresh = [state.alloc_stub(alloc) for alloc in state.alloc_order]
    return body, json.dumps(fresh, separators=(",", ":"), ensure_ascii=False).encode()


def test_listed_allocation_stubs_are_the_rendered_stubs_byte_for_byte(emu, client):
    two_tasks = periodic_job()
    sidecar = dict(two_tasks["TaskGroups"][0]["Tasks"][0], Name='sidecar ✓ "quoted"')
    two_tasks["TaskGroups"][0]["Tasks"].append(sidecar)
    client.jobs.register_job({"Job": two_tasks})
    for status in ("complete", "failed", "lost", "pending", "running"):
        emu.seed_runs("nightly", 2, status, exit_code=5 if status == "failed" else None)
    client.jobs.register_job({"Job": batch_job()})
    children = [force_child(client) for _ in range(3)]
    allocs = [emu.alloc_ids(child)[0] for child in children[-1:]] + emu.alloc_ids("oneshot")
    emu.alloc_run(allocs[0], task="run")
    emu.alloc_finish(allocs[1], "failed", task="run", restarts=2, signal=9, exit_message='out of "memory" ✗')

    body, rendered = listed_stubs_and_rendered(emu)

    assert body == rendered
    assert requests.get(f"{emu.address}/v1/allocations", params={"pretty": ""}).json() == json.loads(body)


def test_a_changed_allocation_is_listed_as_it_is_now(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    client.jobs.register_job({"Job": batch_job()})
    child = force_child(client)
    alloc_id = emu.alloc_ids(child)[0]
    listed_stubs_and_rendered(emu)  # every stub rendered once, as a refresher listing them would

    def listed() -> dict:
        body, rendered = listed_stubs_and_rendered(emu)
        assert body == rendered
        return {a["ID"]: a for a in json.loads(body)}[alloc_id]

    emu.alloc_run(alloc_id)
    assert listed()["ClientStatus"] == "running"
    emu.alloc_finish(alloc_id, "failed", exit_code=4)
    assert listed()["TaskStates"]["run"]["Events"][-2]["ExitCode"] == 4
    emu.alloc_finish(alloc_id, "lost")
    assert listed()["ClientStatus"] == "lost"
    requests.post(f"{emu.address}/v1/allocation/{alloc_id}/stop")
    assert listed()["DesiredDescription"] == "alloc was stopped by user"
    oneshot = emu.alloc_ids("oneshot")[0]
    emu.alloc_run(oneshot)
    listed_stubs_and_rendered(emu)
    client.job.deregister_job("oneshot")
    stopped = {a["ID"]: a for a in client.allocations.get_allocations()}[oneshot]
    assert (stopped["DesiredStatus"], stopped["ClientStatus"]) == ("stop", "complete")
    listed()


def test_reverse_must_be_the_literal_true_as_in_nomad():
    with NomadEmulator() as emulator:  # outside the contract test on purpose: python-nomad sends "True"
        client = nomad.Nomad(address=emulator.address)
        client.jobs.register_job({"Job": periodic_job()})
        runs = emulator.seed_runs("nightly", 3)

        assert [a["JobID"] for a in client.allocations.get_allocations(reverse=True)] == runs


def test_allocation_read_has_job_and_404_when_missing(emu, client):
    client.jobs.register_job({"Job": batch_job()})
    alloc_id = emu.alloc_ids("oneshot")[0]

    alloc = client.allocation.get_allocation(alloc_id)
    assert alloc["Job"]["ID"] == "oneshot" and alloc["AllocatedResources"]["Tasks"]["run"]["Memory"]["MemoryMB"] == 128
    with pytest.raises(URLNotFoundNomadException) as error:
        client.allocation.get_allocation("00000000-0000-0000-0000-000000000000")
    assert error.value.nomad_resp.text == "alloc not found"


def test_alloc_lifecycle_sets_task_states_like_a_client(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    child = force_child(client)
    alloc_id = emu.alloc_ids(child)[0]

    emu.alloc_run(alloc_id)
    running = client.allocation.get_allocation(alloc_id)
    assert (running["ClientStatus"], running["ClientDescription"]) == ("running", "Tasks are running")
    state = running["TaskStates"]["run"]
    assert [e["Type"] for e in state["Events"]] == ["Received", "Task Setup", "Started"]
    assert state["State"] == "running" and state["StartedAt"].endswith("Z") and state["FinishedAt"] is None
    assert client.job.get_job(child)["Status"] == "running"

    emu.alloc_finish(alloc_id, "failed", exit_code=2, restarts=1)
    failed = client.allocation.get_allocation(alloc_id)
    state = failed["TaskStates"]["run"]
    assert (failed["ClientStatus"], state["State"], state["Failed"], state["Restarts"]) == ("failed", "dead", True, 1)
    assert [e["Type"] for e in state["Events"]] == [
        "Received",
        "Task Setup",
        "Started",
        "Terminated",
        "Restarting",
        "Started",
        "Terminated",
        "Not Restarting",
    ]
    times = [e["Time"] for e in state["Events"]]
    assert times == sorted(times)
    assert state["Events"][-1]["FailsTask"] is True
    assert client.job.get_job(child)["Status"] == "dead"


def test_allocations_blocking_query_waits_for_a_change(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    child = force_child(client)
    alloc_id = emu.alloc_ids(child)[0]
    first = requests.get(f"{emu.address}/v1/allocations")
    index = int(first.headers["X-Nomad-Index"])
    assert first.headers["X-Nomad-KnownLeader"] == "true" and first.headers["X-Nomad-LastContact"] == "0"

    started = time.monotonic()
    unchanged = requests.get(f"{emu.address}/v1/allocations", params={"index": index, "wait": "100ms"})
    assert time.monotonic() - started < 1.0
    assert unchanged.status_code == 200 and int(unchanged.headers["X-Nomad-Index"]) == index

    threading.Timer(0.3, emu.alloc_run, args=(alloc_id,)).start()
    started = time.monotonic()
    changed = client.allocations.request(method="get", params={"index": index, "wait": "10s"}, timeout=15)
    assert 0.2 < time.monotonic() - started < 5
    assert int(changed.headers["X-Nomad-Index"]) > index
    assert changed.json()[0]["ClientStatus"] == "running"

    job_index = int(requests.get(f"{emu.address}/v1/job/{child}").headers["X-Nomad-Index"])
    threading.Timer(0.2, emu.alloc_finish, args=(alloc_id,)).start()
    job = requests.get(f"{emu.address}/v1/job/{child}", params={"index": job_index, "wait": "5s"})
    assert job.json()["Status"] == "dead" and int(job.headers["X-Nomad-Index"]) > job_index

    assert requests.get(f"{emu.address}/v1/allocations", params={"index": "x"}).text == "Invalid index"
    assert requests.get(f"{emu.address}/v1/jobs", params={"index": 1, "wait": "30"}).text == "Invalid wait time"


# logs -----------------------------------------------------------------------------------------------------------


def test_logs_plain_framed_and_from_the_end(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    alloc_id = emu.alloc_ids(force_child(client))[0]
    not_started = requests.get(f"{emu.address}/v1/client/fs/logs/{alloc_id}", params={"task": "run", "type": "stdout"})
    assert (not_started.status_code, not_started.text) == (404, 'task "run" not started yet. No logs available')

    emu.alloc_finish(alloc_id, stdout=b"line one\nline two\n", stderr=b"warning\n")

    assert client.client.stream_logs.stream(alloc_id, "run", "stdout", plain=True) == "line one\nline two\n"
    framed = requests.get(f"{emu.address}/v1/client/fs/logs/{alloc_id}", params={"task": "run", "type": "stderr"})
    assert framed.headers["Content-Type"] == "application/json"
    frames = decode_frames(framed.text)
    assert frames == [{"Offset": 8, "Data": base64.b64encode(b"warning\n").decode(), "File": "alloc/logs/run.stderr.0"}]
    tail = client.client.stream_logs.stream(alloc_id, "run", "stdout", offset=9, origin="end", plain=True)
    assert tail == "line two\n"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"type": "stdout"}, 400, "must provide task name"),
        ({"task": "run"}, 400, "must provide log type (stdout/stderr)"),
        ({"task": "run", "type": "stdout", "origin": "middle"}, 400, "origin must be start or end"),
        ({"task": "run", "type": "stdout", "follow": "maybe"}, 400, "failed to parse follow field to boolean"),
        ({"task": "run", "type": "stdout", "offset": "x"}, 400, "error parsing offset"),
        ({"task": "nope", "type": "stdout"}, 400, 'unknown task name "nope"'),
    ],
)
def test_log_parameter_errors(emu, client, params, status, message):
    client.jobs.register_job({"Job": batch_job()})
    alloc_id = emu.alloc_ids("oneshot")[0]
    emu.alloc_run(alloc_id)

    response = requests.get(f"{emu.address}/v1/client/fs/logs/{alloc_id}", params=params)

    assert response.status_code == status and response.text.startswith(message)


def test_logs_follow_streams_until_the_task_ends(emu, client):
    client.jobs.register_job({"Job": batch_job()})
    alloc_id = emu.alloc_ids("oneshot")[0]
    emu.alloc_run(alloc_id)
    emu.alloc_append_log(alloc_id, "run", "stdout", b"first\n")

    def produce():
        time.sleep(0.2)
        emu.alloc_append_log(alloc_id, "run", "stdout", b"second\n")
        time.sleep(0.2)
        emu.alloc_finish(alloc_id, stdout=b"last\n")

    threading.Thread(target=produce).start()
    response = client.client.stream_logs.request(
        alloc_id, method="get", params={"task": "run", "type": "stdout", "follow": "true"}, stream=True, timeout=10
    )
    body = b"".join(response.iter_content(chunk_size=None)).decode()

    frames = [f for f in decode_frames(body) if f]
    assert b"".join(base64.b64decode(f["Data"]) for f in frames) == b"first\nsecond\nlast\n"
    assert frames[-1]["Offset"] == len("first\nsecond\nlast\n")


def test_logs_are_gone_after_gc(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    done, running = emu.seed_runs("nightly", 1), emu.seed_runs("nightly", 1, "running")
    alloc_id = emu.alloc_ids(done[0])[0]
    emu.alloc_append_log(alloc_id, "run", "stdout", b"archived?\n")

    assert emu.gc() == done

    response = requests.get(f"{emu.address}/v1/client/fs/logs/{alloc_id}", params={"task": "run", "type": "stdout"})
    assert (response.status_code, response.text) == (404, f'Unknown allocation "{alloc_id}"')
    with pytest.raises(URLNotFoundNomadException):
        client.job.get_job(done[0])
    assert client.job.get_job(running[0])["Status"] == "running" and client.job.get_job("nightly")
    assert client.allocations.get_allocations(filter_=f'JobID == "{done[0]}"') == []


# event stream ---------------------------------------------------------------------------------------------------


def test_event_stream_replays_then_follows_job_and_allocation_events(emu, client):
    emu.event_heartbeat = 0.2
    client.jobs.register_job({"Job": periodic_job()})
    child = force_child(client)
    alloc_id = emu.alloc_ids(child)[0]

    response = requests.get(
        f"{emu.address}/v1/event/stream", params={"topic": ["Job", "Allocation"]}, stream=True, timeout=5
    )
    lines = response.iter_lines()
    assert next(lines) == b"{}"
    threading.Timer(0.3, emu.alloc_finish, args=(alloc_id,)).start()
    events = []
    for line in lines:
        frame = json.loads(line)
        events += frame.get("Events", [])
        if any(e["Type"] == "AllocationUpdated" for e in events):
            break
    response.close()

    seen = [(e["Topic"], e["Type"], e["Key"]) for e in events]
    assert seen.index(("Job", "JobRegistered", "nightly")) < seen.index(("Job", "JobRegistered", child))
    assert ("Allocation", "PlanResult", alloc_id) in seen
    assert ("Job", "PlanResult", child) in seen  # status pending -> running after the placement
    update = next(e for e in events if e["Type"] == "AllocationUpdated")
    assert update["FilterKeys"] == [child, ""] and update["Payload"]["Allocation"]["Job"] is None
    assert update["Payload"]["Allocation"]["ClientStatus"] == "complete"


def test_event_stream_topic_keys_match_exactly_and_bad_queries_are_400(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    child = force_child(client)
    emu.event_heartbeat = 0.1

    response = requests.get(
        f"{emu.address}/v1/event/stream",
        params={"topic": ["Allocation:nightly", f"Job:{child}"], "index": 0},
        stream=True,
        timeout=5,
    )
    frames = []
    for line in response.iter_lines():
        frames.append(json.loads(line))
        if len(frames) >= 3 and frames[-1] == {}:
            break
    response.close()

    keys = {(e["Topic"], e["Key"]) for f in frames for e in f.get("Events", [])}
    assert keys == {("Job", child)}  # "Allocation:nightly" does not match the child's allocations
    bad = requests.get(f"{emu.address}/v1/event/stream", params={"topic": "Job:a:b"})
    assert (bad.status_code, bad.text.startswith("Invalid topic query")) == (400, True)
    assert requests.get(f"{emu.address}/v1/event/stream", params={"index": "x"}).text.startswith(
        "Unable to parse index"
    )


# ids, routing, status -------------------------------------------------------------------------------------------


def test_job_ids_with_raw_and_escaped_slashes_route_alike(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    child = force_child(client)
    escaped = child.replace("/", "%2F")

    for path in (child, escaped):
        assert requests.get(f"{emu.address}/v1/job/{path}").json()["ID"] == child
        allocations = requests.get(f"{emu.address}/v1/job/{path}/allocations").json()
        assert [a["JobID"] for a in allocations] == [child]
        assert requests.get(f"{emu.address}/v1/job/{path}/evaluations").json()[0]["JobID"] == child
    assert client.job.get_job(child)["ID"] == child


def test_unknown_paths_are_404_empty_and_wrong_methods_405(emu):
    missing = requests.get(f"{emu.address}/v1/nothing/here")
    assert (missing.status_code, missing.text) == (404, "")
    wrong = requests.get(f"{emu.address}/v1/job/nightly/plan")
    assert (wrong.status_code, wrong.text) == (405, "Invalid method")
    assert requests.delete(f"{emu.address}/v1/jobs").status_code == 405
    assert requests.get(f"{emu.address}/v1/jobs", params={"region": "mars"}).text == "No path to region"


def test_status_agent_regions_and_namespaces(emu, client):
    assert client.status.leader.get_leader() == "127.0.0.1:4647"
    assert client.status.peers.get_peers() == ["127.0.0.1:4647"]
    assert client.regions.get_regions() == ["global"]
    agent = client.agent.get_agent()
    assert agent["config"]["Version"]["Version"] == "1.11.2" and agent["stats"]["nomad"]["leader"] == "true"
    assert client.namespaces.get_namespaces()[0]["Name"] == "default"
    pretty = requests.get(f"{emu.address}/v1/regions?pretty")
    assert pretty.text.startswith("[\n    ")


# ACL ------------------------------------------------------------------------------------------------------------


def test_acl_tokens_and_capabilities():
    with NomadEmulator(acl=True) as emulator:
        emulator.add_namespace("prod")
        reader = emulator.create_token({"default": "read"})
        writer = emulator.create_token({"*": "write"}, agent="read")
        anonymous = nomad.Nomad(address=emulator.address)
        as_reader = nomad.Nomad(address=emulator.address, token=reader)
        as_writer = nomad.Nomad(address=emulator.address, token=writer)

        with pytest.raises(URLNotAuthorizedNomadException) as error:
            anonymous.jobs.get_jobs()
        assert error.value.nomad_resp.text == "Permission denied"
        with pytest.raises(URLNotAuthorizedNomadException) as error:
            nomad.Nomad(address=emulator.address, token="not-a-token").jobs.get_jobs()
        assert error.value.nomad_resp.text == "ACL token not found"
        assert anonymous.status.leader.get_leader() == "127.0.0.1:4647"

        with pytest.raises(URLNotAuthorizedNomadException):
            as_reader.jobs.register_job({"Job": periodic_job()})
        as_writer.jobs.register_job({"Job": periodic_job()})
        as_writer.jobs.register_job({"Job": periodic_job(Namespace="prod")})
        assert as_reader.job.get_job("nightly")["ID"] == "nightly"
        assert [j["Namespace"] for j in as_reader.jobs.get_jobs(namespace="*")] == ["default"]
        with pytest.raises(URLNotAuthorizedNomadException):
            as_reader.job.periodic_job("nightly")
        child = force_child(as_writer)
        alloc_id = emulator.alloc_ids(child)[0]
        emulator.alloc_finish(alloc_id, stdout=b"secret\n")
        with pytest.raises(BaseNomadException) as denied:  # log streams answer a denial with 500, not 403
            as_reader.client.stream_logs.stream(alloc_id, "run", "stdout", plain=True)
        assert (denied.value.nomad_resp.status_code, denied.value.nomad_resp.text) == (500, "Permission denied")
        assert as_writer.client.stream_logs.stream(alloc_id, "run", "stdout", plain=True) == "secret\n"
        with pytest.raises(URLNotAuthorizedNomadException):
            as_reader.agent.get_agent()
        assert as_writer.agent.get_agent()["config"]["ACL"]["Enabled"] is True

        bearer = requests.get(
            f"{emulator.address}/v1/job/nightly", headers={"Authorization": f"Bearer {emulator.management_token}"}
        )
        assert bearer.status_code == 200
        padded = requests.get(f"{emulator.address}/v1/jobs", headers={"X-Nomad-Token": f"{reader}  "})
        assert padded.status_code == 200
        all_topics = requests.get(f"{emulator.address}/v1/event/stream", headers={"X-Nomad-Token": writer})
        assert (all_topics.status_code, all_topics.text) == (403, "Permission denied")
        SERVED.extend(emulator.requests_log)


# faults ---------------------------------------------------------------------------------------------------------


def test_fault_down_refuses_connections_until_up(emu, client):
    client.jobs.register_job({"Job": periodic_job()})
    port = emu.port

    emu.fault("down")
    with pytest.raises(BaseNomadException) as error:
        client.job.get_job("nightly")
    assert isinstance(error.value.nomad_resp, requests.exceptions.ConnectionError)

    emu.fault(None)
    assert emu.port == port and client.job.get_job("nightly")["ID"] == "nightly"


def test_fault_error500_slow_and_flaky_writes(emu, client):
    emu.fault("error500")
    with pytest.raises(BaseNomadException) as error:
        client.status.leader.get_leader()
    assert (error.value.nomad_resp.status_code, error.value.nomad_resp.text) == (500, FAULT_500_MESSAGE)

    emu.fault("slow", delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{emu.address}/v1/status/leader", timeout=0.2)

    emu.fault(None, fail_rate=0.5)
    statuses = [requests.post(f"{emu.address}/v1/jobs", json={"Job": periodic_job()}).status_code for _ in range(40)]
    assert {200, 500} == set(statuses)
    assert requests.get(f"{emu.address}/v1/job/nightly").status_code == 200  # reads never fail

    emu.fault(None)
    assert client.status.leader.get_leader()


def test_python_register_raises_like_the_api():
    emulator = NomadEmulator()
    with pytest.raises(NomadEmulatorError) as error:
        emulator.register(periodic_job(spec="nope"))
    assert error.value.status == 500 and "Invalid cron spec" in error.value.message
    assert emulator.register(periodic_job())["JobModifyIndex"] > 0


# scale ----------------------------------------------------------------------------------------------------------


def test_bulk_seeded_history_is_fast_to_page_and_block_on():
    # Followed blindly, tokens string-compared (before 1.10.2) start over past index 9,999: page as 1.10.2+ do.
    with NomadEmulator(record=False, paging="numeric") as emulator:
        started = time.monotonic()
        for number in range(100):
            emulator.register(periodic_job(f"striv-job-{number}"))
            emulator.seed_runs(f"striv-job-{number}", 100, "complete" if number % 4 else "failed")
        assert time.monotonic() - started < 10
        session = requests.Session()

        token, total = None, 0
        while True:
            params = {"filter": 'JobID matches "^striv-"', "per_page": 2000, "task_states": "false"}
            response = session.get(
                f"{emulator.address}/v1/allocations", params={**params, **({"next_token": token} if token else {})}
            )
            total += len(response.json())
            token = response.headers.get("X-Nomad-NextToken")
            if not token:
                break
        assert total == 10_000

        index = response.headers["X-Nomad-Index"]
        started = time.monotonic()
        unchanged = session.get(
            f"{emulator.address}/v1/allocations",
            params={"filter": 'JobID matches "^striv-job-7/"', "index": index, "wait": "50ms"},
        )
        assert time.monotonic() - started < 1.0 and len(unchanged.json()) == 100


# contract -------------------------------------------------------------------------------------------------------


def test_served_traffic_matches_the_openapi_spec():
    if not openapi_contract.available():
        pytest.skip("../shared/nomad/openapi.yaml not present")
    contract = openapi_contract.load()
    with NomadEmulator() as emulator:  # a scenario of its own, so the test also works when run alone
        client = nomad.Nomad(address=emulator.address)
        client.jobs.register_job({"Job": periodic_job()})
        client.job.plan_job("nightly", {"Job": periodic_job(spec="0 4 * * *")}, diff=True)
        child = force_child(client)
        alloc_id = emulator.alloc_ids(child)[0]
        emulator.alloc_finish(alloc_id, "failed", restarts=1)
        client.job.get_job(child)
        client.jobs.get_jobs(prefix="nightly/", meta=True)
        client.allocations.get_allocations(filter_='JobID matches "^nightly/"', per_page=5)
        client.allocation.get_allocation(alloc_id)
        client.job.get_evaluations(child)
        client.job.deregister_job("nightly", purge=True)
    exchanges = SERVED + emulator.requests_log

    checked = [e for e in exchanges if contract.covers(e.method, e.path)]
    problems = [problem for exchange in checked for problem in contract.check(exchange)]

    assert len(checked) > 20
    assert problems == []


@pytest.mark.parametrize("paging", ["string", "numeric"])
def test_allocation_pages_across_a_power_of_ten_follow_the_release(paging):
    """Nomad 1.6.0-1.10.1 compare tokens as strings, so pages start over once indexes gain a digit; 1.10.2+ do not."""
    with NomadEmulator(paging=paging, first_index=99_990) as emulator:
        emulator.register(periodic_job())
        emulator.seed_runs("nightly", 20, start=1_700_000_000)
        ordered = [a["ID"] for a in sorted(emulator.allocs.values(), key=lambda a: (a["CreateIndex"], a["ID"]))]
        pages, token = [], None
        for _ in range(6):
            params = {"per_page": 5, "reverse": "true", **({"next_token": token} if token else {})}
            response = requests.get(f"{emulator.address}/v1/allocations", params=params)
            pages.append([a["ID"] for a in response.json()])
            token = response.headers.get("X-Nomad-NextToken")
            if not token:
                break
    newest_first = ordered[::-1]
    if paging == "numeric":
        assert pages == [newest_first[i : i + 5] for i in range(0, 20, 5)]
    else:
        # once the token is "999xx.<id>", which sorts after every "1000xx" row, the list starts over
        restart = pages.index(newest_first[0:5], 1)
        assert pages[:restart] == [newest_first[i : i + 5] for i in range(0, 5 * restart, 5)]
        assert pages[restart + 1] == newest_first[5:10] and token
