"""Jobs: canonicalisation (Nomad's defaults) and validation, as the job register endpoint applies them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tests.emulators.nomad.cron import cron_normalize
from tests.emulators.nomad.helpers import HOUR, MINUTE, SECOND, NomadEmulatorError, multierror

#: Job fields in Nomad's output order; server-managed ones are filled from the `_Job` record.
JOB_FIELDS = (
    "Stop",
    "Region",
    "Namespace",
    "ID",
    "ParentID",
    "Name",
    "Type",
    "Priority",
    "AllAtOnce",
    "Datacenters",
    "NodePool",
    "Constraints",
    "Affinities",
    "Spreads",
    "TaskGroups",
    "Update",
    "Multiregion",
    "Periodic",
    "ParameterizedJob",
    "Dispatched",
    "DispatchIdempotencyToken",
    "Payload",
    "Meta",
    "ConsulToken",
    "ConsulNamespace",
    "VaultToken",
    "VaultNamespace",
    "NomadTokenID",
    "Status",
    "StatusDescription",
    "Stable",
    "Version",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "UI",
    "VersionTag",
)
SERVER_JOB_FIELDS = frozenset(
    {
        "Stop",
        "Status",
        "StatusDescription",
        "Stable",
        "Version",
        "SubmitTime",
        "CreateIndex",
        "ModifyIndex",
        "JobModifyIndex",
    }
)
GROUP_FIELDS = (
    "Name",
    "Count",
    "Update",
    "Migrate",
    "Constraints",
    "Scaling",
    "RestartPolicy",
    "Disconnect",
    "Tasks",
    "EphemeralDisk",
    "Meta",
    "ReschedulePolicy",
    "Affinities",
    "Spreads",
    "Networks",
    "Consul",
    "Services",
    "Volumes",
    "ShutdownDelay",
    "StopAfterClientDisconnect",
    "MaxClientDisconnect",
    "PreventRescheduleOnLost",
)
TASK_FIELDS = (
    "Name",
    "Driver",
    "User",
    "Config",
    "Env",
    "Services",
    "Vault",
    "Consul",
    "Templates",
    "Constraints",
    "Affinities",
    "Resources",
    "RestartPolicy",
    "DispatchPayload",
    "Lifecycle",
    "Meta",
    "KillTimeout",
    "LogConfig",
    "Artifacts",
    "Leader",
    "ShutdownDelay",
    "VolumeMounts",
    "ScalingPolicies",
    "KillSignal",
    "Kind",
    "CSIPluginConfig",
    "Identity",
    "Identities",
    "Actions",
    "Schedule",
)
_ZERO_DEFAULTS = {
    "AllAtOnce": False,
    "Dispatched": False,
    "DispatchIdempotencyToken": "",
    "ConsulToken": "",
    "ConsulNamespace": "",
    "VaultToken": "",
    "VaultNamespace": "",
    "NomadTokenID": "",
    "ParentID": "",
    "User": "",
    "Leader": False,
    "ShutdownDelay": 0,
    "KillSignal": "",
    "Kind": "",
    "PreventRescheduleOnLost": False,
}
_BATCH_UPDATE = {
    "Stagger": 0,
    "MaxParallel": 0,
    "HealthCheck": "",
    "MinHealthyTime": 0,
    "HealthyDeadline": 0,
    "ProgressDeadline": 0,
    "AutoRevert": False,
    "AutoPromote": False,
    "Canary": 0,
}
_SERVICE_UPDATE = {
    "Stagger": 30 * SECOND,
    "MaxParallel": 1,
    "HealthCheck": "checks",
    "MinHealthyTime": 10 * SECOND,
    "HealthyDeadline": 5 * MINUTE,
    "ProgressDeadline": 10 * MINUTE,
    "AutoRevert": False,
    "AutoPromote": False,
    "Canary": 0,
}
_RESTART_DEFAULTS = {
    "batch": {"Attempts": 3, "Interval": 24 * HOUR, "Delay": 15 * SECOND, "Mode": "fail", "RenderTemplates": False},
    "sysbatch": {"Attempts": 2, "Interval": 24 * HOUR, "Delay": 15 * SECOND, "Mode": "fail", "RenderTemplates": False},
    "service": {"Attempts": 2, "Interval": 30 * MINUTE, "Delay": 15 * SECOND, "Mode": "fail", "RenderTemplates": False},
    "system": {"Attempts": 2, "Interval": 30 * MINUTE, "Delay": 15 * SECOND, "Mode": "fail", "RenderTemplates": False},
}
_RESCHEDULE_DEFAULTS = {
    "batch": {
        "Attempts": 1,
        "Interval": 24 * HOUR,
        "Delay": 5 * SECOND,
        "DelayFunction": "constant",
        "MaxDelay": 0,
        "Unlimited": False,
    },
    "service": {
        "Attempts": 0,
        "Interval": 0,
        "Delay": 30 * SECOND,
        "DelayFunction": "exponential",
        "MaxDelay": HOUR,
        "Unlimited": True,
    },
}
_RESOURCES_DEFAULT = {
    "CPU": 100,
    "Cores": 0,
    "MemoryMB": 300,
    "MemoryMaxMB": 0,
    "DiskMB": 0,
    "IOPS": 0,
    "Networks": None,
    "Devices": None,
    "NUMA": None,
}
_LOG_CONFIG_DEFAULT = {"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": False}
_EPHEMERAL_DISK_DEFAULT = {"Sticky": False, "SizeMB": 300, "Migrate": False}
_PERIODIC_DEFAULT = {
    "Enabled": True,
    "Spec": "",
    "Specs": [],
    "SpecType": "cron",
    "ProhibitOverlap": False,
    "TimeZone": "UTC",
}
JOB_TYPES = ("service", "batch", "system", "sysbatch")


def _merged(defaults: Mapping[str, Any] | None, given: Any) -> Any:
    """Return `given` laid over `defaults` (missing or null keys take the default); None stays None."""
    if given is None:
        return copy.deepcopy(defaults) if defaults is not None else None
    if not isinstance(given, Mapping) or defaults is None:
        return copy.deepcopy(given)
    out = copy.deepcopy(dict(defaults))
    for key, value in given.items():
        if value is not None or key not in out:
            out[key] = copy.deepcopy(value)
    return out


def _type_error(value: Any, where: str, go_type: str) -> NomadEmulatorError:
    json_type = {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "value"
    )
    return NomadEmulatorError(400, f"json: cannot unmarshal {json_type} into Go struct field {where} of type {go_type}")


def _check_decodable(job: Any) -> None:
    """Reject bodies Go's JSON decoder would refuse for the fields striv sends; raises a 400 NomadEmulatorError."""
    if not isinstance(job, dict):
        raise _type_error(job, "JobRegisterRequest.Job", "api.Job")

    def string(obj: Mapping, key: str, where: str) -> None:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise _type_error(value, where, "string")

    def integer(obj: Mapping, key: str, where: str) -> None:
        value = obj.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _type_error(value, where, "int")

    def string_map(obj: Mapping, key: str, where: str) -> None:
        value = obj.get(key)
        if value is None:
            return
        if not isinstance(value, dict):
            raise _type_error(value, where, "map[string]string")
        for item in value.values():
            if not isinstance(item, str):
                raise _type_error(item, where, "string")

    def dict_list(obj: Mapping, key: str, where: str, go_type: str) -> list:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _type_error(value, where, go_type)
        return value

    for key in ("ID", "Name", "Type", "Namespace", "Region", "ParentID", "NodePool"):
        string(job, key, f"Job.Job.{key}")
    integer(job, "Priority", "Job.Job.Priority")
    string_map(job, "Meta", "Job.Job.Meta")
    datacenters = job.get("Datacenters")
    if datacenters is not None and (
        not isinstance(datacenters, list) or not all(isinstance(d, str) for d in datacenters)
    ):
        raise _type_error(datacenters, "Job.Job.Datacenters", "[]string")
    periodic = job.get("Periodic")
    if periodic is not None:
        if not isinstance(periodic, dict):
            raise _type_error(periodic, "Job.Job.Periodic", "api.PeriodicConfig")
        for key in ("Spec", "SpecType", "TimeZone"):
            string(periodic, key, f"Job.Job.Periodic.{key}")
        for key in ("Enabled", "ProhibitOverlap"):
            if periodic.get(key) is not None and not isinstance(periodic[key], bool):
                raise _type_error(periodic[key], f"Job.Job.Periodic.{key}", "bool")
    for group in dict_list(job, "TaskGroups", "Job.Job.TaskGroups", "[]*api.TaskGroup"):
        string(group, "Name", "Job.Job.TaskGroups.Name")
        integer(group, "Count", "Job.Job.TaskGroups.Count")
        string_map(group, "Meta", "Job.Job.TaskGroups.Meta")
        for task in dict_list(group, "Tasks", "Job.Job.TaskGroups.Tasks", "[]*api.Task"):
            string(task, "Name", "Job.Job.TaskGroups.Tasks.Name")
            string(task, "Driver", "Job.Job.TaskGroups.Tasks.Driver")
            string_map(task, "Env", "Job.Job.TaskGroups.Tasks.Env")
            string_map(task, "Meta", "Job.Job.TaskGroups.Tasks.Meta")
            if task.get("Config") is not None and not isinstance(task["Config"], dict):
                raise _type_error(task["Config"], "Job.Job.TaskGroups.Tasks.Config", "map[string]interface {}")


