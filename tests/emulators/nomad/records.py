"""Records: compact in-memory rows (jobs, evaluations, allocations, task states, tokens), rendered to Nomad's
JSON on demand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from tests.emulators.nomad.helpers import SECOND, _compact_json, _json_str, go_duration_string, rfc3339nano

TERMINAL_CLIENT_STATUSES = frozenset({"complete", "failed", "lost"})
#: Every TaskEvent field with its zero value; events store only what differs.
EVENT_FIELDS = (
    ("Type", ""),
    ("Time", 0),
    ("Message", ""),
    ("DisplayMessage", ""),
    ("Details", None),
    ("FailsTask", False),
    ("RestartReason", ""),
    ("SetupError", ""),
    ("DriverError", ""),
    ("ExitCode", 0),
    ("Signal", 0),
    ("KillTimeout", 0),
    ("KillError", ""),
    ("KillReason", ""),
    ("StartDelay", 0),
    ("DownloadError", ""),
    ("ValidationError", ""),
    ("DiskLimit", 0),
    ("FailedSibling", ""),
    ("VaultError", ""),
    ("TaskSignalReason", ""),
    ("TaskSignal", ""),
    ("DriverMessage", ""),
    ("GenericSource", ""),
)
_EV_RECEIVED = {"DisplayMessage": "Task received by client"}
_EV_SETUP = {
    "Message": "Building Task Directory",
    "DisplayMessage": "Building Task Directory",
    "Details": {"message": "Building Task Directory"},
}
_EV_STARTED = {"DisplayMessage": "Task started by client"}
_EV_KILLING = {
    "DisplayMessage": "Sent interrupt. Waiting 5s before force killing",
    "KillTimeout": 5 * SECOND,
    "Details": {"kill_timeout": "5s"},
}
_EV_KILLED = {"DisplayMessage": "Task successfully killed"}
#: what a driver reports for a task that stopped on the SIGTERM of a kill: exit code 143, signal 15
KILLED_EXIT_CODE, KILLED_SIGNAL = 143, 15
_TERMINATED_CACHE: dict[tuple, dict] = {}


def _terminated_extras(exit_code: int, signal: int = 0, message: str = "", oom: bool = False) -> dict[str, Any]:
    """Return the (shared, read-only) extra fields of a Terminated event."""
    key = (exit_code, signal, message, oom)
    if key not in _TERMINATED_CACHE:
        display = f"Exit Code: {exit_code}"
        if signal:
            display += f", Signal: {signal}"
        if message:
            display += f', Exit Message: "{message}"'
        details = {"exit_code": str(exit_code), "signal": str(signal), "oom_killed": "true" if oom else "false"}
        if message:
            details["exit_message"] = message
        _TERMINATED_CACHE[key] = {
            "ExitCode": exit_code,
            "Signal": signal,
            "Message": message,
            "DisplayMessage": display,
            "Details": details,
        }
    return _TERMINATED_CACHE[key]


def _restarting_extras(delay: int) -> dict[str, Any]:
    return {
        "RestartReason": "Restart within policy",
        "StartDelay": delay,
        "DisplayMessage": f"Task restarting in {go_duration_string(delay)}",
        "Details": {"restart_reason": "Restart within policy", "start_delay": str(delay)},
    }


def _not_restarting_extras(policy: Mapping[str, Any]) -> dict[str, Any]:
    reason = (
        f"Exceeded allowed attempts {policy.get('Attempts', 0)} in interval "
        f'{go_duration_string(policy.get("Interval", 0))} and mode is "{policy.get("Mode", "fail")}"'
    )
    return {
        "RestartReason": reason,
        "FailsTask": True,
        "DisplayMessage": reason,
        "Details": {"restart_reason": reason, "fails_task": "true"},
    }


_EVENT_TEMPLATES: dict[int, tuple[Any, dict[str, Any]]] = {}


def render_event(event: tuple[str, int, Mapping[str, Any] | None]) -> dict[str, Any]:
    """Render a stored ``(type, time_ns, extras)`` event as a full TaskEvent object.

    Rendered events share their ``Details`` maps: treat rendered output as read-only.
    """
    kind, at, extras = event
    cached = _EVENT_TEMPLATES.get(id(extras))
    if cached is None or cached[0] is not extras:
        template = dict(EVENT_FIELDS)
        template.update(extras or {})
        template["Details"] = dict(template["Details"] or {})
        # keep `extras` referenced so its id() cannot be reused by another object
        cached = _EVENT_TEMPLATES[id(extras)] = (extras, template)
    out = cached[1].copy()
    out["Type"], out["Time"] = kind, at
    return out


#: id(extras) -> (extras, the compact JSON of its rendered event after ``"Time":<n>``)
_EVENT_JSON_TAILS: dict[int, tuple[Any, str]] = {}
_EVENT_JSON_HEAD = '{"Type":"","Time":0'


def _event_json(event: tuple[str, int, Mapping[str, Any] | None]) -> str:
    """Return ``_compact_json(render_event(event))`` without building the event: Type and Time lead every event."""
    kind, at, extras = event
    cached = _EVENT_JSON_TAILS.get(id(extras))
    if cached is None or cached[0] is not extras:
        text = _compact_json(render_event(("", 0, extras)))
        if not text.startswith(_EVENT_JSON_HEAD):
            raise AssertionError(f"an event no longer starts with Type and Time: {text[:60]}")
        cached = _EVENT_JSON_TAILS[id(extras)] = (extras, text[len(_EVENT_JSON_HEAD) :])
    return f'{{"Type":{_json_str(kind)},"Time":{int(at)}{cached[1]}'


def _time_json(ns: int) -> str:
    text = rfc3339nano(ns)
    return "null" if text is None else f'"{text}"'  # digits, "-", ":", "T", "." and "Z" need no escaping


def _task_states_json(task_states: Mapping[str, _TaskState] | None) -> str:
    """Return ``_compact_json(_State.render_task_states(...))`` from fragments, several times faster."""
    if task_states is None:
        return "null"
    rendered = [
        f'{_json_str(name)}:{{"State":{_json_str(ts.state)},"Failed":{"true" if ts.failed else "false"},'
        f'"Restarts":{int(ts.restarts)},"LastRestart":{_time_json(ts.last_restart)},'
        f'"StartedAt":{_time_json(ts.started_at)},"FinishedAt":{_time_json(ts.finished_at)},'
        f'"Events":[{",".join([_event_json(e) for e in ts.events])}]}}'
        for name, ts in task_states.items()
    ]
    return "{" + ",".join(rendered) + "}"


@dataclass(eq=False, slots=True)
class _Job:
    """A stored job version. `spec` is never mutated in place: updates store a new `_Job`.

    Periodic children share their parent's `spec` and set `parent_id`; `view()` applies the child's identity.
    """

    namespace: str
    id: str
    spec: dict[str, Any]
    version: int
    stop: bool
    submit_time: int
    create_index: int
    modify_index: int
    job_modify_index: int
    status: str = "pending"
    parent_id: str | None = None
    launch_time: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.id)

    def view(self) -> dict[str, Any]:
        """Return the user-facing spec of this job (a new top-level dict; nested values are shared)."""
        spec = dict(self.spec)
        if self.parent_id is not None:
            spec.update(ID=self.id, Name=self.id, ParentID=self.parent_id, Periodic=None)
        return spec

    @property
    def is_periodic(self) -> bool:
        return self.parent_id is None and self.spec.get("Periodic") is not None

    @property
    def is_parameterized(self) -> bool:
        return self.spec.get("ParameterizedJob") is not None and not self.spec.get("Dispatched")


@dataclass(eq=False, slots=True)
class _Eval:
    id: str
    namespace: str
    job_id: str
    job_type: str
    priority: int
    triggered_by: str
    job_modify_index: int
    create_index: int
    modify_index: int
    create_time: int
    modify_time: int
    status: str = "complete"
    queued: dict[str, int] | None = None


@dataclass(eq=False, slots=True)
class _TaskState:
    state: str = "pending"
    failed: bool = False
    restarts: int = 0
    last_restart: int = 0
    started_at: int = 0
    finished_at: int = 0
    events: list = field(default_factory=list)

    def add(self, kind: str, at: int, extras: Mapping[str, Any] | None = None) -> None:
        # Nomad keeps only the 10 most recent events of a task.
        self.events.append((kind, at, extras))
        if len(self.events) > 10:
            del self.events[:-10]


@dataclass(eq=False, slots=True)
class _Alloc:
    id: str
    namespace: str
    eval_id: str
    name: str
    job_id: str
    job: _Job
    task_group: str
    create_index: int
    modify_index: int
    create_time: int
    modify_time: int
    node_id: str
    node_name: str
    client_status: str = "pending"
    client_description: str = ""
    desired_status: str = "run"
    desired_description: str = ""
    task_states: dict[str, _TaskState] | None = None
    alloc_modify_index: int = 0
    client_gone: bool = False
    #: the compact JSON of the list stub with task states; every write to the alloc or its task states clears it
    stub_json: bytes | None = None

    @property
    def terminal(self) -> bool:
        return self.client_status in TERMINAL_CLIENT_STATUSES

    @property
    def order_key(self) -> tuple[int, str]:
        return (self.create_index, self.id)

    def group_spec(self) -> dict[str, Any]:
        for group in self.job.spec.get("TaskGroups") or []:
            if group["Name"] == self.task_group:
                return group
        return {"Name": self.task_group, "Tasks": []}


_ALLOC_ATTRIBUTES = {
    "ID": "id",
    "Namespace": "namespace",
    "EvalID": "eval_id",
    "Name": "name",
    "JobID": "job_id",
    "TaskGroup": "task_group",
    "CreateIndex": "create_index",
    "ModifyIndex": "modify_index",
    "CreateTime": "create_time",
    "ModifyTime": "modify_time",
    "NodeID": "node_id",
    "NodeName": "node_name",
    "ClientStatus": "client_status",
    "ClientDescription": "client_description",
    "DesiredStatus": "desired_status",
    "DesiredDescription": "desired_description",
    "AllocModifyIndex": "alloc_modify_index",
}


@dataclass(slots=True)
class _Token:
    accessor_id: str
    secret_id: str
    name: str
    management: bool = False
    namespaces: dict[str, frozenset[str]] = field(default_factory=dict)
    agent: str | None = None

    def allows(self, namespace: str, *capabilities: str) -> bool:
        """Return True when this token holds any of `capabilities` in `namespace` (exact rule beats a glob)."""
        if self.management:
            return True
        granted = self.namespaces.get(namespace)
        if granted is None:
            globs = [pattern for pattern in self.namespaces if fnmatchcase(namespace, pattern)]
            if not globs:
                return False
            # the glob with the most literal characters wins, as in Nomad
            granted = self.namespaces[max(globs, key=lambda p: len(p.replace("*", "")))]
        return any(cap in granted for cap in capabilities)


def task_kill(state: _TaskState, at: int) -> None:
    """Play the client killing a live task: Killing, then Terminated (exit code 143, signal 15) and Killed."""
    state.add("Killing", at, _EV_KILLING)
    state.add("Terminated", at + 500_000, _terminated_extras(KILLED_EXIT_CODE, KILLED_SIGNAL))
    state.add("Killed", at + 1_000_000, _EV_KILLED)
    state.state, state.finished_at = "dead", at + 1_000_000
