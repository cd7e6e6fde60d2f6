"""Constants, the error every endpoint raises, and Go-style parsing and formatting."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from datetime import datetime
from typing import Any

logger = logging.getLogger(__name__)

NOMAD_VERSION = "1.11.2"
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

#: What `fault("error500")` answers to every request.
FAULT_500_MESSAGE = "rpc error: No cluster leader"
#: Capabilities granted by the policy shorthands of a namespace rule.
POLICY_CAPABILITIES = {
    "deny": frozenset(),
    "read": frozenset(
        {
            "list-jobs",
            "parse-job",
            "read-job",
            "csi-list-volume",
            "csi-read-volume",
            "list-scaling-policies",
            "read-scaling-policy",
            "read-job-scaling",
        }
    ),
    "write": frozenset(
        {
            "list-jobs",
            "parse-job",
            "read-job",
            "csi-list-volume",
            "csi-read-volume",
            "list-scaling-policies",
            "read-scaling-policy",
            "read-job-scaling",
            "scale-job",
            "submit-job",
            "dispatch-job",
            "read-logs",
            "read-fs",
            "alloc-exec",
            "alloc-lifecycle",
            "csi-mount-volume",
            "csi-write-volume",
            "submit-recommendation",
        }
    ),
}


class NomadEmulatorError(Exception):
    """An API error: `status` is the HTTP status Nomad would answer and `message` its plain-text body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


_ApiError = NomadEmulatorError


# ---------------------------------------------------------------------------------------------------------------
# helpers: Go-style parsing and formatting
# ---------------------------------------------------------------------------------------------------------------

_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def go_parse_bool(value: str) -> bool:
    """Parse `value` like Go's ``strconv.ParseBool``; returns the bool, raises ValueError with Go's message."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": SECOND, "m": MINUTE, "h": HOUR}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def go_parse_duration(value: str) -> int:
    """Parse a Go duration (``30s``, ``1m30s``, ``250ms``, ``0``); returns nanoseconds, raises ValueError."""
    text = value.strip()
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f'time: invalid duration "{value}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match or match.group(1) in ("", "."):
            raise ValueError(f'time: invalid duration "{value}"')
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    return sign * int(total)


def go_duration_string(ns: int) -> str:
    """Format nanoseconds like Go's ``time.Duration.String`` for whole seconds (``24h0m0s``, ``15s``)."""
    seconds = ns // SECOND
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rfc3339nano(ns: int | None, tz: Any = None) -> str | None:
    """Format Unix nanoseconds like Go's RFC3339Nano (trailing zeros trimmed); returns None for 0/None.

    `tz` (a tzinfo) renders the local time with its offset, as Go does for a time in that location.
    """
    if not ns:
        return None
    seconds, frac = divmod(ns, SECOND)
    fraction = "." + f"{frac:09d}".rstrip("0") if frac else ""
    if tz is None:
        t = time.gmtime(seconds)  # the hot path (task states): avoid datetime/strftime
        date = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        return f"{date}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}{fraction}Z"
    moment = datetime.fromtimestamp(seconds, tz)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction
    offset = moment.utcoffset()
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def multierror(errors: list[str]) -> str:
    """Render messages like go-multierror's list format; returns the text Nomad puts in a 500 body."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {err}" for err in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


def _compact_json(obj: Any) -> str:
    """Encode `obj` the way Nomad writes JSON without ``?pretty``: no spaces, UTF-8 kept as is."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


#: the string encoder `json.dumps` uses when ``ensure_ascii=False``
_json_str = json.encoder.encode_basestring


def _uuid() -> str:
    """Return a random UUID string (Nomad's IDs are 16 random bytes in UUID layout)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _now_ns() -> int:
    return time.time_ns()


def _go_str(value: Any) -> str:
    """Stringify a JSON scalar the way Go's ``%v`` prints the decoded value (used in plan diffs)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