def canonicalize_job(raw: Mapping[str, Any], *, namespace: str, region: str) -> dict[str, Any]:
    """Fill in Nomad's defaults for missing fields; returns the job spec (no server-managed fields).

    Explicit values are kept as sent, except the few Nomad treats "" like missing (Name, Region, Namespace,
    Datacenters, Periodic.TimeZone). Unknown keys are dropped, as Go's decoder drops them.
    """
    job_type = raw.get("Type") if raw.get("Type") is not None else "service"
    spec: dict[str, Any] = {}
    for key in JOB_FIELDS:
        if key in SERVER_JOB_FIELDS:
            continue
        spec[key] = copy.deepcopy(raw.get(key)) if raw.get(key) is not None else _ZERO_DEFAULTS.get(key)
    spec["Namespace"] = namespace
    spec["Region"] = region if raw.get("Region") in (None, "", "global") else raw["Region"]
    spec["Name"] = raw.get("Name") or raw.get("ID")
    spec["Type"] = job_type
    spec["Priority"] = 50 if raw.get("Priority") is None else raw["Priority"]
    spec["Datacenters"] = list(raw.get("Datacenters") or ["*"])
    spec["NodePool"] = raw.get("NodePool") or "default"
    spec["Update"] = _merged(_SERVICE_UPDATE if job_type == "service" else _BATCH_UPDATE, raw.get("Update"))
    if raw.get("Periodic") is not None:
        periodic = _merged(_PERIODIC_DEFAULT, raw["Periodic"])
        periodic = {key: periodic.get(key) for key in _PERIODIC_DEFAULT}
        periodic["TimeZone"] = periodic["TimeZone"] or "UTC"
        periodic["Specs"] = list(periodic["Specs"] or [])
        periodic["Spec"] = periodic["Spec"] or ""
        spec["Periodic"] = periodic
    if raw.get("ParameterizedJob") is not None:
        spec["ParameterizedJob"] = _merged(
            {"Payload": "optional", "MetaRequired": None, "MetaOptional": None}, raw["ParameterizedJob"]
        )
    groups = raw.get("TaskGroups") or []
    spec["TaskGroups"] = [_canonicalize_group(g, job_type) for g in groups] if groups else None
    return spec


