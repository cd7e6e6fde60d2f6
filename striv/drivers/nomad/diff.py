"""Nomad's structured plan diff as readable text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SIGN = {"Added": "+", "Deleted": "-", "Edited": "~", "None": " "}


def diff_text(diff: Mapping[str, Any]) -> str:
    """Render Nomad's structured plan diff as indented text, one changed field per line; '' when nothing changes."""
    if not diff or diff.get("Type", "None") == "None":
        return ""
    lines: list[str] = [f"{_SIGN.get(diff['Type'], '~')} Job: {diff.get('ID', '')}"]
    _diff_lines(diff, lines, indent=1)
    for group in diff.get("TaskGroups") or []:
        if group.get("Type") == "None":
            continue
        updates = ", ".join(f"{count} {kind}" for kind, count in (group.get("Updates") or {}).items())
        lines.append(
            f"  {_SIGN.get(group.get('Type'), '~')} Task group: {group.get('Name')}"
            + (f" ({updates})" if updates else "")
        )
        _diff_lines(group, lines, indent=2)
        for task in group.get("Tasks") or []:
            if task.get("Type") == "None":
                continue
            notes = ", ".join(task.get("Annotations") or [])
            lines.append(
                f"    {_SIGN.get(task.get('Type'), '~')} Task: {task.get('Name')}" + (f" ({notes})" if notes else "")
            )
            _diff_lines(task, lines, indent=3)
    return "\n".join(lines)


def _diff_lines(node: Mapping[str, Any], lines: list[str], *, indent: int) -> None:
    pad = "  " * indent
    for field in node.get("Fields") or []:
        if field.get("Type") == "None":
            continue
        sign = _SIGN.get(field.get("Type"), "~")
        old, new = field.get("Old", ""), field.get("New", "")
        if field.get("Type") == "Added":
            lines.append(f"{pad}{sign} {field.get('Name')}: {new!r}")
        elif field.get("Type") == "Deleted":
            lines.append(f"{pad}{sign} {field.get('Name')}: {old!r}")
        else:
            lines.append(f"{pad}{sign} {field.get('Name')}: {old!r} => {new!r}")
    for obj in node.get("Objects") or []:
        if obj.get("Type") == "None":
            continue
        lines.append(f"{pad}{_SIGN.get(obj.get('Type'), '~')} {obj.get('Name')} {{")
        _diff_lines(obj, lines, indent=indent + 1)
        lines.append(f"{pad}  }}")
