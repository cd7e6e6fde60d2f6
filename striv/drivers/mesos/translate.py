"""Between striv and Rhythm: a rendered spec checked and turned into Rhythm's job body, and Rhythm's task records
and job runtime turned into runs.

One Mesos task is one run. Rhythm's records do not say which launch was a retry (``Retries`` on the job counts
only the latest chain, and a run-now or a cron launch between two failures cannot be told apart), so a retry is its
own run; its reason says when the job allowed retries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from striv.drivers.base import RunInfo, RunStatus, SpecError, TaskInfo
from striv.drivers.mesos import cron

#: The one task of every run (a Mesos task runs one command); fetch_logs takes it as ``task``.
TASK_NAME = "main"
#: The keys a template may render, in Rhythm's own (lower-case) spelling.
SPEC_KEYS = ("schedule", "container", "cmd", "env", "secrets", "cpus", "mem", "disk", "user", "maxretries",
             "labels", "shell", "arguments")  # fmt: skip
SET_BY_STRIV = ("group", "project", "id")
#: A launch error's run has no Mesos task ID; its external id is the job's FQID, this marker and the End time.
LAUNCH_ERROR = "launch-error"
ACTIVE_STATES = {"Staging": RunStatus.PENDING, "Starting": RunStatus.PENDING, "Running": RunStatus.RUNNING}
_EXIT = re.compile(r"exited with status (\d+)")


def folded(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with its top-level keys lower-cased, as Rhythm matches them."""
    return {str(key).lower(): value for key, value in spec.items()}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def spec_zone(spec: Mapping[str, Any], default: ZoneInfo) -> ZoneInfo:
    """The zone of ``schedule.timezone`` (striv's own key, not sent to Rhythm), else ``default``; SpecError when
    it is not a zone name."""
    schedule = folded(spec).get("schedule")
    name = folded(schedule).get("timezone") if isinstance(schedule, Mapping) else None
    if name is None:
        return default
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise SpecError(f"schedule.timezone: unknown time zone {name!r}", field="schedule.timezone") from None