def _canonicalize_group(raw: Mapping[str, Any], job_type: str) -> dict[str, Any]:
    group: dict[str, Any] = {}
    for key in GROUP_FIELDS:
        group[key] = copy.deepcopy(raw.get(key)) if raw.get(key) is not None else _ZERO_DEFAULTS.get(key)
    group["Count"] = 1 if raw.get("Count") is None else raw["Count"]
    group["RestartPolicy"] = _merged(
        _RESTART_DEFAULTS.get(job_type, _RESTART_DEFAULTS["batch"]), raw.get("RestartPolicy")
    )
    reschedule = _RESCHEDULE_DEFAULTS.get(job_type)
    group["ReschedulePolicy"] = _merged(reschedule, raw.get("ReschedulePolicy")) if reschedule else None
    group["EphemeralDisk"] = _merged(_EPHEMERAL_DISK_DEFAULT, raw.get("EphemeralDisk"))
    if job_type == "service":
        group["Update"] = _merged(_SERVICE_UPDATE, raw.get("Update"))
        group["Migrate"] = _merged(
            {"MaxParallel": 1, "HealthCheck": "checks", "MinHealthyTime": 10 * SECOND, "HealthyDeadline": 5 * MINUTE},
            raw.get("Migrate"),
        )
    tasks = raw.get("Tasks") or []
    group["Tasks"] = [_canonicalize_task(t, group["RestartPolicy"]) for t in tasks] if tasks else None
    return group


