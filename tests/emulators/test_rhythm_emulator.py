"""Tests of the Rhythm + Mesos emulator over raw HTTP: it must answer as Rhythm 0.18 and Mesos do (API.md)."""

from __future__ import annotations

import json

import pytest
import requests
import time_machine

from tests.emulators.rhythm import READ_CAP, RhythmEmulator


@pytest.fixture
def emu():
    emulator = RhythmEmulator().start()
    yield emulator
    emulator.stop()


def body(**overrides):
    job = {
        "group": "g", "project": "p", "id": "echo", "cpus": 0.5, "mem": 128, "cmd": "echo $FOO", "user": "root",
        "env": {"FOO": "bar"}, "schedule": {"cron": "*/5 * * * *"}, "container": {"docker": {"image": "alpine:3.8"}},
    }  # fmt: skip
    job.update(overrides)
    return job


def create(emu, **overrides):
    return requests.post(f"{emu.address}/api/v1/jobs", json=body(**overrides), allow_redirects=False)


def job_url(emu, job_id="echo"):
    return f"{emu.address}/api/v1/jobs/g/p/{job_id}"


def stdout_path(emu, task_id):
    return f"/frameworks/{emu.framework_id}/executors/{task_id}/runs/latest/stdout"


def agent_url(emu):
    return next(iter(emu.agents.values())).server.address


# --- Rhythm --------------------------------------------------------------------------------------------------------


def test_create_answers_204_and_the_job_reads_back_in_go_names_with_defaults(emu):
    response = create(emu)
    assert (response.status_code, response.content) == (204, b"")
    job = requests.get(job_url(emu))
    assert job.status_code == 200 and job.text.startswith('{\n    "Group": "g"') and job.text.endswith("}\n")
    data = job.json()
    assert data["Shell"] is True and data["Arguments"] == [] and data["Labels"] == {} and data["Disk"] == 0
    assert data["State"] == "Idle" and data["LastStart"] == "0001-01-01T00:00:00Z"
    assert data["Container"] == {"Type": "Docker", "Docker": {"Image": "alpine:3.8", "ForcePullImage": False}}
    assert '"Mem": 128,' in job.text  # whole floats print without a decimal point


def test_keys_match_case_insensitively_and_unknown_keys_are_ignored(emu):
    payload = body()
    payload.pop("cpus")
    payload.update(CPUs=2, Max_Retries=3, whatever=1)
    assert requests.post(f"{emu.address}/api/v1/jobs", json=payload).status_code == 204
    job = requests.get(job_url(emu)).json()
    assert job["CPUs"] == 2 and job["MaxRetries"] == 0


def test_failed_validation_answers_200_with_every_error_as_json(emu):
    response = create(emu, id="bad id", cpus=0, schedule={"cron": "0 0 * * 7"}, container={})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert set(response.json()["Errors"]) == {
        "ID: Does not match pattern '^[a-zA-Z0-9-_]+$'",
        "CPUs: Must be greater than 0",
        "Schedule.Cron: Does not match format 'cron'",
        "Container: Must validate one and only one schema (oneOf)",
        "Container.Docker.Image: String length must be greater than or equal to 1",
    }
    assert requests.get(f"{emu.address}/api/v1/jobs").json() == []


@pytest.mark.parametrize("cron", ["@daily", "* * * * * *", "*/0 * * * *", "0 24 * * *", "0 0 0 * *"])
def test_cron_outside_rhythms_dialect_is_a_validation_error(emu, cron):
    assert create(emu, schedule={"cron": cron}).json() == {"Errors": ["Schedule.Cron: Does not match format 'cron'"]}


@pytest.mark.parametrize("payload", [b"", b"{", b'{"cpus": "1"}', b'{"maxretries": 1.5}', b'{"env": {"A": 1}}'])
def test_undecodable_bodies_are_400_json_labelled_text_plain(emu, payload):
    response = requests.post(f"{emu.address}/api/v1/jobs", data=payload)
    assert response.status_code == 400 and response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.json()["Errors"][0].startswith("JSON decoding failed: ")


def test_create_of_an_existing_job_is_400_and_get_of_an_unknown_one_404_empty(emu):
    create(emu)
    again = create(emu)
    assert (again.status_code, again.json()) == (400, {"Errors": ["Job already exists"]})
    missing = requests.get(job_url(emu, "nope"))
    assert (missing.status_code, missing.content) == (404, b"")