def validate(spec: Mapping[str, Any], zone: ZoneInfo) -> None:
    """Raise SpecError naming the field for what Rhythm (or the Mesos agent) would refuse."""
    if not isinstance(spec, Mapping):
        raise SpecError("the spec must be an object of Rhythm job fields")
    body = folded(spec)
    for key in SET_BY_STRIV:
        if key in body:
            raise SpecError(f"{key}: set by striv (group and project from the execution, id from the job)", field=key)
    unknown = sorted(set(body) - set(SPEC_KEYS))
    if unknown:
        raise SpecError(f"{unknown[0]}: not a Rhythm job field (known: {', '.join(SPEC_KEYS)})", field=unknown[0])
    schedule = body.get("schedule")
    if not isinstance(schedule, Mapping) or "cron" not in folded(schedule):
        raise SpecError("schedule.cron: required (a 5-field cron expression)", field="schedule.cron")
    unknown = sorted(set(folded(schedule)) - {"cron", "timezone"})
    if unknown:
        raise SpecError(f"schedule.{unknown[0]}: not a schedule field (cron, timezone)", field=f"schedule.{unknown[0]}")
    zone = spec_zone(spec, zone)
    try:
        cron.validate(folded(schedule)["cron"], zone)
    except cron.CronError as exc:
        raise SpecError(f"schedule.cron: {exc}", field="schedule.cron") from None
    for key in ("cpus", "mem"):
        if not _number(body.get(key)) or body[key] <= 0:
            raise SpecError(f"{key}: must be a number greater than 0, got {body.get(key)!r}", field=key)
    if "disk" in body and (not _number(body["disk"]) or body["disk"] < 0):
        raise SpecError(f"disk: must be a number of MB, 0 or more, got {body['disk']!r}", field="disk")
    retries = body.get("maxretries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise SpecError(f"maxretries: must be a whole number, 0 or more, got {retries!r}", field="maxretries")
    _container(body.get("container"))
    user = body.get("user")
    if not isinstance(user, str) or not user.strip():
        raise SpecError("user: required (with an empty user the Mesos agent fails to start the task)", field="user")
    for key in ("cmd",):
        if key in body and not isinstance(body[key], str):
            raise SpecError(f"{key}: must be a string", field=key)
    if "shell" in body and not isinstance(body["shell"], bool):
        raise SpecError("shell: must be true or false", field="shell")
    if "arguments" in body and not (
        isinstance(body["arguments"], list) and all(isinstance(a, str) for a in body["arguments"])
    ):
        raise SpecError("arguments: must be a list of strings", field="arguments")
    for key in ("env", "secrets", "labels"):
        if key in body and not _string_map(body[key]):
            raise SpecError(f"{key}: must be an object of strings", field=key)


def _container(container: Any) -> None:
    if not isinstance(container, Mapping):
        raise SpecError("container: required, with exactly one of docker.image or mesos.image", field="container")
    box = folded(container)
    images = []
    for kind in ("docker", "mesos"):
        part = box.get(kind)
        if part is None:
            continue
        image = folded(part).get("image") if isinstance(part, Mapping) else None
        if not isinstance(image, str) or not image:
            raise SpecError(f"container.{kind}.image: must be a non-empty string", field=f"container.{kind}.image")
        images.append(kind)
    if len(images) != 1:
        raise SpecError("container: needs exactly one of docker.image or mesos.image", field="container")


def job_body(spec: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """Every field Rhythm keeps, from a valid spec, with Rhythm's defaults for the missing ones (so that a PUT
    replaces them all) and striv's ``labels`` added."""
    body = folded(spec)
    box = folded(body["container"])
    if box.get("docker") is not None:
        docker = folded(box["docker"])
        container = {"docker": {"image": docker["image"], "forcepullimage": bool(docker.get("forcepullimage", False))}}
    else:
        container = {"mesos": {"image": folded(box["mesos"])["image"]}}
    return {
        "schedule": {"cron": folded(body["schedule"])["cron"]},
        "container": container,
        "cmd": body.get("cmd", ""),
        "env": dict(body.get("env") or {}),
        "secrets": dict(body.get("secrets") or {}),
        "cpus": body["cpus"],
        "mem": body["mem"],
        "disk": body.get("disk", 0),
        "user": body["user"],
        "maxretries": body.get("maxretries", 0),
        "labels": {**(body.get("labels") or {}), **labels},
        "shell": body.get("shell", True),
        "arguments": list(body.get("arguments") or []),
    }


def live_body(job: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Rhythm job (as GET answers it) in the shape of ``job_body``, to compare the two."""
    container = job.get("Container") or {}
    if container.get("Type") == "Mesos":
        box: dict[str, Any] = {"mesos": {"image": (container.get("Mesos") or {}).get("Image", "")}}
    else:
        docker = container.get("Docker") or {}
        box = {"docker": {"image": docker.get("Image", ""), "forcepullimage": bool(docker.get("ForcePullImage"))}}
    return {
        "schedule": {"cron": (job.get("Schedule") or {}).get("Cron", "")},
        "container": box,
        "cmd": job.get("Cmd", ""),
        "env": job.get("Env") or {},
        "secrets": job.get("Secrets") or {},
        "cpus": job.get("CPUs"),
        "mem": job.get("Mem"),
        "disk": job.get("Disk", 0),
        "user": job.get("User", ""),
        "maxretries": job.get("MaxRetries", 0),
        "labels": job.get("Labels") or {},
        "shell": job.get("Shell", True),
        "arguments": job.get("Arguments") or [],
    }


# --- runs ----------------------------------------------------------------------------------------------------------


def go_time(value: Any) -> datetime | None:
    """A Go time.Time as JSON (RFC 3339, nanoseconds, any offset); None for empty or Go's zero time."""
    if not value or str(value).startswith("0001-"):
        return None
    text = str(value).replace("Z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match and match.group(2):
        text = match.group(1) + match.group(2)[:7] + match.group(3)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def record_id(fqid: str, record: Mapping[str, Any]) -> str:
    """A run's external id: the Mesos task ID, or for a launch error ``<fqid>:launch-error:<End>``."""
    task_id = record.get("TaskID") or ""
    if task_id:
        return str(task_id)
    end = go_time(record.get("End"))
    stamp = int(end.timestamp() * 1000) if end else 0
    return f"{fqid}:{LAUNCH_ERROR}:{stamp}"


def record_run(fqid: str, record: Mapping[str, Any], job_ref: str, max_retries: int = 0) -> RunInfo:
    """A finished run from one of Rhythm's task records."""
    start = go_time(record.get("Start"))
    end = go_time(record.get("End")) or start or datetime.now(tz=UTC)
    source = record.get("Source") or ""
    message = record.get("Message") or ""
    launched = bool(record.get("TaskID"))
    exit_code: int | None = None
    if not source:
        status, reason, exit_code = RunStatus.SUCCESSFUL, "", 0
    else:
        status = RunStatus.LOST if source == "SOURCE_MASTER" else RunStatus.FAILED
        detail = ", ".join(part for part in (record.get("Reason") or "", source) if part)
        reason = f"{message} ({detail})" if message else detail
        if not launched:
            reason = f"Rhythm could not launch it: {reason}"
        elif max_retries:
            reason += f"; Rhythm retries up to {max_retries} times, each retry is a run of its own"
        found = _EXIT.search(message)
        exit_code = int(found.group(1)) if found else None
    task = TaskInfo(
        name=TASK_NAME,
        state="dead" if launched else "not launched",
        failed=bool(source),
        exit_code=exit_code,
        started=start if launched else None,
        finished=end,
        message=message,
    )
    return RunInfo(
        external_id=record_id(fqid, record),
        job_ref=job_ref,
        status=status,
        created=start or end,
        started=start if launched else None,
        finished=end,
        exit_code=exit_code,
        reason=reason,
        tasks=(task,) if launched else (),
        create_index=int(end.timestamp() * 1000),
    )


def active_run(job: Mapping[str, Any], job_ref: str) -> RunInfo | None:
    """The run in progress from a job's runtime (State, CurrentTaskID, LastStart), or None when there is none."""
    status = ACTIVE_STATES.get(job.get("State") or "")
    task_id = job.get("CurrentTaskID") or ""
    if status is None or not task_id:
        return None
    start = go_time(job.get("LastStart")) or datetime.now(tz=UTC)
    state = "running" if status == RunStatus.RUNNING else "pending"
    task = TaskInfo(name=TASK_NAME, state=state, started=start if status == RunStatus.RUNNING else None)
    retries = int(job.get("Retries") or 0)  # changed only at launch: above 0 when this launch is a retry
    reason = f"retry {retries} of {job.get('MaxRetries')} after a failed run" if retries else ""
    return RunInfo(
        external_id=task_id,
        job_ref=job_ref,
        status=status,
        created=start,
        started=task.started,
        reason=reason,
        tasks=(task,),
    )