def _canonicalize_task(raw: Mapping[str, Any], group_restart: Mapping[str, Any]) -> dict[str, Any]:
    task: dict[str, Any] = {}
    for key in TASK_FIELDS:
        task[key] = copy.deepcopy(raw.get(key)) if raw.get(key) is not None else _ZERO_DEFAULTS.get(key)
    task["Resources"] = _merged(_RESOURCES_DEFAULT, raw.get("Resources"))
    task["RestartPolicy"] = _merged(group_restart, raw.get("RestartPolicy"))
    task["LogConfig"] = _merged(_LOG_CONFIG_DEFAULT, raw.get("LogConfig"))
    task["KillTimeout"] = 5 * SECOND if raw.get("KillTimeout") is None else raw["KillTimeout"]
    return task


def validate_job(spec: Mapping[str, Any]) -> list[str]:
    """Check a canonical job like ``Job.Validate``; returns the error messages (empty when valid)."""
    errors: list[str] = []
    job_id = spec.get("ID")
    if not job_id:
        errors.append("Missing job ID")
    elif " " in job_id:
        errors.append("Job ID contains a space")
    elif "\x00" in job_id:
        errors.append("Job ID contains a null character")
    if not spec.get("Name"):
        errors.append("Missing job name")
    elif "\x00" in spec["Name"]:
        errors.append("Job Name contains a null character")
    job_type = spec.get("Type")
    if job_type not in JOB_TYPES:
        errors.append(f'Invalid job type: "{job_type}"')
    if not 1 <= spec.get("Priority", 0) <= 100:
        errors.append("job priority must be between [1, 100]")
    if any(dc == "" for dc in spec.get("Datacenters") or []):
        errors.append("Job datacenter must be non-empty string")
    groups = spec.get("TaskGroups") or []
    if not groups:
        errors.append("Missing job task groups")
    seen: dict[str, int] = {}
    for number, group in enumerate(groups, start=1):
        name = group.get("Name")
        if not name:
            errors.append(f"Job task group {number} missing name")
        elif name in seen:
            errors.append(f"Job task group {number} redefines '{name}' from group {seen[name]}")
        else:
            seen[name] = number
        group_errors = _validate_group(group, job_type)
        if group_errors:
            errors.append(f"Task group {name} validation failed: {multierror(group_errors)}")
    periodic = spec.get("Periodic")
    if periodic is not None:
        if job_type not in ("batch", "sysbatch"):
            errors.append('Periodic can only be used with "batch" or "sysbatch" scheduler')
        periodic_errors = _validate_periodic(periodic)
        if periodic_errors:
            errors.append(multierror(periodic_errors))
    parameterized = spec.get("ParameterizedJob")
    if parameterized is not None:
        if job_type not in ("batch", "sysbatch"):
            errors.append('Parameterized job can only be used with "batch" or "sysbatch" scheduler')
        if parameterized.get("Payload") not in ("optional", "required", "forbidden"):
            errors.append(f'Unknown payload requirement: "{parameterized.get("Payload")}"')
    return errors