def test_update_merges_given_fields_and_replaces_maps_whole(emu):
    create(emu, labels={"a": "1", "b": "2"})
    response = requests.put(job_url(emu), json={"labels": {"c": "3"}, "user": "bob", "group": "ignored"})
    assert response.status_code == 204
    job = requests.get(job_url(emu)).json()
    assert job["Labels"] == {"c": "3"} and job["User"] == "bob" and job["Env"] == {"FOO": "bar"}
    assert job["Group"] == "g"


def test_update_errors(emu):
    unknown = requests.put(job_url(emu, "nope"), json={"user": "x"})
    assert (unknown.status_code, unknown.headers["Content-Type"]) == (404, "text/plain; charset=utf-8")
    assert unknown.json() == {"Errors": ["Job not found"]}
    create(emu, container={"mesos": {"image": "centos"}})
    switch = requests.put(job_url(emu), json={"container": {"docker": {}}})
    assert (switch.status_code, switch.json()) == (400, {"Errors": ["container.docker.image is required"]})
    empty = requests.put(job_url(emu), json={"container": {}})
    assert empty.status_code == 200 and "Container: Must validate at least one schema (anyOf)" in empty.json()["Errors"]


def test_routing_quirks(emu):
    slash = requests.post(f"{emu.address}/api/v1/jobs/", json=body(), allow_redirects=False)
    assert (slash.status_code, slash.headers["Location"]) == (301, "/api/v1/jobs")
    followed = requests.post(f"{emu.address}/api/v1/jobs/", json=body())  # the redirect turns POST into GET
    assert followed.status_code == 200 and followed.json() == []
    assert requests.get(f"{emu.address}/api/v1//jobs", allow_redirects=False).status_code == 301
    wrong = requests.delete(f"{emu.address}/api/v1/jobs/")
    assert (wrong.status_code, wrong.content) == (405, b"")
    unknown = requests.get(f"{emu.address}/api/v2/jobs")
    assert (unknown.status_code, unknown.text) == (404, "404 page not found\n")
    assert requests.post(f"{emu.address}/api/v1/health").json()["Version"] == "0.18"


def test_delete_and_run_make_no_existence_check_and_run_is_deduplicated(emu):
    assert requests.delete(job_url(emu, "nope")).status_code == 204
    create(emu)
    assert requests.post(job_url(emu) + "/run").status_code == 204
    assert requests.post(job_url(emu) + "/run").status_code == 204
    assert emu.queued == {"g:p:echo"}
    emu.launch("g:p:echo")
    assert emu.queued == set()


def test_tasks_records_success_failure_master_records_and_launch_errors(emu):
    create(emu, maxretries=1)
    first = emu.launch("echo")
    emu.update(first, "TASK_RUNNING")
    job = requests.get(job_url(emu)).json()
    assert (job["State"], job["CurrentTaskID"]) == ("Running", first)
    assert requests.get(job_url(emu) + "/tasks").json() == []  # only finished runs are listed
    emu.finish(first, "TASK_FAILED", message="Container exited with status 1")
    retry = emu.launch("echo")
    assert requests.get(job_url(emu)).json()["Retries"] == 1
    emu.finish(retry, "TASK_LOST", message="Agent removed", reason="REASON_AGENT_REMOVED", source="SOURCE_MASTER")
    emu.launch_error("echo")
    records = requests.get(job_url(emu) + "/tasks").json()
    assert [r["Source"] for r in records] == ["SOURCE_EXECUTOR", "SOURCE_MASTER", "Scheduler"]
    assert records[0]["ExecutorID"] == first and records[1]["ExecutorID"] == ""
    assert records[2]["TaskID"] == "" and records[2]["Reason"] == "Error creating TaskInfo"
    assert requests.get(job_url(emu)).json()["State"] == "Failed"


def test_task_history_is_kept_24_hours(emu):
    create(emu)
    with time_machine.travel("2025-06-01 08:00Z", tick=False) as moment:
        emu.finish(emu.launch("echo"))
        moment.move_to("2025-06-02 07:00Z")
        emu.finish(emu.launch("echo"))
        moment.move_to("2025-06-02 09:00Z")
        assert emu.expire() == 1
    assert len(requests.get(job_url(emu) + "/tasks").json()) == 1


