"""How deeply JSON nests: request bodies past a sane depth are refused with the path where they get too deep.

Python's JSON parser raises RecursionError (a 500) on a body nested a thousand levels deep, and deep data breaks
every recursive walk after it. No striv document needs more than a few levels; 64 leaves ample room.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


def _path_join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """The path of the first array or object of parsed ``value`` nested deeper than ``limit`` (None: none is).

    The body itself is level 1; its path is ``(the body)``.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return path or "(the body)"
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in children:
            if isinstance(child, dict | list):
                stack.append((child, _path_join(path, key), depth + 1))
    return None


def too_deep_text(text: str, limit: int = MAX_DEPTH) -> str | None:
    """Like ``too_deep`` on JSON text that may be too deep to parse at all (scanned, not parsed)."""
    stack: list[list[Any]] = []  # per open container: its current key (object) or index (array)
    last_string: str | None = None
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char == '"':
            end = index + 1
            while end < size and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            try:
                last_string = json.loads(text[index : end + 1])
            except ValueError:
                last_string = text[index + 1 : end]
            index = end + 1
            continue
        if char in "{[":
            stack.append(["", None] if char == "{" else [0, None])
            if len(stack) > limit:
                path = ""
                for part, _ in stack[:-1]:
                    path = _path_join(path, part)
                return path or "(the body)"
        elif char in "}]" and stack:
            stack.pop()
        elif char == ":" and stack and isinstance(stack[-1][0], str):
            stack[-1][0] = last_string or ""
        elif char == "," and stack and isinstance(stack[-1][0], int):
            stack[-1][0] += 1
        index += 1
    return None
