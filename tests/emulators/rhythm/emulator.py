"""``RhythmEmulator``: the state of one Rhythm server with its Mesos master and agents, and the methods tests use
to play what the cluster does by itself (offers, task updates, output, GC, agents going down)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from tests.emulators.rhythm.api import RhythmApi
from tests.emulators.rhythm.mesos import Agent, Master, Sandbox, basic_user
from tests.emulators.rhythm.server import HttpServer, Reply, Request

#: Rhythm's code default for storage.zookeeper.taskttl.
TASK_TTL = timedelta(hours=24)
FRAMEWORK_ID = "3be69eb1-6b0b-4ab7-a7d1-3d3a813be77a-0000"
AGENT_PREFIX = "3be69eb1-6b0b-4ab7-a7d1-3d3a813be77a-S"
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}
STATES = {"TASK_STARTING": "Starting", "TASK_RUNNING": "Running"}
ZERO_TIME = "0001-01-01T00:00:00Z"


def go_time(moment: datetime) -> str:
    """RFC 3339 with nanoseconds and the zone's offset, as Go's time.Time marshals."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}000"
    offset = moment.strftime("%z")
    return text + ("Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}")


class RhythmEmulator:
    """Rhythm 0.18 on one port, a Mesos master on another, and one port per agent (``S0`` by default).

    ``auth`` is ``none``, ``gitlab`` (``gitlab_tokens``: token -> {"group/project": access level}) or ``ldap``
    (``ldap_users``: user -> {"password", "acl": {"group/project" | "group" | "*": "readonly" | "readwrite"}}).
    ``mesos_credentials`` (user, password) makes the master and agents ask for HTTP Basic. ``tz`` is the server's
    local zone (cron, LastStart, task times). Nothing happens on its own: tests call ``launch_due`` (an offer round:
    queued and due jobs, by cron in ``tz``) or ``launch``, then ``update``, ``finish``, ``launch_error``, ``output``,
    ``gc``, ``expire`` and ``agent_down``.
    """

    def __init__(self, *, auth: str = "none", tz: str = "UTC", agents: int = 1) -> None:
        self.auth = auth
        self.tz = ZoneInfo(tz)
        self.leader = True
        self.gitlab_tokens: dict[str, dict[str, int]] = {}
        self.gitlab_down = False
        self.ldap_users: dict[str, dict[str, Any]] = {}
        self.mesos_credentials: tuple[str, str] | None = None
        self.lock = threading.RLock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, list[dict[str, Any]]] = {}
        self.queued: set[str] = set()
        self.framework_id = FRAMEWORK_ID
        self.mesos_tasks: dict[str, dict[str, Any]] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self.requests_log: list[tuple[str, str]] = []
        self.rhythm = HttpServer(RhythmApi(self).answer)
        self.master = Master(self)
        self.standby_master = Master(self, leader=self.master)
        self.agents = {f"{AGENT_PREFIX}{n}": Agent(self, f"{AGENT_PREFIX}{n}") for n in range(agents)}

    # --- servers ---------------------------------------------------------------------------------------------------

    def start(self) -> RhythmEmulator:
        self.rhythm.start()
        self.master.server.start()
        self.standby_master.server.start()
        for agent in self.agents.values():
            agent.server.start()
        return self

    def stop(self) -> None:
        self.rhythm.stop()
        self.master.server.stop()
        self.standby_master.server.stop()
        for agent in self.agents.values():
            agent.server.stop()

    @property
    def address(self) -> str:
        return self.rhythm.address

    @property
    def master_address(self) -> str:
        return self.master.server.address

    def agent_down(self, agent_id: str | None = None) -> None:
        """Stop an agent: the master still lists it (inactive) and its port refuses connections."""
        self.agents[agent_id or next(iter(self.agents))].server.stop()

    def agent_up(self, agent_id: str | None = None) -> None:
        self.agents[agent_id or next(iter(self.agents))].server.start()

    def now(self) -> datetime:
        return datetime.now(self.tz)

    def mesos_auth_failure(self, req: Request, realm: str) -> Reply | None:
        if self.mesos_credentials is None or basic_user(req) == self.mesos_credentials:
            return None
        return Reply(401, b"", None, {"WWW-Authenticate": f'Basic realm="{realm}"'})

    # --- views -----------------------------------------------------------------------------------------------------

    def job_view(self, job: dict[str, Any]) -> dict[str, Any]:
        view = dict(job)
        view["LastStart"] = go_time(job["LastStart"]) if job["LastStart"] else ZERO_TIME
        return view

    def job(self, group: str, project: str, job_id: str) -> dict[str, Any]:
        return self.jobs[f"{group}:{project}:{job_id}"]

    def fqid_of(self, external_id: str) -> str:
        (fqid,) = [key for key in self.jobs if key.endswith(f":{external_id}")]
        return fqid

    # --- what the leader and Mesos do ------------------------------------------------------------------------------

    def launch(self, fqid: str, *, agent_id: str | None = None) -> str:
        """Accept an offer for job ``fqid`` (or a job ID alone): Staging with a new task. Returns the task ID."""
        fqid = fqid if fqid in self.jobs else self.fqid_of(fqid)
        agent_id = agent_id or next(iter(self.agents))
        task_id = f"{fqid}:{uuid.uuid4()}"
        with self.lock:
            job = self.jobs[fqid]
            self._launched(job, fqid)
            job.update(State="Staging", CurrentTaskID=task_id, CurrentAgentID=agent_id)
            self.mesos_tasks[task_id] = {
                "id": task_id, "name": f"Task {task_id}", "framework_id": self.framework_id, "executor_id": "",
                "slave_id": agent_id, "state": "TASK_STAGING", "statuses": [], "terminal": False,
            }  # fmt: skip
        return task_id

    def next_run(self, job: dict[str, Any]) -> datetime | None:
        """When the job is next due (Rhythm's NextRun), in the server's zone; None for a zero result.

        A job that may retry is due at its last start; otherwise at the first cron time after the last start, in
        the server's local zone (a job never launched is due at once: its last start is the zero time).
        """
        last = job["LastStart"]
        if job["State"] == "Failed" and job["Retries"] < job["MaxRetries"]:
            return last or datetime.min.replace(tzinfo=self.tz)
        if last is None:
            return datetime.min.replace(tzinfo=self.tz)
        moment: datetime = croniter(job["Schedule"]["Cron"], last.astimezone(self.tz)).get_next(datetime)
        return moment

    def launch_due(self) -> list[str]:
        """One offer round of the leader: launch every job that is queued, or Idle or Failed and due. Returns the
        new task IDs."""
        launched = []
        with self.lock:
            for fqid, job in list(self.jobs.items()):
                due = job["State"] in ("Idle", "Failed") and (self.next_run(job) or self.now()) <= self.now()
                if fqid in self.queued or due:
                    launched.append(self.launch(fqid))
        return launched

    def _launched(self, job: dict[str, Any], fqid: str) -> None:
        retry = fqid not in self.queued and job["State"] == "Failed" and job["Retries"] < job["MaxRetries"]
        job["Retries"] = job["Retries"] + 1 if retry else 0
        job["LastStart"] = self.now()
        self.queued.discard(fqid)

    def update(self, task_id: str, state: str) -> None:
        """A TASK_STARTING or TASK_RUNNING update; the sandbox appears when the executor starts."""
        with self.lock:
            task = self.mesos_tasks[task_id]
            task["state"] = state
            job = self.jobs.get(task_id.rsplit(":", 1)[0])
            if job is not None:
                job["State"] = STATES[state]
            self.sandboxes.setdefault(task_id, Sandbox(task["slave_id"], self.framework_id, task_id, str(uuid.uuid4())))

    def output(self, task_id: str, stdout: bytes = b"", stderr: bytes = b"") -> None:
        """Append to the task's sandbox files (starting it if needed)."""
        if task_id not in self.sandboxes:
            self.update(task_id, "TASK_RUNNING")
        box = self.sandboxes[task_id]
        box.files["stdout"] += stdout
        box.files["stderr"] += stderr

    def finish(
        self,
        task_id: str,
        state: str = "TASK_FINISHED",
        *,
        message: str = "",
        reason: str = "REASON_COMMAND_EXECUTOR_FAILED",
        source: str = "SOURCE_EXECUTOR",
        stdout: bytes = b"",
        stderr: bytes = b"",
    ) -> dict[str, Any]:
        """A terminal update: appends the Task record (as Rhythm writes it) and returns it."""
        if stdout or stderr or source != "SOURCE_MASTER":
            self.output(task_id, stdout, stderr)
        with self.lock:
            task = self.mesos_tasks[task_id]
            task.update(state=state, terminal=True)
            fqid = task_id.rsplit(":", 1)[0]
            job = self.jobs.get(fqid)
            if job is None:
                return {}  # deleted meanwhile: the update is dropped
            ok = state == "TASK_FINISHED"
            executor = "" if source == "SOURCE_MASTER" else task_id
            record = {
                "Start": go_time(job["LastStart"]), "End": go_time(self.now()), "TaskID": task_id,
                "ExecutorID": executor, "AgentID": task["slave_id"], "FrameworkID": self.framework_id,
                "ExecutorURL": f"http://master:5050/#/agents/{task['slave_id']}/frameworks/{self.framework_id}"
                f"/executors/{task_id}",
                "Message": "" if ok else message, "Reason": "" if ok else reason, "Source": "" if ok else source,
            }  # fmt: skip
            self.tasks.setdefault(fqid, []).append(record)
            job.update(State="Idle" if ok else "Failed", CurrentTaskID="", CurrentAgentID="")
            return record

    def launch_error(self, fqid: str, message: str = "Reading secret failed: connection refused") -> dict[str, Any]:
        """Rhythm could not build the TaskInfo: a record without IDs, the job Failed."""
        fqid = fqid if fqid in self.jobs else self.fqid_of(fqid)
        with self.lock:
            job = self.jobs[fqid]
            self._launched(job, fqid)
            now = go_time(self.now())
            record = {"Start": now, "End": now, "TaskID": "", "ExecutorID": "", "AgentID": "", "FrameworkID": "",
                      "ExecutorURL": "", "Message": message, "Reason": "Error creating TaskInfo",
                      "Source": "Scheduler"}  # fmt: skip
            self.tasks.setdefault(fqid, []).append(record)
            job["State"] = "Failed"
            return record

    def gc(self, task_id: str) -> None:
        """The agent garbage-collects the task's sandbox: its paths answer 404 from now on."""
        self.sandboxes.pop(task_id, None)

    def expire(self) -> int:
        """Rhythm's hourly cleanup: drop task records whose End is older than the 24 h TTL; returns how many."""
        limit = self.now() - TASK_TTL
        dropped = 0
        with self.lock:
            for fqid, records in self.tasks.items():
                kept = [r for r in records if datetime.fromisoformat(r["End"][:26] + r["End"][29:]) >= limit]
                dropped += len(records) - len(kept)
                self.tasks[fqid] = kept
        return dropped
