"""Go's ``encoding/json`` as Rhythm uses it: indented output, case-insensitive decoding into fixed structs, and
the robfig/cron v1.1 syntax check that schema validation runs (``format: cron``)."""

from __future__ import annotations

import json
import re
from typing import Any


class DecodeError(ValueError):
    """The body is not JSON or a value has the wrong JSON type: Rhythm's 400 ``JSON decoding failed: ...``."""


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def go_dumps(value: Any) -> bytes:
    """Indented by 4 with a trailing newline, ``&<>`` escaped, whole floats without a decimal point."""
    text = json.dumps(_plain(value), indent=4, ensure_ascii=False)
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return (text + "\n").encode()


def first_value(body: bytes) -> Any:
    """The first JSON value of ``body`` (the rest is ignored, as by a json.Decoder); DecodeError when none."""
    text = body.decode("utf-8", errors="replace").lstrip()
    if not text:
        raise DecodeError("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"invalid character at offset {exc.pos}") from None
    return value


def fold(obj: Any, names: list[str], where: str) -> dict[str, Any]:
    """Map the keys of JSON object ``obj`` onto the struct field ``names`` as Go does: exact match first, then
    case-insensitive; unknown keys dropped. ``null`` values are dropped (they leave a field unchanged)."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise DecodeError(f"json: cannot unmarshal {_kind(obj)} into Go struct field {where} of type object")
    result: dict[str, Any] = {}
    lowered = {name.lower(): name for name in names}
    for key, value in obj.items():
        name = key if key in names else lowered.get(key.lower())
        if name is None or value is None:
            continue
        if key != name and name in result and any(k == name for k in obj):
            continue  # an exact match wins over a case-insensitive one
        result[name] = value
    return result


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def want(value: Any, kind: str, field: str) -> Any:
    """``value`` if it has JSON type ``kind`` (string, number, integer, bool, map, list), else DecodeError."""
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "map": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
        "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise DecodeError(f"json: cannot unmarshal {_kind(value)} into Go struct field {field}")
    return value


# --- robfig/cron v1.1: 5 fields, no descriptors --------------------------------------------------------------------

_BOUNDS = [(0, 59, None), (0, 23, None), (1, 31, None), (1, 12, "jan feb mar apr may jun jul aug sep oct nov dec"),
           (0, 6, "sun mon tue wed thu fri sat")]  # fmt: skip
_PART = re.compile(r"^([^/-]+)(?:-([^/]+))?(?:/(\d+))?$")


def cron_ok(spec: str) -> bool:
    fields = spec.split()
    if len(fields) != 5:
        return False
    for text, (low, high, names) in zip(fields, _BOUNDS, strict=True):
        for part in text.split(","):
            match = _PART.match(part)
            if not match:
                return False
            start, end, step = match.groups()
            if step is not None and int(step) == 0:
                return False
            if start in ("*", "?"):
                continue  # "*-5" is accepted and means "*"
            values = [_value(start, names)] + ([_value(end, names)] if end is not None else [])
            if any(v is None or v < low or v > high for v in values):
                return False
            if len(values) == 2 and values[0] > values[1]:  # type: ignore[operator]
                return False
    return True


def _value(text: str, names: str | None) -> int | None:
    if text.isdigit():
        return int(text)
    if names and text.lower() in names.split():
        return names.split().index(text.lower()) + (1 if len(names.split()) == 12 else 0)
    return None
