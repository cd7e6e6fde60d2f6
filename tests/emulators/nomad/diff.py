"""Plan diffs: what ``/v1/job/:id/plan?diff=true`` reports between the registered and the planned job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tests.emulators.nomad.helpers import _go_str

_JOB_DIFF_FIELDS = (
    "AllAtOnce",
    "ConsulNamespace",
    "Dispatched",
    "Name",
    "Namespace",
    "NodePool",
    "ParentID",
    "Priority",
    "Region",
    "Stop",
    "Type",
    "VaultNamespace",
)
_GROUP_DIFF_FIELDS = (
    "Count",
    "PreventRescheduleOnLost",
    "ShutdownDelay",
    "MaxClientDisconnect",
    "StopAfterClientDisconnect",
)
_TASK_DIFF_FIELDS = ("Driver", "KillSignal", "KillTimeout", "Kind", "Leader", "ShutdownDelay", "User")
_GROUP_DIFF_OBJECTS = ("EphemeralDisk", "ReschedulePolicy", "RestartPolicy", "Update", "Migrate")
_TASK_DIFF_OBJECTS = ("Config", "LogConfig", "Resources", "Lifecycle", "DispatchPayload", "Identity")


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Flatten nested maps/lists into ``key``, ``key[0]``, ``key[sub]`` names with string values."""
    out: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{prefix}[{key}]" if prefix else str(key)
            out.update(_flatten(item, name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
    elif value is not None:
        out[prefix] = _go_str(value)
    return out


def _field_diffs(old: Mapping[str, str], new: Mapping[str, str]) -> list[dict[str, Any]]:
    diffs = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        kind = "Added" if before is None else "Deleted" if after is None else "Edited"
        diffs.append({"Type": kind, "Name": name, "Old": before or "", "New": after or "", "Annotations": None})
    return diffs


def _primitive_fields(obj: Mapping[str, Any] | None, keys: Iterable[str]) -> dict[str, str]:
    if obj is None:
        return {}
    out = {}
    for key in keys:
        value = obj.get(key)
        if value is None or isinstance(value, (dict, list)):
            continue
        out[key] = _go_str(value)
    return out


def _map_fields(obj: Mapping[str, Any] | None, key: str) -> dict[str, str]:
    values = (obj or {}).get(key) or {}
    return {f"{key}[{k}]": _go_str(v) for k, v in values.items()}


def _diff_type(old: Any, new: Any, changed: bool) -> str:
    if old is None:
        return "Added"
    if new is None:
        return "Deleted"
    return "Edited" if changed else "None"


def _object_diff(name: str, old: Any, new: Any) -> dict[str, Any] | None:
    """Diff two nested objects as a flat ObjectDiff; returns None when both are equal or both absent."""
    if old is None and new is None:
        return None
    fields = _field_diffs(_flatten(old or {}), _flatten(new or {}))
    if not fields and old is not None and new is not None:
        return None
    return {"Type": _diff_type(old, new, bool(fields)), "Name": name, "Fields": fields, "Objects": None}


def _set_diff(name: str, old: list | None, new: list | None) -> dict[str, Any] | None:
    before, after = set(old or []), set(new or [])
    if before == after:
        return None
    fields = [{"Type": "Added", "Name": name, "Old": "", "New": v, "Annotations": None} for v in sorted(after - before)]
    fields += [
        {"Type": "Deleted", "Name": name, "Old": v, "New": "", "Annotations": None} for v in sorted(before - after)
    ]
    fields.sort(key=lambda f: f["Old"] or f["New"])
    kind = "Added" if not before else "Deleted" if not after else "Edited"
    return {"Type": kind, "Name": name, "Fields": fields, "Objects": None}


def _task_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, Any]:
    base = new if new is not None else old
    fields = _field_diffs(
        {**_primitive_fields(old, _TASK_DIFF_FIELDS), **_map_fields(old, "Env"), **_map_fields(old, "Meta")},
        {**_primitive_fields(new, _TASK_DIFF_FIELDS), **_map_fields(new, "Env"), **_map_fields(new, "Meta")},
    )
    objects = [
        d for d in (_object_diff(key, (old or {}).get(key), (new or {}).get(key)) for key in _TASK_DIFF_OBJECTS) if d
    ]
    for key in ("Templates", "Artifacts", "Services", "Constraints", "VolumeMounts"):
        if (old or {}).get(key) != (new or {}).get(key):
            objects.append(
                _object_diff(key, (old or {}).get(key) or None, (new or {}).get(key) or None)
                or {"Type": "Edited", "Name": key, "Fields": [], "Objects": None}
            )
    kind = _diff_type(old, new, bool(fields or objects))
    annotations = {
        "Added": ["forces create"],
        "Deleted": ["forces destroy"],
        "Edited": ["forces create/destroy update"],
    }.get(kind)
    return {
        "Type": kind,
        "Name": base["Name"],
        "Fields": fields or None,
        "Objects": objects or None,
        "Annotations": annotations,
    }


def _group_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, Any]:
    base = new if new is not None else old
    fields = _field_diffs(
        {**_primitive_fields(old, _GROUP_DIFF_FIELDS), **_map_fields(old, "Meta")},
        {**_primitive_fields(new, _GROUP_DIFF_FIELDS), **_map_fields(new, "Meta")},
    )
    objects = [
        d for d in (_object_diff(key, (old or {}).get(key), (new or {}).get(key)) for key in _GROUP_DIFF_OBJECTS) if d
    ]
    old_tasks = {t["Name"]: t for t in (old or {}).get("Tasks") or []}
    new_tasks = {t["Name"]: t for t in (new or {}).get("Tasks") or []}
    tasks = [_task_diff(old_tasks.get(name), new_tasks.get(name)) for name in sorted(set(old_tasks) | set(new_tasks))]
    changed = bool(fields or objects or any(t["Type"] != "None" for t in tasks))
    return {
        "Type": _diff_type(old, new, changed),
        "Name": base["Name"],
        "Fields": fields or None,
        "Objects": objects or None,
        "Tasks": tasks or None,
        "Updates": None,
    }