def test_server_time_and_last_start_are_in_the_servers_zone():
    emulator = RhythmEmulator(tz="Europe/Warsaw").start()
    try:
        with time_machine.travel("2025-06-02 09:30Z", tick=False):
            assert (
                requests.get(f"{emulator.address}/api/v1/health").json()["ServerTime"]
                == "Mon Jun  2 11:30:00 CEST 2025"
            )
            requests.post(f"{emulator.address}/api/v1/jobs", json=body())
            emulator.launch("echo")
            last = requests.get(f"{emulator.address}/api/v1/jobs/g/p/echo").json()["LastStart"]
        assert last == "2025-06-02T11:30:00.000000000+02:00"
    finally:
        emulator.stop()


def test_offers_launch_new_queued_and_due_jobs_by_cron_in_the_servers_zone():
    emulator = RhythmEmulator(tz="Europe/Warsaw").start()
    try:
        with time_machine.travel("2025-06-02 09:30Z", tick=False) as moment:
            requests.post(f"{emulator.address}/api/v1/jobs", json=body(schedule={"cron": "0 12 * * *"}))
            (first,) = emulator.launch_due()  # a new job runs at once
            assert emulator.launch_due() == []  # Staging: not launched again
            emulator.finish(first)
            assert emulator.launch_due() == []
            moment.move_to("2025-06-02 09:59:59Z")  # 11:59:59 in Warsaw
            assert emulator.launch_due() == []
            moment.move_to("2025-06-02 10:00Z")  # 12:00 in Warsaw
            (second,) = emulator.launch_due()
            emulator.finish(second, "TASK_FAILED", message="Command exited with status 1")
            requests.post(f"{emulator.address}/api/v1/jobs/g/p/echo/run")
            assert len(emulator.launch_due()) == 1  # queued: launched whatever the cron says
    finally:
        emulator.stop()


def test_a_failed_job_with_retries_left_is_due_at_once():
    emulator = RhythmEmulator().start()
    try:
        with time_machine.travel("2025-06-02 09:31Z", tick=False):
            requests.post(f"{emulator.address}/api/v1/jobs", json=body(maxretries=1))
            (first,) = emulator.launch_due()
            emulator.finish(first, "TASK_FAILED", message="Command exited with status 1")
            (retry,) = emulator.launch_due()
            assert emulator.job("g", "p", "echo")["Retries"] == 1
            emulator.finish(retry, "TASK_FAILED", message="Command exited with status 1")
            assert emulator.launch_due() == []  # retries used up: waits for the next cron time
    finally:
        emulator.stop()


# --- auth ----------------------------------------------------------------------------------------------------------


def test_gitlab_tokens_decide_per_project_and_listings_hide_rather_than_refuse(emu):
    create(emu)
    emu.auth = "gitlab"
    emu.gitlab_tokens = {"dev": {"g/p": 30}, "reporter": {"g/p": 20}}
    listed = requests.get(f"{emu.address}/api/v1/jobs", headers={"X-Token": "bad"})
    assert (listed.status_code, listed.json()) == (200, [])
    denied = requests.get(f"{emu.address}/api/v1/jobs/g/p", headers={"X-Token": "bad"})
    assert (denied.status_code, denied.json()) == (403, {"Errors": ["Forbidden"]})
    assert len(requests.get(f"{emu.address}/api/v1/jobs/g/p", headers={"X-Token": "reporter"}).json()) == 1
    assert requests.put(job_url(emu), json={"user": "x"}, headers={"X-Token": "reporter"}).status_code == 403
    assert requests.put(job_url(emu), json={"user": "x"}, headers={"X-Token": "dev"}).status_code == 204
    emu.gitlab_down = True
    assert requests.get(job_url(emu), headers={"X-Token": "dev"}).status_code == 500
    assert requests.get(f"{emu.address}/api/v1/health").status_code == 200  # health needs no auth


def test_ldap_uses_basic_auth_and_answers_500_for_missing_or_bad_credentials(emu):
    emu.auth = "ldap"
    emu.ldap_users = {"ann": {"password": "pw", "acl": {"g": "readwrite"}}}
    assert requests.get(f"{emu.address}/api/v1/jobs").json() == []  # no jobs: the authorizer is never asked
    assert requests.post(f"{emu.address}/api/v1/jobs", json=body(), auth=("ann", "pw")).status_code == 204
    missing = requests.get(f"{emu.address}/api/v1/jobs")
    assert (missing.status_code, missing.json()) == (500, {"Errors": ["Cannot parse Basic auth credentials"]})
    assert requests.get(job_url(emu), auth=("ann", "nope")).status_code == 500
    assert requests.get(job_url(emu), auth=("ann", "pw")).status_code == 200