def _validate_group(group: Mapping[str, Any], job_type: str | None) -> list[str]:
    errors: list[str] = []
    if group.get("Count", 0) < 0:
        errors.append("Task group count can't be negative")
    tasks = group.get("Tasks") or []
    if not tasks:
        errors.append("Missing tasks for task group")
    restart = group.get("RestartPolicy") or {}
    if restart.get("Mode") not in ("delay", "fail"):
        errors.append(f'Unsupported restart mode: "{restart.get("Mode")}"')
    seen: dict[str, int] = {}
    for number, task in enumerate(tasks, start=1):
        name = task.get("Name")
        if not name:
            errors.append(f"Task {number} missing name")
        elif name in seen:
            errors.append(f"Task {number} redefines '{name}' from task {seen[name]}")
        else:
            seen[name] = number
        task_errors = []
        if not task.get("Driver"):
            task_errors.append("Missing task driver")
        resources = task.get("Resources") or {}
        if resources.get("CPU", 0) < 1 and not resources.get("Cores"):
            task_errors.append(f"minimum CPU value is 1; got {resources.get('CPU')}")
        if resources.get("MemoryMB", 0) < 10:
            task_errors.append(f"minimum MemoryMB value is 10; got {resources.get('MemoryMB')}")
        if task.get("KillTimeout", 0) < 0:
            task_errors.append("KillTimeout must be a positive value")
        if task_errors:
            errors.append(f"Task {name} validation failed: {multierror(task_errors)}")
    return errors


def _validate_periodic(periodic: Mapping[str, Any]) -> list[str]:
    if not periodic.get("Enabled"):
        return []
    errors: list[str] = []
    spec, specs = periodic.get("Spec") or "", periodic.get("Specs") or []
    if spec and specs:
        errors.append("Only cron or crons may be used")
    elif not spec and not specs:
        errors.append("Must specify a spec")
    tz_name = periodic.get("TimeZone") or "UTC"
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f'Invalid time zone "{tz_name}": unknown time zone {tz_name}')
    spec_type = periodic.get("SpecType")
    if spec_type == "cron":
        for one in ([spec] if spec else []) + list(specs):
            try:
                cron_normalize(one)
            except ValueError as exc:
                errors.append(f'Invalid cron spec "{one}": {exc}')
    elif spec_type != "test":
        errors.append(f'Unknown periodic specification type "{spec_type}"')
    return errors


def update_rule_error(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Return the message Nomad refuses an update of `old` into `new` with, or None when allowed."""
    if old["Type"] != new["Type"]:
        return f'cannot update job from type "{old["Type"]}" to "{new["Type"]}"'
    if old.get("Periodic") is None and new.get("Periodic") is not None:
        return "cannot update non-periodic job to being periodic"
    if old.get("Periodic") is not None and new.get("Periodic") is None:
        return "cannot update periodic job to being non-periodic"
    if old.get("ParameterizedJob") is None and new.get("ParameterizedJob") is not None:
        return "cannot update non-parameterized job to being parameterized"
    if old.get("ParameterizedJob") is not None and new.get("ParameterizedJob") is None:
        return "cannot update parameterized job to being non-parameterized"
    return None


# plan diffs --------------------------------------------------------------------------------------------------