def job_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Diff two job specs like ``nomad job plan -diff``; returns a JobDiff (Type None/Added/Edited)."""
    fields = _field_diffs(
        {**_primitive_fields(old, _JOB_DIFF_FIELDS), **_map_fields(old, "Meta")},
        {**_primitive_fields(new, _JOB_DIFF_FIELDS), **_map_fields(new, "Meta")},
    )
    objects = [
        d
        for d in (
            _set_diff("Datacenters", (old or {}).get("Datacenters"), new.get("Datacenters"))
            if old
            else _set_diff("Datacenters", None, new.get("Datacenters")),
            _periodic_diff((old or {}).get("Periodic"), new.get("Periodic")),
            _object_diff("ParameterizedJob", (old or {}).get("ParameterizedJob"), new.get("ParameterizedJob")),
            _object_diff("Constraints", (old or {}).get("Constraints") or None, new.get("Constraints") or None),
        )
        if d
    ]
    old_groups = {g["Name"]: g for g in (old or {}).get("TaskGroups") or []}
    new_groups = {g["Name"]: g for g in new.get("TaskGroups") or []}
    groups = [_group_diff(old_groups.get(n), new_groups.get(n)) for n in sorted(set(old_groups) | set(new_groups))]
    changed = bool(fields or objects or any(g["Type"] != "None" for g in groups))
    return {
        "Type": _diff_type(old, new, changed),
        "ID": new["ID"],
        "Fields": fields or None,
        "Objects": objects or None,
        "TaskGroups": groups or None,
    }


def _periodic_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, Any] | None:
    keys = ("Enabled", "ProhibitOverlap", "Spec", "SpecType", "TimeZone")
    if old is None and new is None:
        return None
    fields = _field_diffs(_primitive_fields(old, keys), _primitive_fields(new, keys))
    specs = _set_diff("Specs", (old or {}).get("Specs"), (new or {}).get("Specs"))
    if not fields and not specs and old is not None and new is not None:
        return None
    return {
        "Type": _diff_type(old, new, True),
        "Name": "Periodic",
        "Fields": fields or None,
        "Objects": [specs] if specs else None,
    }