# --- Mesos ---------------------------------------------------------------------------------------------------------


def test_master_lists_agents_and_tasks_filtered(emu):
    create(emu)
    task_id = emu.launch("echo")
    (agent_id,) = emu.agents
    slaves = requests.get(f"{emu.master_address}/master/slaves", params={"slave_id": agent_id}).json()["slaves"]
    assert slaves[0]["hostname"] == "127.0.0.1" and slaves[0]["active"] is True
    assert requests.get(f"{emu.master_address}/master/slaves", params={"slave_id": "x"}).json()["slaves"] == []
    tasks = requests.get(f"{emu.master_address}/master/tasks", params={"task_id": task_id}).json()["tasks"]
    assert tasks[0]["slave_id"] == agent_id and tasks[0]["executor_id"] == ""
    frameworks = requests.get(f"{emu.master_address}/master/frameworks").json()["frameworks"]
    assert frameworks[0]["name"] == "rhythm"


def test_a_standby_master_redirects_protocol_relative_to_the_leader(emu):
    redirect = requests.get(f"{emu.standby_master.server.address}/master/slaves?slave_id=x", allow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["Location"] == f"//127.0.0.1:{emu.master.server.port}/master/slaves?slave_id=x"


def test_files_read_offsets_cap_raw_bytes_and_errors(emu):
    create(emu)
    task_id = emu.launch("echo")
    path = stdout_path(emu, task_id)
    read = f"{agent_url(emu)}/files/read"
    assert requests.get(read, params={"path": path, "offset": 0}).status_code == 404  # not started yet
    emu.output(task_id, stdout=b"x" * (READ_CAP + 10) + b'"\xc3\n')
    assert requests.get(read, params={"path": path}).json() == {"data": "", "offset": READ_CAP + 13}
    assert requests.get(read, params={"path": path, "offset": -1}).json()["offset"] == READ_CAP + 13
    assert len(requests.get(read, params={"path": path, "offset": 0}).json()["data"]) == READ_CAP
    tail = requests.get(read, params={"path": path, "offset": READ_CAP + 10})
    assert tail.content == b'{"data":"\\"\xc3\\n","offset":%d}' % (READ_CAP + 10)  # raw, not valid UTF-8
    assert (
        json.loads(tail.content.decode("utf-8", "surrogateescape"))["data"].encode("utf-8", "surrogateescape")
        == b'"\xc3\n'
    )
    past = requests.get(read, params={"path": path, "offset": 10**9}).json()
    assert past == {"data": "", "offset": 10**9}
    assert (
        requests.get(read, params={"path": path, "offset": "x"}).text
        == "Failed to parse offset: Failed to convert 'x' to number."
    )
    assert requests.get(read, params={"path": path, "length": -2}).status_code == 400
    assert requests.get(read, params={"path": path.rsplit("/", 1)[0]}).text == "Cannot read a directory."
    assert requests.get(read).text == "Expecting 'path=value' in query."
    emu.gc(task_id)
    gone = requests.get(read, params={"path": path, "offset": 0})
    assert (gone.status_code, gone.content) == (404, b"")


def test_agents_ask_for_basic_auth_when_configured_and_refuse_connections_when_down(emu):
    create(emu)
    task_id = emu.launch("echo")
    emu.output(task_id, stdout=b"hi\n")
    emu.mesos_credentials = ("ops", "secret")
    read = f"{agent_url(emu)}/files/read"
    denied = requests.get(read, params={"path": stdout_path(emu, task_id), "offset": 0})
    assert denied.status_code == 401 and "mesos-agent-readonly" in denied.headers["WWW-Authenticate"]
    ok = requests.get(read, params={"path": stdout_path(emu, task_id), "offset": 0}, auth=("ops", "secret"))
    assert ok.json()["data"] == "hi\n"
    emu.agent_down()
    with pytest.raises(requests.ConnectionError):
        requests.get(read, params={"path": stdout_path(emu, task_id)}, timeout=2)
    slaves = requests.get(f"{emu.master_address}/master/slaves", auth=("ops", "secret")).json()["slaves"]
    assert slaves[0]["active"] is False
    emu.agent_up()
    assert requests.get(read, params={"path": stdout_path(emu, task_id)}, auth=("ops", "secret")).status_code == 200
