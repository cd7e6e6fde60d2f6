"""The Mesos driver against the Rhythm + Mesos emulator, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from striv.drivers import get_driver
from striv.drivers.base import DriverConfigError, DriverError, RunStatus, SpecError
from striv.drivers.mesos import MesosDriver
from tests.emulators.rhythm import READ_CAP

JOB = "3f2a6d0e-0000-4000-8000-000000000001"
RHYTHM_ID = f"striv-{JOB}"
FQID = f"data:etl:{RHYTHM_ID}"
META = {"striv_job_id": JOB, "striv_execution": "batch"}


def spec(**overrides):
    body = {
        "schedule": {"cron": "0 3 * * *"},
        "container": {"docker": {"image": "alpine:3.20"}},
        "cmd": "echo hello",
        "cpus": 0.5,
        "mem": 128,
        "user": "batch",
        "env": {"GREETING": "hi"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def driver(mesos_config) -> MesosDriver:
    return get_driver("mesos", mesos_config)  # type: ignore[return-value]


# --- configuration and specs ---------------------------------------------------------------------------------------


def test_config_problems_are_reported_at_their_fields():
    problems = MesosDriver.config_problems(
        {"rhythm_url": "ftp://x", "group": "a b", "auth": "gitlab", "colour": 1, "time_zone": "Mars/Base"}
    )
    assert problems["rhythm_url"].startswith("must be an http(s) URL")
    assert problems["group"].startswith("must be letters, digits")
    assert problems["project"].startswith("required")
    assert problems["token"] == "required with auth gitlab"
    assert problems["colour"].startswith("unknown field; known: rhythm_url, group, project, auth")
    assert problems["time_zone"].startswith("must be an IANA time zone name")
    with pytest.raises(DriverConfigError):
        get_driver("mesos", {"rhythm_url": "http://x"})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"schedule": {"cron": "0 3 * * 7"}}, "schedule.cron"),
        ({"schedule": {"cron": "@daily"}}, "schedule.cron"),
        ({"schedule": None}, "schedule.cron"),
        ({"cpus": 0}, "cpus"),
        ({"mem": -1}, "mem"),
        ({"disk": -1}, "disk"),
        ({"maxretries": 1.5}, "maxretries"),
        ({"container": {}}, "container"),
        ({"container": {"docker": {"image": "a"}, "mesos": {"image": "b"}}}, "container"),
        ({"container": {"docker": {"image": ""}}}, "container.docker.image"),
        ({"user": ""}, "user"),
        ({"id": "x"}, "id"),
        ({"max_retries": 1}, "max_retries"),
        ({"env": {"A": 1}}, "env"),
    ],
)
def test_validate_spec_names_the_field_rhythm_or_mesos_would_refuse(overrides, field):
    with pytest.raises(SpecError) as info:
        MesosDriver.validate_spec(spec(**overrides))
    assert info.value.field == field and info.value.message.startswith(field)


def test_validate_spec_takes_rhythms_keys_in_any_case():
    MesosDriver.validate_spec({**spec(), "CPUs": 1, "Schedule": {"Cron": "*/5 * * * *"}} | {"cpus": 1})


def test_next_launches_follow_rhythms_dialect_and_the_spec_zone():
    after = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
    assert MesosDriver.next_launches(spec(), count=2, after=after) == [
        datetime(2025, 6, 3, 3, tzinfo=UTC),
        datetime(2025, 6, 4, 3, tzinfo=UTC),
    ]
    zoned = spec(schedule={"cron": "0 3 * * *", "timezone": "Europe/Warsaw"})
    assert MesosDriver.next_launches(zoned, count=1, after=after)[0].isoformat() == "2025-06-03T03:00:00+02:00"
    assert MesosDriver.next_launches(spec(schedule={"cron": "bad"}), count=1) == []
    assert MesosDriver.next_launches({}, count=1) == []


def test_external_id_is_stable_and_job_ref_reads_ids_fqids_and_task_ids(driver):
    assert driver.external_id(JOB) == RHYTHM_ID
    assert MesosDriver.job_id_prefix({}) == "striv-"
    for ref in (RHYTHM_ID, FQID, f"{FQID}:0b5e-uuid"):
        assert driver.job_ref(ref, ["striv-"]) == JOB
    assert driver.job_ref("other:etl:backup", ["striv-"]) is None


# --- jobs ----------------------------------------------------------------------------------------------------------


def test_push_creates_then_replaces_every_field_then_is_unchanged(driver, rhythm):
    first = driver.push(job_id=JOB, name="hello", spec=spec(labels={"team": "a"}), meta=META)
    assert first.changed and first.external_id == RHYTHM_ID
    job = rhythm.jobs[FQID]
    assert job["Labels"] == {"team": "a", **META, "striv_name": "hello"}
    assert (job["CPUs"], job["User"], job["Env"]) == (0.5, "batch", {"GREETING": "hi"})
    again = driver.push(job_id=JOB, name="hello", spec=spec(labels={"team": "a"}), meta=META)
    assert not again.changed
    rhythm.requests_log.clear()
    renamed = driver.push(job_id=JOB, name="renamed", spec=spec(env={}, cmd="echo bye"), meta=META)
    assert renamed.changed and renamed.external_id == RHYTHM_ID
    assert ("PUT", f"/api/v1/jobs/data/etl/{RHYTHM_ID}") in rhythm.requests_log
    job = rhythm.jobs[FQID]
    assert job["Env"] == {} and job["Cmd"] == "echo bye" and job["Labels"]["striv_name"] == "renamed"
    assert "team" not in job["Labels"]  # maps are replaced whole


def test_push_shows_rhythms_validation_errors_as_a_refusal(driver, rhythm):
    with pytest.raises(DriverError) as info:
        driver.push(job_id=JOB, name="x", spec=spec(cpus=0), meta=META)
    assert not info.value.retryable and "cpus" in info.value.message


def test_push_to_rhythm_down_is_retryable(driver, rhythm):
    rhythm.stop()
    with pytest.raises(DriverError) as info:
        driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    assert info.value.retryable and "Rhythm unreachable" in info.value.message


def test_remove_deletes_and_a_gone_job_is_fine(driver, rhythm):
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    driver.remove(job_id=JOB)
    assert FQID not in rhythm.jobs
    driver.remove(job_id=JOB)


def test_run_now_queues_and_refuses_while_a_run_is_in_progress(driver, rhythm):
    with pytest.raises(DriverError, match="push it first"):
        driver.run_now(job_id=JOB)
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    driver.run_now(job_id=JOB)
    assert rhythm.queued == {FQID}
    task_id = rhythm.launch(FQID)
    with pytest.raises(DriverError, match="already has a run staging") as info:
        driver.run_now(job_id=JOB)
    assert info.value.status == 409 and task_id in info.value.message


def test_plan_says_what_would_change(driver):
    assert driver.plan(job_id=JOB, name="x", spec=spec(), meta=META).changed
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    assert not driver.plan(job_id=JOB, name="x", spec=spec(), meta=META).changed
    plan = driver.plan(job_id=JOB, name="x", spec=spec(mem=256), meta=META)
    assert plan.changed and "mem: 128 -> 256" in plan.diff_text


def test_health_reports_leader_and_version_and_proves_credentials(mesos_config, rhythm):
    assert get_driver("mesos", mesos_config).health().ok
    rhythm.auth = "gitlab"
    rhythm.gitlab_tokens = {"good": {"data/etl": 30}}
    good = get_driver("mesos", {**mesos_config, "auth": "gitlab", "token": "good"}).health()
    assert good.ok and "Rhythm 0.18, leader" in good.detail
    bad = get_driver("mesos", {**mesos_config, "auth": "gitlab", "token": "bad"}).health()
    assert not bad.ok and "Forbidden" in bad.detail
    rhythm.leader = False
    assert "not the leader" in get_driver("mesos", {**mesos_config, "auth": "gitlab", "token": "good"}).health().detail


def test_ldap_credentials_go_as_basic_auth(mesos_config, rhythm):
    rhythm.auth = "ldap"
    rhythm.ldap_users = {"ann": {"password": "pw", "acl": {"data/etl": "readwrite"}}}
    driver = get_driver("mesos", {**mesos_config, "auth": "ldap", "username": "ann", "password": "pw"})
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    wrong = get_driver("mesos", {**mesos_config, "auth": "ldap", "username": "ann", "password": "no"})
    with pytest.raises(DriverError) as info:
        wrong.push(job_id=JOB, name="x", spec=spec(), meta=META)
    assert not info.value.retryable and "Invalid Credentials" in info.value.message
    rhythm.ldap_users = {}
    rhythm.auth = "gitlab"
    rhythm.gitlab_down = True  # the authorizer cannot reach GitLab: a 500 that may pass later
    with pytest.raises(DriverError) as down:
        driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    assert down.value.retryable and down.value.status == 500


# --- runs ----------------------------------------------------------------------------------------------------------


def test_runs_come_from_tasks_and_the_job_runtime(driver, rhythm):
    driver.push(job_id=JOB, name="x", spec=spec(maxretries=1), meta=META)
    ok = rhythm.launch(FQID)
    rhythm.finish(ok, stdout=b"hello\n")
    failing = rhythm.launch(FQID)
    rhythm.finish(failing, "TASK_FAILED", message="Container exited with status 3")
    rhythm.launch_error(FQID, "Reading secret failed: denied")
    running = rhythm.launch(FQID)
    rhythm.update(running, "TASK_RUNNING")

    new = list(driver.runs_new(after=0, prefixes=["striv-"]))
    assert [info.create_index for info in new] == sorted((info.create_index for info in new), reverse=True)
    by_id = {info.external_id: info for info in new}
    assert by_id[ok].status == RunStatus.SUCCESSFUL and by_id[ok].exit_code == 0 and by_id[ok].job_ref == JOB
    assert by_id[failing].status == RunStatus.FAILED and by_id[failing].exit_code == 3
    assert by_id[failing].reason.startswith("Container exited with status 3 (REASON_COMMAND_EXECUTOR_FAILED")
    (launch_error,) = [info for info in new if ":launch-error:" in info.external_id]
    assert launch_error.status == RunStatus.FAILED and launch_error.tasks == ()
    assert launch_error.reason == (
        "Rhythm could not launch it: Reading secret failed: denied (Error creating TaskInfo, Scheduler)"
    )
    newest = max(info.create_index for info in new)
    assert len(list(driver.runs_new(after=newest, prefixes=["striv-"]))) == 3  # a 10-minute overlap is read again
    assert list(driver.runs_new(after=newest + 10 * 60 * 1000, prefixes=["striv-"])) == []

    (active,) = driver.runs_active(prefixes=["striv-"])
    assert (active.external_id, active.status) == (running, RunStatus.RUNNING)
    assert driver.run_read(run_ref=running, prefixes=["striv-"]).status == RunStatus.RUNNING
    rhythm.finish(running, "TASK_KILLED", message="killed", reason="REASON_EXECUTOR_TERMINATED")
    assert driver.run_read(run_ref=running, prefixes=["striv-"]).status == RunStatus.FAILED
    assert driver.run_read(run_ref=launch_error.external_id, prefixes=["striv-"]) == launch_error
    assert driver.run_read(run_ref=f"{FQID}:gone", prefixes=["striv-"]) is None
    assert driver.runs_index() == 0


def test_a_retry_is_a_run_of_its_own_that_says_so(driver, rhythm):
    driver.push(job_id=JOB, name="x", spec=spec(maxretries=2), meta=META)
    first = rhythm.launch(FQID)
    rhythm.finish(first, "TASK_FAILED", message="Command exited with status 1")
    retry = rhythm.launch(FQID)
    (active,) = driver.runs_active(prefixes=["striv-"])
    assert (active.external_id, active.reason) == (retry, "retry 1 of 2 after a failed run")
    (failed,) = driver.runs_new(after=0, prefixes=["striv-"])
    assert failed.external_id == first and "Rhythm retries up to 2 times" in failed.reason


def test_a_task_the_master_ended_is_lost(driver, rhythm):
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    task_id = rhythm.launch(FQID)
    rhythm.finish(task_id, "TASK_LOST", message="Agent removed", reason="REASON_AGENT_REMOVED", source="SOURCE_MASTER")
    (info,) = driver.runs_new(after=0, prefixes=["striv-"])
    assert info.status == RunStatus.LOST and "REASON_AGENT_REMOVED" in info.reason


# --- logs ----------------------------------------------------------------------------------------------------------


def test_logs_are_read_from_the_agent_in_bounded_chunks(driver, rhythm):
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    task_id = rhythm.launch(FQID)
    rhythm.update(task_id, "TASK_RUNNING")
    big = b"".join(b"line %06d \xc3\xa9\n" % n for n in range(20000))
    rhythm.output(task_id, stdout=big[:1000])
    live = driver.fetch_logs(run_ref=task_id, task="main", stream="stdout")  # through /master/tasks while running
    assert live.data == big[:1000] and live.next_offset == 1000 and live.complete
    rhythm.finish(task_id, stdout=big[1000:], stderr=b"\xff oops\n")
    whole = driver.fetch_logs(run_ref=task_id, task="main", stream="stdout")
    assert whole.data == big and len(big) > 3 * READ_CAP
    part = driver.fetch_logs(run_ref=task_id, task="main", stream="stdout", offset=10, max_bytes=100_000)
    assert part.data == big[10:100_010] and part.next_offset == 100_010 and not part.complete
    tail = driver.fetch_logs(run_ref=task_id, task="main", stream="stdout", offset=-50)
    assert tail.data == big[-50:] and tail.offset == len(big) - 50
    assert driver.fetch_logs(run_ref=task_id, task="main", stream="stderr").data == b"\xff oops\n"


def test_logs_of_master_made_records_use_the_task_id_as_executor(driver, rhythm):
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    task_id = rhythm.launch(FQID)
    rhythm.output(task_id, stdout=b"before the agent went\n")
    rhythm.finish(task_id, "TASK_LOST", message="gone", source="SOURCE_MASTER")
    assert rhythm.tasks[FQID][0]["ExecutorID"] == ""
    assert driver.fetch_logs(run_ref=task_id, task="main", stream="stdout").data == b"before the agent went\n"


def test_gcd_sandbox_means_expired_and_a_down_agent_means_try_later(driver, rhythm):
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    task_id = rhythm.launch(FQID)
    rhythm.finish(task_id, stdout=b"x\n")
    rhythm.agent_down()
    with pytest.raises(DriverError) as down:
        driver.fetch_logs(run_ref=task_id, task="main", stream="stdout")
    assert down.value.retryable
    rhythm.agent_up()
    rhythm.gc(task_id)
    with pytest.raises(DriverError) as gone:
        driver.fetch_logs(run_ref=task_id, task="main", stream="stdout")
    assert gone.value.status == 404 and "logs expired" in gone.value.message
    rhythm.launch_error(FQID)
    (error_id,) = [info.external_id for info in driver.runs_new(after=0, prefixes=["striv-"]) if not info.tasks]
    with pytest.raises(DriverError, match="no logs: Rhythm could not launch") as none:
        driver.fetch_logs(run_ref=error_id, task="main", stream="stdout")
    assert none.value.status == 404


def test_logs_through_a_standby_master_follow_its_redirect(mesos_config, rhythm):
    driver = get_driver("mesos", {**mesos_config, "mesos_master_url": rhythm.standby_master.server.address})
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    task_id = rhythm.launch(FQID)
    rhythm.output(task_id, stdout=b"via the leader\n")
    assert driver.fetch_logs(run_ref=task_id, task="main", stream="stdout").data == b"via the leader\n"


def test_mesos_basic_auth_is_sent_to_master_and_agents(mesos_config, rhythm):
    rhythm.mesos_credentials = ("ops", "pw")
    config = {**mesos_config, "mesos_username": "ops", "mesos_password": "pw"}
    driver = get_driver("mesos", config)
    driver.push(job_id=JOB, name="x", spec=spec(), meta=META)
    task_id = rhythm.launch(FQID)
    rhythm.finish(task_id, stdout=b"secret-free\n")
    assert driver.fetch_logs(run_ref=task_id, task="main", stream="stdout").data == b"secret-free\n"
    without = get_driver("mesos", mesos_config)
    with pytest.raises(DriverError) as info:
        without.fetch_logs(run_ref=task_id, task="main", stream="stdout")
    assert info.value.status == 401 and not info.value.retryable
