"""An in-process emulator of the Nomad HTTP API, for striv's tests.

`NomadEmulator` runs a small threaded HTTP server on 127.0.0.1 that answers the parts of the Nomad API striv
uses, the way Nomad 1.11 answers them (see ``shared/nomad/BEHAVIOUR.md``): job register / read / list / plan /
periodic force / deregister, evaluations, allocations, logs (plain, framed, follow), the event stream, blocking
queries, ACL tokens, namespaces, and plain-text errors with Nomad's status codes.

There is no scheduler and no clock of its own. Tests drive what a Nomad cluster does by itself through Python
methods: `launch()` / `launch_next()` derive a periodic child as the leader would, `alloc_run()` /
`alloc_finish()` play the client, `gc()` / `client_gc()` play the garbage collectors and `fault()` breaks the
server on purpose. `seed_runs()` bulk-loads history for benchmarks (100,000 runs in about 5 s and 300 MB;
``GET /v1/allocations`` scans them in about 0.1 s and renders about 70,000 stubs/s with task states; each stub's
JSON is kept until its alloc changes, another 300 MB for 100,000, so listing them again goes about 5 times faster).

Quirks copied on purpose: ``reverse`` only counts when it is the literal ``true`` (python-nomad sends ``True``),
periodic force answers 500 for a missing job, deregistering a missing job is 200, a missing job's allocations
are ``[]``, and job IDs route by suffix so raw ``/`` and ``%2F`` both work.

The module is organised as:
  helpers (Go-style parsing and formatting), cron (Nomad's cronexpr semantics on top of croniter),
  bexpr (a go-bexpr subset for ``filter=``), job canonicalisation / validation / diff,
  records (`_Job`, `_Eval`, `_Alloc`, `_TaskState`), `_State` (all data, one lock),
  `_Api` (one method per endpoint, HTTP-free), `_Handler` (HTTP plumbing) and `NomadEmulator` (the public face).
"""

from __future__ import annotations

import base64
import bisect
import collections
import copy
import gc
import json
import logging
import os
import random
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

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


# ---------------------------------------------------------------------------------------------------------------
# cron: Nomad's hashicorp/cronexpr semantics, computed with croniter
# ---------------------------------------------------------------------------------------------------------------

_CRON_ALIASES = {
    "@yearly": "0 0 0 1 1 * *",
    "@annually": "0 0 0 1 1 * *",
    "@monthly": "0 0 0 1 * * *",
    "@weekly": "0 0 0 * * 0 *",
    "@daily": "0 0 0 * * * *",
    "@midnight": "0 0 0 * * * *",
    "@hourly": "0 0 * * * * *",
}
_CRON_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
    ("year", 1970, 2099),
)
_MONTH_NAMES = {
    name: i + 1
    for i, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
_DOW_NAMES = {
    name: i for i, name in enumerate(["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"])
}


def _cron_value(token: str, field_index: int) -> int | None:
    """Return the number a cron token names (digits or a month/day name), or None when it names nothing."""
    if token.isdigit():
        return int(token)
    lowered = token.lower()
    names = _MONTH_NAMES if field_index == 4 else _DOW_NAMES if field_index == 5 else None
    if names:
        for name, number in names.items():
            if lowered in (name, name[:3]):
                return number
    return None


def _cron_check_item(item: str, field_index: int) -> str:
    """Validate one comma-separated cron item; returns it rewritten for croniter, raises ValueError."""
    name, low, high = _CRON_FIELDS[field_index]
    bad = ValueError(f"syntax error in {name} field: '{item}'")
    if field_index == 3 and (item.upper() in ("L", "LW") or re.fullmatch(r"\d{1,2}W", item, re.I)):
        if item.upper() not in ("L", "LW") and not 1 <= int(item[:-1]) <= 31:
            raise bad
        return item.upper()
    if field_index == 5:
        last = re.fullmatch(r"([0-7])L", item, re.I)
        if last:
            return f"L{int(last.group(1)) % 7}"  # croniter spells "last Friday" as L5, Nomad as 5L
        nth = re.fullmatch(r"([0-7])#([1-5])", item)
        if nth:
            return item
    base, slash, step = item.partition("/")
    if slash:
        if not step.isdigit():
            raise bad
        if int(step) == 0:
            raise ValueError(f"invalid interval {item}")
    if base in ("*", "?"):
        return "*" + (f"/{step}" if slash else "")
    start, dash, end = base.partition("-")
    values = [_cron_value(start, field_index)] + ([_cron_value(end, field_index)] if dash else [])
    if any(v is None or not low <= v <= high for v in values):
        raise bad
    rewritten = "-".join(str(v) for v in values)
    return rewritten + (f"/{step}" if slash else "")


def cron_normalize(spec: str) -> str:
    """Turn a Nomad cron spec into a 7-field croniter spec (seconds first, year last); raises ValueError.

    5 fields are ``min hour dom month dow``; 6 fields add the YEAR (not seconds, unlike crontab); 7 fields are
    ``sec min hour dom month dow year``; fields after the 7th are ignored, as in Nomad.
    """
    text = spec.strip()
    if text.lower() in _CRON_ALIASES:
        return _CRON_ALIASES[text.lower()]
    fields = text.split()
    if len(fields) < 5:
        raise ValueError("missing field(s)")
    if len(fields) == 5:
        fields = ["0", *fields, "*"]
    elif len(fields) == 6:
        fields = ["0", *fields]
    fields = fields[:7]
    return " ".join(",".join(_cron_check_item(item, i) for item in f.split(",")) for i, f in enumerate(fields))


def cron_next(spec: str, after: datetime, tz_name: str = "UTC") -> datetime | None:
    """Return the first instant strictly after `after` matching `spec` in `tz_name`, or None if none can be found.

    Raises ValueError for an invalid spec (see `cron_normalize`).
    """
    normalized = cron_normalize(spec)
    tz = ZoneInfo(tz_name or "UTC")
    try:
        return croniter(normalized, after.astimezone(tz), second_at_beginning=True).get_next(datetime)
    except Exception:  # croniter lacks a few cronexpr forms (LW); Nomad would launch, we cannot say when
        logger.debug("croniter cannot evaluate %r", normalized)
        return None


def periodic_next(periodic: Mapping[str, Any], after: datetime) -> datetime | None:
    """Return the next launch of a job's Periodic block after `after` (the minimum over Spec/Specs), or None."""
    specs = [periodic.get("Spec")] if periodic.get("Spec") else list(periodic.get("Specs") or [])
    candidates = [n for n in (cron_next(s, after, periodic.get("TimeZone") or "UTC") for s in specs) if n]
    return min(candidates) if candidates else None


# ---------------------------------------------------------------------------------------------------------------
# bexpr: the go-bexpr subset Nomad's filter= understands and striv uses
# ---------------------------------------------------------------------------------------------------------------


class BexprSyntaxError(ValueError):
    """The filter expression does not parse."""


class BexprEvalError(ValueError):
    """The filter expression names a field the evaluated object does not have."""


_MISSING = object()
_BEXPR_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<op>==|!=)
    | (?P<lparen>\() | (?P<rparen>\)) | (?P<lbrack>\[) | (?P<rbrack>\]) | (?P<comma>,)
    | (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?![A-Za-z0-9_]))
    | (?P<ident>[A-Za-z][A-Za-z0-9_/]*(?:\.[A-Za-z0-9_][A-Za-z0-9_/]*|\["(?:[^"\\]|\\.)*"\])*)
    )""",
    re.X,
)


def _bexpr_tokens(expr: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        match = _BEXPR_TOKEN.match(expr, pos)
        if not match or match.end() == pos:
            raise BexprSyntaxError(f"1:{pos + 1} ({pos}): no match found, expected: {expr[pos : pos + 10]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _selector_path(text: str) -> list[str]:
    """Split ``Meta.owner`` / ``Meta["a.b"]`` / ``TaskStates.run.State`` into path parts."""
    parts = []
    for match in re.finditer(r'\["((?:[^"\\]|\\.)*)"\]|([^.\[]+)', text):
        parts.append(json.loads(f'"{match.group(1)}"') if match.group(1) is not None else match.group(2))
    return parts


class _BexprParser:
    """Recursive-descent parser producing a predicate ``f(resolve) -> bool``.

    ``resolve(path)`` returns the value at a selector path, `_MISSING` for an absent map key, or raises
    BexprEvalError for an unknown struct field.
    """

    def __init__(self, expr: str):
        self.tokens = _bexpr_tokens(expr)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise BexprSyntaxError("unexpected end of expression")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        for offset, word in enumerate(words):
            token = self.peek(offset)
            if token is None or token != ("ident", word):
                return False
        self.pos += len(words)
        return True

    def parse(self) -> Callable[[Callable[[list[str]], Any]], bool]:
        if not self.tokens:
            raise BexprSyntaxError("empty filter expression")
        node = self.parse_or()
        if self.peek() is not None:
            raise BexprSyntaxError(f"unexpected {self.peek()[1]!r}")
        return node

    def parse_or(self):
        left = self.parse_and()
        while self.keyword("or"):
            right = self.parse_and()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def parse_and(self):
        left = self.parse_not()
        while self.keyword("and"):
            right = self.parse_not()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def parse_not(self):
        if self.keyword("not"):
            inner = self.parse_not()
            return lambda r: not inner(r)
        if self.peek() and self.peek()[0] == "lparen":
            self.take()
            inner = self.parse_or()
            if self.take()[0] != "rparen":
                raise BexprSyntaxError("Unmatched parentheses")
            return inner
        return self.parse_match()

    def parse_value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return json.loads(text) if text.startswith('"') else text[1:-1]
        if kind in ("number", "ident"):
            return text
        if kind == "lbrack":
            values = []
            while True:
                kind, text = self.take()
                if kind != "string":
                    raise BexprSyntaxError("expected a string in list")
                values.append(json.loads(text) if text.startswith('"') else text[1:-1])
                kind, _ = self.take()
                if kind == "rbrack":
                    return values
                if kind != "comma":
                    raise BexprSyntaxError("expected , or ] in list")
        raise BexprSyntaxError(f"unexpected {text!r}")

    def parse_match(self):
        start = self.peek()
        if start is None:
            raise BexprSyntaxError("unexpected end of expression")
        if start[0] in ("string", "number"):  # "value" in Selector
            value = self.parse_value()
            negate = self.keyword("not")
            if not self.keyword("in"):
                raise BexprSyntaxError("expected in")
            kind, text = self.take()
            if kind != "ident":
                raise BexprSyntaxError("Invalid selector")
            return _bexpr_contains(_selector_path(text), value, negate)
        kind, text = self.take()
        if kind != "ident":
            raise BexprSyntaxError(f"unexpected {text!r}")
        path = _selector_path(text)
        token = self.peek()
        if token and token[0] == "op":
            self.take()
            return _bexpr_equal(path, self.parse_value(), token[1] == "!=")
        if self.keyword("is", "empty"):
            return _bexpr_empty(path, False)
        if self.keyword("is", "not", "empty"):
            return _bexpr_empty(path, True)
        for words, op in (
            (("matches",), "matches"),
            (("not", "matches"), "not matches"),
            (("contains",), "contains"),
            (("not", "contains"), "not contains"),
            (("in",), "in"),
            (("not", "in"), "not in"),
        ):
            if self.keyword(*words):
                value = self.parse_value()
                if op.endswith("matches"):
                    try:
                        pattern = re.compile(str(value))
                    except re.error as exc:
                        raise BexprSyntaxError(f"Invalid regular expression: {exc}") from exc
                    return _bexpr_matches(path, pattern, op.startswith("not"))
                if op.endswith("contains"):
                    return _bexpr_contains(path, value, op.startswith("not"))
                if isinstance(value, list):  # Selector in ["a", "b"]: the selector's value is listed
                    return _bexpr_in_list(path, value, op.startswith("not"))
                # bare-word value in Selector: go-bexpr reads the left side as a raw value
                return _bexpr_contains(_selector_path(str(value)), text, op.startswith("not"))
        raise BexprSyntaxError(f"expected an operator after {text!r}")


def _coerce_equal(actual: Any, expected: Any) -> bool:
    if actual is _MISSING or actual is None:
        return expected == "" if isinstance(expected, str) else False
    if isinstance(actual, bool):
        try:
            return actual == go_parse_bool(str(expected))
        except ValueError:
            return False
    if isinstance(actual, (int, float)):
        try:
            return float(actual) == float(expected)
        except ValueError:
            return False
    return str(actual) == str(expected)


def _bexpr_equal(path, value, negate):
    return lambda resolve: _coerce_equal(resolve(path), value) != negate


def _bexpr_in_list(path, values, negate):
    return lambda resolve: any(_coerce_equal(resolve(path), v) for v in values) != negate


def _bexpr_matches(path, pattern, negate):
    def check(resolve):
        actual = resolve(path)
        found = isinstance(actual, str) and pattern.search(actual) is not None
        return found != negate

    return check


def _bexpr_contains(path, value, negate):
    def check(resolve):
        actual = resolve(path)
        if isinstance(actual, str):
            found = str(value) in actual
        elif isinstance(actual, Mapping):
            found = str(value) in actual
        elif isinstance(actual, (list, tuple)):
            found = any(_coerce_equal(item, value) for item in actual)
        else:
            found = False
        return found != negate

    return check


def _bexpr_empty(path, negate):
    def check(resolve):
        actual = resolve(path)
        empty = actual is None or actual is _MISSING or (hasattr(actual, "__len__") and len(actual) == 0)
        return empty != negate

    return check


def bexpr_compile(expr: str) -> Callable[[Callable[[list[str]], Any]], bool]:
    """Compile a go-bexpr filter; returns ``predicate(resolve)``, raises BexprSyntaxError."""
    return _BexprParser(expr).parse()


def resolve_in(document: Mapping[str, Any], path: list[str]) -> Any:
    """Walk `path` through a rendered JSON object the way go-bexpr walks a Go struct.

    Returns the value, or `_MISSING` for a part absent below the top level (a missing map key never matches);
    raises BexprEvalError for a top-level field the object does not have, as go-bexpr does for struct fields.
    """
    current: Any = document
    for depth, part in enumerate(path):
        if isinstance(current, Mapping):
            if part in current:
                current = current[part]
                continue
            if depth == 0:
                pointer = "/" + "/".join(path)
                raise BexprEvalError(
                    f"error finding value in datum: {pointer} at part {depth}: couldn't find key: "
                    f'struct field with name "{part}"'
                )
            return _MISSING
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
            continue
        return _MISSING
    return current


# ---------------------------------------------------------------------------------------------------------------
# jobs: canonicalisation (defaults), validation and plan diffs
# ---------------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------------
# records: compact in-memory rows, rendered to Nomad's JSON on demand
# ---------------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------------
# state: every table, one lock, raft-like indexes
# ---------------------------------------------------------------------------------------------------------------


_DESIRED_UPDATE_FIELDS = (
    "Ignore",
    "Place",
    "Migrate",
    "Stop",
    "InPlaceUpdate",
    "DestructiveUpdate",
    "Canary",
    "Preemptions",
    "Disconnect",
    "Reconnect",
    "RescheduleNow",
    "RescheduleLater",
)
#: DesiredTGUpdates counters -> the TaskGroupDiff.Updates keys the CLI prints
_UPDATE_LABELS = {
    "Ignore": "ignore",
    "Place": "create",
    "Stop": "destroy",
    "Migrate": "migrate",
    "Canary": "canary",
    "InPlaceUpdate": "in-place update",
    "DestructiveUpdate": "create/destroy update",
}


class _State:
    """All emulated cluster data. Every method expects the caller to hold `lock` (an RLock behind `cond`).

    Writes take the next raft index from `_bump()`, which also records it as the index of the tables the write
    touched, and wake blocking queries through `cond`.
    """

    def __init__(self, region: str, datacenter: str, event_buffer: int = 100):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.region = region
        self.datacenter = datacenter
        self.node_id = _uuid()
        self.node_name = "client-1"
        self.index = 0
        self.table_index = {"jobs": 0, "evals": 0, "allocs": 0, "namespaces": 0}
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.jobs: dict[tuple[str, str], _Job] = {}
        self.children: dict[tuple[str, str], dict[str, None]] = {}
        self.evals: dict[str, _Eval] = {}
        self.evals_by_job: dict[tuple[str, str], list[_Eval]] = {}
        self.allocs: dict[str, _Alloc] = {}
        self.allocs_by_job: dict[tuple[str, str], list[_Alloc]] = {}
        #: every alloc sorted by (CreateIndex, ID): Nomad's list order and the pagination token order
        self.alloc_order: list[_Alloc] = []
        self.logs: dict[str, dict[tuple[str, str], bytearray]] = {}
        #: recent events for /v1/event/stream as (sequence number, event); Nomad keeps a bounded buffer too
        self.events: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=event_buffer)
        self.event_seq = 0
        self.closed = False
        with self.lock:
            self.add_namespace("default", "Default shared namespace")

    # indexes ---------------------------------------------------------------------------------------------------

    def _bump(self, *tables: str) -> int:
        self.index += 1
        self._touch(self.index, *tables)
        return self.index

    def _touch(self, index: int, *tables: str) -> None:
        for table in tables:
            self.table_index[table] = max(self.table_index[table], index)

    def commit(self) -> None:
        """Wake everything waiting on the state (blocking queries, log and event followers)."""
        self.cond.notify_all()

    # events ----------------------------------------------------------------------------------------------------

    def _emit(
        self,
        topic: str,
        kind: str,
        key: str,
        namespace: str,
        index: int,
        payload: dict[str, Any],
        filter_keys: list[str] | None = None,
    ) -> None:
        self.event_seq += 1
        self.events.append(
            (
                self.event_seq,
                {
                    "Topic": topic,
                    "Type": kind,
                    "Key": key,
                    "Namespace": namespace,
                    "FilterKeys": filter_keys,
                    "Index": index,
                    "Payload": payload,
                },
            )
        )

    def emit_job(self, job: _Job, kind: str, index: int) -> None:
        """Buffer a Job-topic event carrying the rendered job."""
        self._emit("Job", kind, job.id, job.namespace, index, {"Job": self.render_job(job)})

    def emit_alloc(self, alloc: _Alloc, kind: str, index: int) -> None:
        """Buffer an Allocation-topic event (the payload's Job is null, as in Nomad)."""
        payload = self.render_alloc(alloc)
        payload["Job"] = None  # Nomad strips the job from allocation events
        self._emit("Allocation", kind, alloc.id, alloc.namespace, index, {"Allocation": payload}, [alloc.job_id, ""])

    # namespaces ------------------------------------------------------------------------------------------------

    def add_namespace(self, name: str, description: str = "") -> None:
        """Create a namespace unless it exists."""
        if name in self.namespaces:
            return
        index = self._bump("namespaces")
        self.namespaces[name] = {
            "Name": name,
            "Description": description,
            "Quota": "",
            "Capabilities": None,
            "NodePoolConfiguration": None,
            "VaultConfiguration": None,
            "ConsulConfiguration": None,
            "Meta": None,
            "CreateIndex": index,
            "ModifyIndex": index,
        }
        self.commit()

    # jobs ------------------------------------------------------------------------------------------------------

    def compute_status(self, job: _Job) -> str:
        """Nomad's job status rule: see BEHAVIOUR.md §1 "Status rule"."""
        if job.stop:
            return "dead"
        if job.is_periodic or (job.parent_id is None and job.is_parameterized):
            return "running"
        allocs = self.allocs_by_job.get(job.key, ())
        if any(not a.terminal for a in allocs):
            return "running"
        evals = self.evals_by_job.get(job.key, ())
        if any(e.status in ("pending", "blocked") for e in evals):
            return "pending"
        return "dead" if allocs or evals else "pending"

    def refresh_status(self, key: tuple[str, str], index: int, cause: str | None = None) -> None:
        """Recompute a job's status; a change is a job write at `index` (ModifyIndex and the jobs table move).

        `cause` is the event type of the write that changed it (Nomad labels job events by their raft message).
        """
        job = self.jobs.get(key)
        if job is None:
            return
        status = self.compute_status(job)
        if status != job.status:
            job.status = status
            job.modify_index = index
            self._touch(index, "jobs")
            if cause:
                self.emit_job(job, cause, index)

    def store_job(self, job: _Job) -> None:
        """Store a job version and index it under its parent."""
        self.jobs[job.key] = job
        parent = job.parent_id if job.parent_id is not None else job.spec.get("ParentID")
        if parent:
            self.children.setdefault((job.namespace, parent), {})[job.id] = None

    def register(
        self,
        raw: Mapping[str, Any],
        namespace: str,
        *,
        enforce_index: bool = False,
        job_modify_index: int = 0,
        eval_priority: int = 0,
    ) -> dict[str, Any]:
        """Register (create or update) a job; returns the JobRegisterResponse, raises NomadEmulatorError (500)."""
        job_id = raw.get("ID")
        if namespace not in self.namespaces:
            raise NomadEmulatorError(500, f'job "{job_id}" is in nonexistent namespace "{namespace}"')
        spec = canonicalize_job(raw, namespace=namespace, region=self.region)
        errors = validate_job(spec)
        if errors:
            raise NomadEmulatorError(500, multierror(errors))
        stop = bool(raw.get("Stop"))
        key = (namespace, spec["ID"])
        existing = self.jobs.get(key)
        if existing is not None:
            message = update_rule_error(existing.view(), spec)
            if message:
                raise NomadEmulatorError(500, message)
        if enforce_index:
            self._check_enforce_index(existing, job_modify_index)
        periodic_like = spec.get("Periodic") is not None or spec.get("ParameterizedJob") is not None
        response = {
            "EvalID": "",
            "EvalCreateIndex": 0,
            "JobModifyIndex": 0,
            "Warnings": "",
            "Index": 0,
            "LastContact": 0,
            "KnownLeader": False,
            "NextToken": "",
        }
        if existing is not None and existing.stop == stop and existing.view() == spec:
            # identical resubmission: the job is not written again
            response["JobModifyIndex"] = existing.job_modify_index
            if not periodic_like and not stop:
                index = self._bump("evals")
                evaluation = self._new_eval(existing, "job-register", index, eval_priority)
                self._place(existing, evaluation)
                response.update(EvalID=evaluation.id, EvalCreateIndex=index, Index=index)
                self.refresh_status(key, self.index, "PlanResult")
            self.commit()
            return response
        index = self._bump("jobs")
        job = _Job(
            namespace=namespace,
            id=spec["ID"],
            spec=spec,
            version=existing.version + 1 if existing else 0,
            stop=stop,
            submit_time=_now_ns(),
            create_index=existing.create_index if existing else index,
            modify_index=index,
            job_modify_index=index,
        )
        self.store_job(job)
        job.status = self.compute_status(job)
        self.emit_job(job, "JobRegistered", index)
        response.update(JobModifyIndex=index, Index=index)
        if not periodic_like:
            self._touch(index, "evals")  # the job and its eval are one raft entry
            evaluation = self._new_eval(job, "job-register", index, eval_priority)
            response.update(EvalID=evaluation.id, EvalCreateIndex=index)
            if not stop:
                self._place(job, evaluation)
            else:
                self._stop_allocs(job.key, index, "alloc not needed due to job update")
        self.refresh_status(key, self.index, "PlanResult")
        self.commit()
        return response

    @staticmethod
    def _check_enforce_index(existing: _Job | None, job_modify_index: int) -> None:
        prefix = f"Enforcing job modify index {job_modify_index}"
        if job_modify_index == 0 and existing is not None:
            raise NomadEmulatorError(500, f"{prefix}: job already exists")
        if job_modify_index != 0 and existing is None:
            raise NomadEmulatorError(500, f"{prefix}: job does not exist")
        if existing is not None and job_modify_index != existing.job_modify_index:
            raise NomadEmulatorError(
                500, f"{prefix}: job exists with conflicting job modify index: {existing.job_modify_index}"
            )

    def plan(self, raw: Mapping[str, Any], namespace: str, want_diff: bool) -> dict[str, Any]:
        """Dry-run a registration; returns the JobPlanResponse, raises NomadEmulatorError (500)."""
        if namespace not in self.namespaces:
            raise NomadEmulatorError(500, f'job "{raw.get("ID")}" is in nonexistent namespace "{namespace}"')
        spec = canonicalize_job(raw, namespace=namespace, region=self.region)
        errors = validate_job(spec)
        if errors:
            raise NomadEmulatorError(500, multierror(errors))
        existing = self.jobs.get((namespace, spec["ID"]))
        old_spec = None
        if existing is not None:
            message = update_rule_error(existing.view(), spec)
            if message:
                raise NomadEmulatorError(500, message)
            old_spec = {**existing.view(), "Stop": existing.stop}
        diff = job_diff(old_spec, {**spec, "Stop": bool(raw.get("Stop"))})
        updates: dict[str, dict[str, int]] = {}
        group_diffs = {g["Name"]: g for g in diff["TaskGroups"] or []}
        live = [
            a
            for a in self.allocs_by_job.get((namespace, spec["ID"]), ())
            if a.client_status != "failed" and a.client_status != "lost" and a.desired_status == "run"
        ]
        for group in spec["TaskGroups"]:
            mine = [a for a in live if a.task_group == group["Name"]]
            changed = group_diffs.get(group["Name"], {}).get("Type") == "Edited"
            running = [a for a in mine if not a.terminal]
            counts = dict.fromkeys(_DESIRED_UPDATE_FIELDS, 0)
            counts["Place"] = max(group["Count"] - len(mine), 0)
            if changed:
                counts["DestructiveUpdate"] = min(len(running), group["Count"])
                counts["Ignore"] = min(len(mine) - len(running), group["Count"])
            else:
                counts["Ignore"] = min(len(mine), group["Count"])
            updates[group["Name"]] = counts
        for name, group_diff in group_diffs.items():
            if name in updates:
                counts = updates[name]
                group_diff["Updates"] = {label: counts[k] for k, label in _UPDATE_LABELS.items() if counts[k]} or None
        next_launch = None
        periodic = spec.get("Periodic")
        if periodic and periodic.get("Enabled") and not raw.get("Stop"):
            moment = periodic_next(periodic, datetime.now(UTC))
            if moment is not None:
                next_launch = rfc3339nano(int(moment.timestamp()) * SECOND, moment.tzinfo)
        return {
            "Annotations": {"DesiredTGUpdates": updates, "PreemptedAllocs": None},
            "FailedTGAllocs": None,
            "JobModifyIndex": existing.job_modify_index if existing else 0,
            "CreatedEvals": None,
            "Diff": diff if want_diff else None,
            "NextPeriodicLaunch": next_launch,
            "Warnings": "",
            "Index": 0,
        }

    def deregister(self, namespace: str, job_id: str, purge: bool, eval_priority: int = 0) -> dict[str, Any]:
        """Stop (or purge) a job; returns the JobDeregisterResponse. A missing job is not an error."""
        response = {
            "EvalID": "",
            "EvalCreateIndex": 0,
            "JobModifyIndex": 0,
            "VolumeEvalID": "",
            "VolumeEvalIndex": 0,
            "Index": 0,
            "LastContact": 0,
            "KnownLeader": False,
            "NextToken": "",
        }
        key = (namespace, job_id)
        job = self.jobs.get(key)
        if job is None:
            return response
        index = self._bump("jobs")
        if purge:
            del self.jobs[key]
            parent = job.parent_id if job.parent_id is not None else job.spec.get("ParentID")
            if parent:
                self.children.get((namespace, parent), {}).pop(job_id, None)
        else:
            stopped = _Job(
                namespace=namespace,
                id=job_id,
                spec=job.spec,
                version=job.version + 1,
                stop=True,
                submit_time=_now_ns(),
                create_index=job.create_index,
                modify_index=index,
                job_modify_index=index,
                status=job.status,
                parent_id=job.parent_id,
                launch_time=job.launch_time,
            )
            self.store_job(stopped)
            stopped.status = self.compute_status(stopped)
        self.emit_job(self.jobs.get(key, job), "JobDeregistered", index)
        response.update(EvalCreateIndex=index, JobModifyIndex=index, Index=index)
        if not (job.is_periodic or (job.parent_id is None and job.is_parameterized)):
            self._touch(index, "evals")
            evaluation = self._new_eval(job, "job-deregister", index, eval_priority)
            response["EvalID"] = evaluation.id
            self._stop_allocs(key, index, "alloc not needed due to job update")
        self.refresh_status(key, index, "JobDeregistered")
        self.commit()
        return response

    def _stop_allocs(self, key: tuple[str, str], index: int, reason: str) -> None:
        """Mark a job's allocs desired-stop; the client then kills the running ones (they end `complete`)."""
        now = _now_ns()
        for alloc in self.allocs_by_job.get(key, ()):
            if alloc.desired_status == "stop":
                continue
            alloc.desired_status, alloc.desired_description = "stop", reason
            alloc.alloc_modify_index = alloc.modify_index = index
            alloc.modify_time = now
            alloc.stub_json = None
            if not alloc.terminal:
                for state in (alloc.task_states or {}).values():
                    if state.state != "dead":
                        state.add("Killing", now, _EV_KILLING)
                        state.add("Killed", now + 1_000_000, _EV_KILLED)
                        state.state, state.finished_at = "dead", now + 1_000_000
                alloc.client_status, alloc.client_description = "complete", "All tasks have completed"
            self.emit_alloc(alloc, "AllocationUpdateDesiredStatus", index)
        self._touch(index, "allocs")

    # periodic launches -----------------------------------------------------------------------------------------

    def force(self, namespace: str, job_id: str) -> dict[str, Any]:
        """Force a periodic launch now; returns PeriodicForceResponse, raises NomadEmulatorError (500)."""
        job = self.jobs.get((namespace, job_id))
        if job is None:
            raise NomadEmulatorError(500, "job not found")
        if not job.is_periodic:
            raise NomadEmulatorError(500, "can't force launch non-periodic job")
        if job.stop or not job.spec["Periodic"].get("Enabled"):
            raise NomadEmulatorError(
                500,
                f'force launch for job "{job_id}" failed: can\'t force run non-tracked job "{job_id}" ({namespace})',
            )
        child, evaluation = self.derive_child(job, int(time.time()))
        return {"EvalID": evaluation.id, "EvalCreateIndex": evaluation.create_index, "Index": evaluation.create_index}

    def dispatch(self, namespace: str, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Dispatch ``<parent>/dispatch-<unix>-<8 hex>`` of a parameterized job; returns JobDispatchResponse."""
        job = self.jobs.get((namespace, job_id))
        if job is None:
            raise NomadEmulatorError(500, "parameterized job not found")
        if not job.is_parameterized:
            raise NomadEmulatorError(500, f'Specified job "{job_id}" is not a parameterized job')
        if job.stop:
            raise NomadEmulatorError(500, f'Specified job "{job_id}" is stopped')
        payload = body.get("Payload") or None
        rule = (job.spec.get("ParameterizedJob") or {}).get("Payload") or "optional"
        if payload and rule == "forbidden":
            raise NomadEmulatorError(500, "Payload is not allowed")
        if not payload and rule == "required":
            raise NomadEmulatorError(500, "Payload is not provided but required")
        now = int(time.time())
        child_id = f"{job.id}/dispatch-{now}-{_uuid()[:8]}"
        index = self._bump("jobs", "evals")
        meta = {**(job.spec.get("Meta") or {}), **(body.get("Meta") or {})}
        spec = dict(job.spec, ParameterizedJob=None, Dispatched=True, Payload=payload, Meta=meta or None)
        child = _Job(
            namespace=namespace,
            id=child_id,
            spec=spec,
            version=0,
            stop=False,
            submit_time=_now_ns(),
            create_index=index,
            modify_index=index,
            job_modify_index=index,
            parent_id=job.id,
            launch_time=now,
        )
        self.store_job(child)
        child.status = self.compute_status(child)
        self.emit_job(child, "JobRegistered", index)
        evaluation = self._new_eval(child, "job-register", index, 0)
        self._place(child, evaluation)
        self.refresh_status(child.key, self.index, "PlanResult")
        self.commit()
        return {
            "Index": evaluation.create_index,
            "JobCreateIndex": index,
            "EvalCreateIndex": evaluation.create_index,
            "EvalID": evaluation.id,
            "DispatchedJobID": child_id,
        }

    def derive_child(self, parent: _Job, launch: int) -> tuple[_Job, _Eval]:
        """Create (or update) ``<parent>/periodic-<launch>`` with an eval and placed allocs; returns both."""
        child_id = f"{parent.id}/periodic-{launch}"
        key = (parent.namespace, child_id)
        existing = self.jobs.get(key)
        index = self._bump("jobs", "evals")
        if existing is None or existing.spec is not parent.spec or existing.stop:
            job = _Job(
                namespace=parent.namespace,
                id=child_id,
                spec=parent.spec,
                version=existing.version + 1 if existing else 0,
                stop=False,
                submit_time=_now_ns(),
                create_index=existing.create_index if existing else index,
                modify_index=index,
                job_modify_index=index,
                parent_id=parent.id,
                launch_time=launch,
            )
            self.store_job(job)
            job.status = self.compute_status(job)
            self.emit_job(job, "JobRegistered", index)
        else:
            job = existing
        evaluation = self._new_eval(job, "periodic-job", index, 0)
        self._place(job, evaluation)
        self.refresh_status(key, self.index, "PlanResult")
        self.commit()
        return job, evaluation

    def last_launch(self, parent: _Job) -> int:
        """Return the newest child launch time (Unix seconds) of a periodic parent, 0 without children."""
        ids = self.children.get(parent.key, {})
        times = [self.jobs[(parent.namespace, c)].launch_time for c in ids if (parent.namespace, c) in self.jobs]
        return max(times, default=0)

    def running_children(self, parent: _Job) -> bool:
        """Return True when a child of the parent is not dead (what ProhibitOverlap checks)."""
        for child_id in self.children.get(parent.key, {}):
            child = self.jobs.get((parent.namespace, child_id))
            if child is not None and child.status != "dead":
                return True
        return False

    # evals and allocs ------------------------------------------------------------------------------------------

    def _new_eval(self, job: _Job, triggered_by: str, index: int, priority: int) -> _Eval:
        now = _now_ns()
        evaluation = _Eval(
            id=_uuid(),
            namespace=job.namespace,
            job_id=job.id,
            job_type=job.spec["Type"],
            priority=priority or job.spec["Priority"],
            triggered_by=triggered_by,
            job_modify_index=job.job_modify_index,
            create_index=index,
            modify_index=index,
            create_time=now,
            modify_time=now,
            status="complete",
            queued={g["Name"]: 0 for g in job.spec.get("TaskGroups") or []},
        )
        self.evals[evaluation.id] = evaluation
        self.evals_by_job.setdefault(job.key, []).append(evaluation)
        self._touch(index, "evals")
        return evaluation

    def _place(self, job: _Job, evaluation: _Eval) -> list[_Alloc]:
        """Place one alloc per group count, as the scheduler would, unless the job still has wanted allocs.

        Allocs of a stopped job (desired ``stop``) do not count, so re-running a stopped job places new ones;
        a batch alloc that completed does count, as the batch scheduler never re-runs successful work.
        """
        if any(a.desired_status == "run" for a in self.allocs_by_job.get(job.key, ())):
            return []
        groups = job.spec.get("TaskGroups") or []
        if not any(g["Count"] for g in groups):
            return []
        index = self._bump("allocs", "evals")
        evaluation.modify_index = index
        evaluation.modify_time = _now_ns()
        placed = [
            self._new_alloc(job, evaluation.id, group["Name"], i, index, _now_ns())
            for group in groups
            for i in range(group["Count"])
        ]
        self._insert_allocs(placed)
        for alloc in placed:
            self.emit_alloc(alloc, "PlanResult", index)
        return placed

    def _new_alloc(self, job: _Job, eval_id: str, group: str, number: int, index: int, created: int) -> _Alloc:
        return _Alloc(
            id=_uuid(),
            namespace=job.namespace,
            eval_id=eval_id,
            name=f"{job.id}.{group}[{number}]",
            job_id=job.id,
            job=job,
            task_group=group,
            create_index=index,
            modify_index=index,
            alloc_modify_index=index,
            create_time=created,
            modify_time=created,
            node_id=self.node_id,
            node_name=self.node_name,
        )

    def _insert_allocs(self, allocs: list[_Alloc]) -> None:
        allocs.sort(key=lambda a: a.order_key)
        if self.alloc_order and allocs and allocs[0].order_key < self.alloc_order[-1].order_key:
            for alloc in allocs:  # only when callers create allocs out of index order
                bisect.insort(self.alloc_order, alloc, key=lambda a: a.order_key)
        else:
            self.alloc_order.extend(allocs)
        for alloc in allocs:
            self.allocs[alloc.id] = alloc
            self.allocs_by_job.setdefault((alloc.namespace, alloc.job_id), []).append(alloc)

    def alloc_changed(self, alloc: _Alloc) -> int:
        """Record a client-side update of `alloc`; returns its new ModifyIndex."""
        index = self._bump("allocs")
        alloc.modify_index = index
        alloc.modify_time = _now_ns()
        alloc.stub_json = None
        self.emit_alloc(alloc, "AllocationUpdated", index)
        self.refresh_status((alloc.namespace, alloc.job_id), index, "AllocationUpdated")
        self.commit()
        return index

    def gc(self, job_id: str | None, namespace: str | None) -> list[str]:
        """Garbage-collect dead jobs with their evals, allocs and logs; returns the removed job IDs."""
        doomed = [
            job
            for job in self.jobs.values()
            if job.status == "dead"
            and (namespace is None or job.namespace == namespace)
            and (job_id is None or job.id == job_id or (job.parent_id or job.spec.get("ParentID")) == job_id)
        ]
        doomed_keys = {job.key for job in doomed}
        for job in doomed:
            del self.jobs[job.key]
            parent = job.parent_id if job.parent_id is not None else job.spec.get("ParentID")
            if parent:
                self.children.get((job.namespace, parent), {}).pop(job.id, None)
            if not self.children.get(job.key):
                self.children.pop(job.key, None)
        gone_allocs = [
            a
            for a in self.allocs.values()
            if (a.namespace, a.job_id) in doomed_keys
            or (
                job_id is None
                and a.terminal
                and (a.namespace, a.job_id) not in self.jobs
                and (namespace is None or a.namespace == namespace)
            )
        ]
        gone_evals = [
            e
            for e in self.evals.values()
            if (e.namespace, e.job_id) in doomed_keys
            or (
                job_id is None
                and (e.namespace, e.job_id) not in self.jobs
                and (namespace is None or e.namespace == namespace)
            )
        ]
        if not doomed and not gone_allocs and not gone_evals:
            return []
        tables = ["jobs"] if doomed else []
        tables += ["allocs"] if gone_allocs else []
        tables += ["evals"] if gone_evals else []
        index = self._bump(*tables)
        for job in doomed:
            self.emit_job(job, "JobBatchDeregistered", index)
        for alloc in gone_allocs:
            del self.allocs[alloc.id]
            self.logs.pop(alloc.id, None)
            siblings = self.allocs_by_job.get((alloc.namespace, alloc.job_id))
            if siblings is not None:
                siblings.remove(alloc)
                if not siblings:
                    del self.allocs_by_job[(alloc.namespace, alloc.job_id)]
        if gone_allocs:
            gone_ids = {a.id for a in gone_allocs}
            self.alloc_order = [a for a in self.alloc_order if a.id not in gone_ids]
        for evaluation in gone_evals:
            del self.evals[evaluation.id]
            siblings = self.evals_by_job.get((evaluation.namespace, evaluation.job_id))
            if siblings is not None:
                siblings.remove(evaluation)
                if not siblings:
                    del self.evals_by_job[(evaluation.namespace, evaluation.job_id)]
        self.commit()
        return [job.id for job in doomed]

    # rendering -------------------------------------------------------------------------------------------------

    def render_job(self, job: _Job) -> dict[str, Any]:
        """Render a job as ``GET /v1/job/:id`` does."""
        spec = job.view()
        server = {
            "Stop": job.stop,
            "Status": job.status,
            "StatusDescription": "",
            "Stable": False,
            "Version": job.version,
            "SubmitTime": job.submit_time,
            "CreateIndex": job.create_index,
            "ModifyIndex": job.modify_index,
            "JobModifyIndex": job.job_modify_index,
        }
        return {key: server[key] if key in server else spec.get(key) for key in JOB_FIELDS}

    def job_summary(self, job: _Job) -> dict[str, Any]:
        """Return the JobSummary: per-group alloc counts and, for parents, children by status."""
        summary = {
            g["Name"]: {"Queued": 0, "Complete": 0, "Failed": 0, "Running": 0, "Starting": 0, "Lost": 0, "Unknown": 0}
            for g in job.spec.get("TaskGroups") or []
        }
        modify = job.create_index
        for alloc in self.allocs_by_job.get(job.key, ()):
            counts = summary.setdefault(
                alloc.task_group,
                {"Queued": 0, "Complete": 0, "Failed": 0, "Running": 0, "Starting": 0, "Lost": 0, "Unknown": 0},
            )
            bucket = {
                "pending": "Starting",
                "running": "Running",
                "complete": "Complete",
                "failed": "Failed",
                "lost": "Lost",
                "unknown": "Unknown",
            }[alloc.client_status]
            counts[bucket] += 1
            modify = max(modify, alloc.modify_index)
        children = {"Pending": 0, "Running": 0, "Dead": 0}
        for child_id in self.children.get(job.key, {}):
            child = self.jobs.get((job.namespace, child_id))
            if child is not None:
                children[child.status.capitalize()] = children.get(child.status.capitalize(), 0) + 1
                modify = max(modify, child.modify_index)
        return {
            "JobID": job.id,
            "Namespace": job.namespace,
            "Summary": summary,
            "Children": children,
            "CreateIndex": job.create_index,
            "ModifyIndex": max(modify, job.modify_index),
        }

    def job_stub(self, job: _Job, with_meta: bool) -> dict[str, Any]:
        """Render a JobListStub (Periodic/ParameterizedJob as booleans, Meta only when asked and set)."""
        spec = job.view()
        stub = {
            "ID": job.id,
            "ParentID": spec.get("ParentID") or "",
            "Name": spec["Name"],
            "Namespace": job.namespace,
            "Datacenters": spec["Datacenters"],
            "NodePool": spec["NodePool"],
            "Multiregion": spec.get("Multiregion"),
            "Type": spec["Type"],
            "Priority": spec["Priority"],
            "Periodic": spec.get("Periodic") is not None,
            "ParameterizedJob": spec.get("ParameterizedJob") is not None,
            "Stop": job.stop,
            "Status": job.status,
            "StatusDescription": "",
            "JobSummary": self.job_summary(job),
            "CreateIndex": job.create_index,
            "ModifyIndex": job.modify_index,
            "JobModifyIndex": job.job_modify_index,
            "SubmitTime": job.submit_time,
        }
        if with_meta and spec.get("Meta"):
            stub["Meta"] = spec["Meta"]
        return stub

    def render_eval(self, evaluation: _Eval) -> dict[str, Any]:
        """Render a full Evaluation."""
        return {
            "ID": evaluation.id,
            "Namespace": evaluation.namespace,
            "Priority": evaluation.priority,
            "Type": evaluation.job_type,
            "TriggeredBy": evaluation.triggered_by,
            "JobID": evaluation.job_id,
            "JobModifyIndex": evaluation.job_modify_index,
            "NodeID": "",
            "NodeModifyIndex": 0,
            "DeploymentID": "",
            "Status": evaluation.status,
            "StatusDescription": "",
            "Wait": 0,
            "WaitUntil": None,
            "NextEval": "",
            "PreviousEval": "",
            "BlockedEval": "",
            "RelatedEvals": None,
            "FailedTGAllocs": None,
            "ClassEligibility": None,
            "QuotaLimitReached": "",
            "EscapedComputedClass": False,
            "AnnotatePlan": False,
            "QueuedAllocations": dict(evaluation.queued or {}),
            "LeaderACL": "",
            "SnapshotIndex": evaluation.create_index,
            "CreateIndex": evaluation.create_index,
            "ModifyIndex": evaluation.modify_index,
            "CreateTime": evaluation.create_time,
            "ModifyTime": evaluation.modify_time,
        }

    @staticmethod
    def render_task_states(alloc: _Alloc) -> dict[str, Any] | None:
        """Render TaskStates (null until the client has reported the alloc)."""
        if alloc.task_states is None:
            return None
        return {
            name: {
                "State": ts.state,
                "Failed": ts.failed,
                "Restarts": ts.restarts,
                "LastRestart": rfc3339nano(ts.last_restart),
                "StartedAt": rfc3339nano(ts.started_at),
                "FinishedAt": rfc3339nano(ts.finished_at),
                "Events": [render_event(e) for e in ts.events],
            }
            for name, ts in alloc.task_states.items()
        }

    def allocated_resources(self, alloc: _Alloc) -> dict[str, Any]:
        """Render AllocatedResources from the alloc's group spec."""
        group = alloc.group_spec()
        tasks = {}
        for task in group.get("Tasks") or []:
            resources = task.get("Resources") or {}
            tasks[task["Name"]] = {
                "Cpu": {"CpuShares": resources.get("CPU", 0), "ReservedCores": None},
                "Memory": {"MemoryMB": resources.get("MemoryMB", 0), "MemoryMaxMB": resources.get("MemoryMaxMB", 0)},
                "Networks": None,
                "Devices": None,
            }
        return {
            "Tasks": tasks,
            "TaskLifecycles": {name: None for name in tasks},
            "Shared": {"Networks": None, "DiskMB": (group.get("EphemeralDisk") or {}).get("SizeMB", 0), "Ports": None},
        }

    def alloc_stub(self, alloc: _Alloc, task_states: bool = True, resources: bool = False) -> dict[str, Any]:
        """Render an AllocListStub; `task_states`/`resources` follow the query parameters."""
        stub = {
            "ID": alloc.id,
            "EvalID": alloc.eval_id,
            "Name": alloc.name,
            "Namespace": alloc.namespace,
            "NodeID": alloc.node_id,
            "NodeName": alloc.node_name,
            "JobID": alloc.job_id,
            "JobType": alloc.job.spec["Type"],
            "JobVersion": alloc.job.version,
            "TaskGroup": alloc.task_group,
        }
        if resources:
            stub["AllocatedResources"] = self.allocated_resources(alloc)
        stub.update(
            {
                "DesiredStatus": alloc.desired_status,
                "DesiredDescription": alloc.desired_description,
                "ClientStatus": alloc.client_status,
                "ClientDescription": alloc.client_description,
                "DesiredTransition": {
                    "Migrate": None,
                    "Reschedule": None,
                    "ForceReschedule": None,
                    "NoShutdownDelay": None,
                    "MigrateDisablePlacement": None,
                },
                "TaskStates": self.render_task_states(alloc) if task_states else None,
                "DeploymentStatus": None,
                "FollowupEvalID": "",
                "NextAllocation": "",
                "RescheduleTracker": None,
                "PreemptedAllocations": None,
                "PreemptedByAllocation": "",
                "CreateIndex": alloc.create_index,
                "ModifyIndex": alloc.modify_index,
                "CreateTime": alloc.create_time,
                "ModifyTime": alloc.modify_time,
            }
        )
        return stub

    def alloc_stub_json(self, alloc: _Alloc) -> bytes:
        """Return ``_compact_json(alloc_stub(alloc))`` (task states, no resources), rendered once per change.

        Listing 100,000 allocations would otherwise build and encode every stub on each page; the stub is written
        from fragments instead (the emulator's tests check it against `alloc_stub`, field for field).
        """
        rendered = alloc.stub_json
        if rendered is None:
            text = (
                f'{{"ID":{_json_str(alloc.id)},"EvalID":{_json_str(alloc.eval_id)},"Name":{_json_str(alloc.name)},'
                f'"Namespace":{_json_str(alloc.namespace)},"NodeID":{_json_str(alloc.node_id)},'
                f'"NodeName":{_json_str(alloc.node_name)},"JobID":{_json_str(alloc.job_id)},'
                f'"JobType":{_json_str(alloc.job.spec["Type"])},"JobVersion":{int(alloc.job.version)},'
                f'"TaskGroup":{_json_str(alloc.task_group)},"DesiredStatus":{_json_str(alloc.desired_status)},'
                f'"DesiredDescription":{_json_str(alloc.desired_description)},'
                f'"ClientStatus":{_json_str(alloc.client_status)},'
                f'"ClientDescription":{_json_str(alloc.client_description)},'
                '"DesiredTransition":{"Migrate":null,"Reschedule":null,"ForceReschedule":null,"NoShutdownDelay":null,'
                '"MigrateDisablePlacement":null},'
                f'"TaskStates":{_task_states_json(alloc.task_states)},"DeploymentStatus":null,"FollowupEvalID":"",'
                '"NextAllocation":"","RescheduleTracker":null,"PreemptedAllocations":null,"PreemptedByAllocation":"",'
                f'"CreateIndex":{int(alloc.create_index)},"ModifyIndex":{int(alloc.modify_index)},'
                f'"CreateTime":{int(alloc.create_time)},"ModifyTime":{int(alloc.modify_time)}}}'
            )
            rendered = alloc.stub_json = text.encode()
        return rendered

    def render_alloc(self, alloc: _Alloc) -> dict[str, Any]:
        """Render a full Allocation, with a copy of its job."""
        job = self.render_job(alloc.job)
        current = self.jobs.get((alloc.namespace, alloc.job_id))
        job["Status"] = current.status if current is not None else job["Status"]
        return {
            "ID": alloc.id,
            "Namespace": alloc.namespace,
            "EvalID": alloc.eval_id,
            "Name": alloc.name,
            "NodeID": alloc.node_id,
            "NodeName": alloc.node_name,
            "JobID": alloc.job_id,
            "Job": job,
            "TaskGroup": alloc.task_group,
            "Resources": None,
            "SharedResources": None,
            "TaskResources": None,
            "AllocatedResources": self.allocated_resources(alloc),
            "Metrics": {
                "NodesEvaluated": 1,
                "NodesFiltered": 0,
                "NodesInPool": 1,
                "NodesAvailable": {self.datacenter: 1},
                "ClassFiltered": None,
                "ConstraintFiltered": None,
                "NodesExhausted": 0,
                "ClassExhausted": None,
                "DimensionExhausted": None,
                "QuotaExhausted": None,
                "ResourcesExhausted": None,
                "ScoreMetaData": None,
                "AllocationTime": 125000,
                "CoalescedFailures": 0,
            },
            "DesiredStatus": alloc.desired_status,
            "DesiredDescription": alloc.desired_description,
            "DesiredTransition": {
                "Migrate": None,
                "Reschedule": None,
                "ForceReschedule": None,
                "NoShutdownDelay": None,
                "MigrateDisablePlacement": None,
            },
            "ClientStatus": alloc.client_status,
            "ClientDescription": alloc.client_description,
            "TaskStates": self.render_task_states(alloc),
            "AllocStates": None,
            "PreviousAllocation": "",
            "NextAllocation": "",
            "DeploymentID": "",
            "DeploymentStatus": None,
            "RescheduleTracker": None,
            "NetworkStatus": None,
            "FollowupEvalID": "",
            "PreemptedAllocations": None,
            "PreemptedByAllocation": "",
            "SigningKeyID": "",
            "CreateIndex": alloc.create_index,
            "ModifyIndex": alloc.modify_index,
            "AllocModifyIndex": alloc.alloc_modify_index,
            "CreateTime": alloc.create_time,
            "ModifyTime": alloc.modify_time,
        }

    def alloc_resolver(self, alloc: _Alloc) -> Callable[[list[str]], Any]:
        """Return a bexpr resolver for `alloc`: plain fields directly, anything else through the full JSON."""
        rendered: list[dict[str, Any]] = []

        def resolve(path: list[str]) -> Any:
            if len(path) == 1 and path[0] in _ALLOC_ATTRIBUTES:
                return getattr(alloc, _ALLOC_ATTRIBUTES[path[0]])
            if not rendered:
                rendered.append(self.render_alloc(alloc))
            return resolve_in(rendered[0], path)

        return resolve

    # client side: task lifecycles ------------------------------------------------------------------------------

    @staticmethod
    def _task_names(alloc: _Alloc, task: str | None) -> list[str]:
        names = [t["Name"] for t in alloc.group_spec().get("Tasks") or []]
        if task is None:
            return names
        if task not in names:
            raise KeyError(f"alloc {alloc.id} has no task {task!r} (tasks: {names})")
        return [task]

    @staticmethod
    def _receive(alloc: _Alloc, names: list[str], at: int) -> None:
        if alloc.task_states is None:
            alloc.task_states = {}
        for name in names:
            if name not in alloc.task_states:
                state = alloc.task_states[name] = _TaskState()
                state.add("Received", at, _EV_RECEIVED)
                state.add("Task Setup", at + 100_000_000, _EV_SETUP)

    @staticmethod
    def _start(state: _TaskState, at: int) -> None:
        if state.state == "pending":
            state.add("Started", at, _EV_STARTED)
            state.state, state.started_at = "running", at

    @staticmethod
    def _finish(
        state: _TaskState,
        at: int,
        failed: bool,
        exit_code: int,
        *,
        signal: int = 0,
        message: str = "",
        oom: bool = False,
        restarts: int = 0,
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        policy = policy or _RESTART_DEFAULTS["batch"]
        if restarts:
            # squeeze the failed attempts between the last event and `at`, keeping events in time order
            since = state.events[-1][1] if state.events else at - SECOND
            slot = max((at - since) // (restarts + 1), 3)
            for attempt in range(restarts):
                moment = since + slot * (attempt + 1)
                state.add("Terminated", moment - 2, _terminated_extras(exit_code or 1))
                state.add("Restarting", moment - 1, _restarting_extras(policy.get("Delay", 0)))
                state.add("Started", moment, _EV_STARTED)
                state.restarts += 1
                state.last_restart = moment - 1
        state.add("Terminated", at, _terminated_extras(exit_code, signal, message, oom))
        if failed:
            state.add("Not Restarting", at + 1_000_000, _not_restarting_extras(policy))
        state.state, state.failed, state.finished_at = "dead", failed, at + 2_000_000

    @staticmethod
    def _settle(alloc: _Alloc) -> None:
        """Derive the alloc's ClientStatus from its task states, as the client reports it."""
        states = list((alloc.task_states or {}).values())
        if states and all(s.state == "dead" for s in states):
            if any(s.failed for s in states):
                alloc.client_status, alloc.client_description = "failed", "Failed tasks"
            else:
                alloc.client_status, alloc.client_description = "complete", "All tasks have completed"
        elif any(s.state != "pending" for s in states):
            alloc.client_status, alloc.client_description = "running", "Tasks are running"
        else:
            alloc.client_status, alloc.client_description = "pending", "No tasks have started"

    def alloc_run(self, alloc: _Alloc, task: str | None) -> None:
        """Client side: receive the alloc and start its tasks (or one); the alloc becomes running."""
        names = self._task_names(alloc, task)
        now = _now_ns()
        self._receive(alloc, self._task_names(alloc, None), now - 500_000_000)
        for name in names:
            self._start(alloc.task_states[name], now)
        self._settle(alloc)
        self.alloc_changed(alloc)

    def alloc_finish(
        self,
        alloc: _Alloc,
        status: str,
        task: str | None,
        exit_code: int | None,
        *,
        signal: int = 0,
        message: str = "",
        oom: bool = False,
        restarts: int = 0,
    ) -> None:
        """Client side: end tasks with `status` (complete/failed) or mark the alloc lost."""
        if status not in ("complete", "failed", "lost"):
            raise ValueError(f"status must be complete, failed or lost, not {status!r}")
        now = _now_ns()
        if status == "lost":
            alloc.client_status = "lost"
            alloc.client_description = "alloc is lost since its node is down"
            alloc.desired_status, alloc.desired_description = "stop", "alloc is lost since its node is down"
            alloc.alloc_modify_index = self.index + 1
            self.alloc_changed(alloc)
            return
        names = self._task_names(alloc, task)
        self._receive(alloc, self._task_names(alloc, None), now - 2 * SECOND)
        failed = status == "failed"
        code = (1 if failed else 0) if exit_code is None else exit_code
        group_restart = alloc.group_spec().get("RestartPolicy")
        for name in names:
            state = alloc.task_states[name]
            self._start(state, now - SECOND)
            if state.state != "dead":
                self._finish(
                    state,
                    now,
                    failed,
                    code,
                    signal=signal,
                    message=message,
                    oom=oom,
                    restarts=restarts,
                    policy=group_restart,
                )
        if failed:
            for state in alloc.task_states.values():
                if state.state != "dead":  # a failed task takes its siblings down with it
                    state.add(
                        "Sibling Task Failed",
                        now + 1_000_000,
                        {
                            "FailedSibling": names[0],
                            "DisplayMessage": f'Task\'s sibling "{names[0]}" failed',
                            "Details": {"failed_sibling": names[0]},
                        },
                    )
                    state.add("Killing", now + 2_000_000, _EV_KILLING)
                    state.add("Killed", now + 3_000_000, _EV_KILLED)
                    state.state, state.finished_at = "dead", now + 3_000_000
        self._settle(alloc)
        self.alloc_changed(alloc)

    def append_log(self, alloc: _Alloc, task: str, stream: str, data: bytes) -> None:
        """Append bytes to a task's stdout/stderr and wake log followers."""
        if stream not in ("stdout", "stderr"):
            raise ValueError("stream must be stdout or stderr")
        self._task_names(alloc, task)
        self.logs.setdefault(alloc.id, {}).setdefault((task, stream), bytearray()).extend(data)
        self.commit()

    # bulk history ----------------------------------------------------------------------------------------------

    def seed_runs(
        self, parent: _Job, times: list[int], status: str, *, exit_code: int | None, stdout: bytes, stderr: bytes
    ) -> list[str]:
        """Create finished (or pending/running) periodic children in bulk; returns their IDs.

        Each run is one raft index: child job, eval and allocs together. No scans: O(runs * allocs per run).
        """
        if status not in ("pending", "running", "complete", "failed", "lost"):
            raise ValueError(f"unknown status {status!r}")
        groups = parent.spec.get("TaskGroups") or []
        failed = status == "failed"
        code = (1 if failed else 0) if exit_code is None else exit_code
        children = self.children.setdefault(parent.key, {})
        created: list[str] = []
        new_allocs: list[_Alloc] = []
        collecting = gc.isenabled()
        gc.disable()  # creating 100k rows of small objects triggers many useless cyclic collections
        try:
            self._seed_loop(parent, times, status, groups, failed, code, stdout, stderr, children, created, new_allocs)
        finally:
            if collecting:
                gc.enable()
        # seeded allocs carry fresh, increasing indexes, so they always belong at the end
        self.alloc_order.extend(new_allocs)
        self.commit()
        return created

    def _seed_loop(
        self,
        parent: _Job,
        times: list[int],
        status: str,
        groups: list[dict[str, Any]],
        failed: bool,
        code: int,
        stdout: bytes,
        stderr: bytes,
        children: dict[str, None],
        created: list[str],
        new_allocs: list[_Alloc],
    ) -> None:
        for launch in times:
            if (parent.namespace, f"{parent.id}/periodic-{launch}") in self.jobs:
                raise ValueError(f"{parent.id}/periodic-{launch} exists already; seed runs at other times")
            index = self._bump("jobs", "evals", "allocs")
            base = launch * SECOND
            child_id = f"{parent.id}/periodic-{launch}"
            job = _Job(
                namespace=parent.namespace,
                id=child_id,
                spec=parent.spec,
                version=0,
                stop=False,
                submit_time=base,
                create_index=index,
                modify_index=index,
                job_modify_index=index,
                parent_id=parent.id,
                launch_time=launch,
            )
            self.jobs[job.key] = job
            children[child_id] = None
            evaluation = _Eval(
                id=_uuid(),
                namespace=job.namespace,
                job_id=child_id,
                job_type=parent.spec["Type"],
                priority=parent.spec["Priority"],
                triggered_by="periodic-job",
                job_modify_index=index,
                create_index=index,
                modify_index=index,
                create_time=base,
                modify_time=base,
                queued={g["Name"]: 0 for g in groups},
            )
            self.evals[evaluation.id] = evaluation
            self.evals_by_job[job.key] = [evaluation]
            allocs = []
            for group in groups:
                for number in range(group["Count"]):
                    alloc = self._new_alloc(job, evaluation.id, group["Name"], number, index, base + 50_000_000)
                    self._seed_states(alloc, group, status, base, failed, code)
                    alloc.modify_time = base + 6 * SECOND if status != "pending" else alloc.create_time
                    allocs.append(alloc)
                    if stdout or stderr:
                        for task in group.get("Tasks") or []:
                            if stdout:
                                self.logs.setdefault(alloc.id, {})[(task["Name"], "stdout")] = bytearray(stdout)
                            if stderr:
                                self.logs.setdefault(alloc.id, {})[(task["Name"], "stderr")] = bytearray(stderr)
            allocs.sort(key=lambda a: a.order_key)
            new_allocs.extend(allocs)
            for alloc in allocs:
                self.allocs[alloc.id] = alloc
            if allocs:
                self.allocs_by_job[job.key] = allocs
            job.status = self.compute_status(job)
            created.append(child_id)

    def _seed_states(
        self, alloc: _Alloc, group: Mapping[str, Any], status: str, base: int, failed: bool, code: int
    ) -> None:
        if status == "pending":
            return
        names = [t["Name"] for t in group.get("Tasks") or []]
        self._receive(alloc, names, base + 100_000_000)
        for name in names:
            self._start(alloc.task_states[name], base + SECOND)
            if status in ("complete", "failed"):
                self._finish(
                    alloc.task_states[name], base + 5 * SECOND, failed, code, policy=group.get("RestartPolicy")
                )
        self._settle(alloc)
        if status == "lost":
            alloc.client_status = "lost"
            alloc.client_description = "alloc is lost since its node is down"
            alloc.desired_status, alloc.desired_description = "stop", "alloc is lost since its node is down"


# ---------------------------------------------------------------------------------------------------------------
# api: one method per endpoint, free of HTTP plumbing
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    """A parsed HTTP request: `path` is percent-decoded (``%2F`` already a slash), `query` keeps every value."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of query parameter `name` (Go's ``Query().Get``), or `default`."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class _Response:
    """What to answer: `logged` is the decoded body recorded in `requests_log`; `stream` yields body chunks."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    logged: Any = None
    stream: Iterator[bytes] | None = None


_ANONYMOUS = _Token(accessor_id="anonymous", secret_id="anonymous", name="Anonymous Token")
_LOG_FRAME_BYTES = 64 * 1024
_HEARTBEAT_SECONDS = 1.0


def _parse_body(req: _Request) -> dict[str, Any]:
    """Decode a JSON request body; returns the object, raises 400 like Nomad's decodeBody."""
    if not req.body.strip():
        raise NomadEmulatorError(400, "Request body is empty")
    try:
        body = json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        first = req.body.strip()[:1].decode("latin-1")
        raise NomadEmulatorError(400, f"invalid character '{first}' looking for beginning of value") from exc
    if not isinstance(body, dict):
        kind = "array" if isinstance(body, list) else "string" if isinstance(body, str) else "number"
        raise NomadEmulatorError(400, f"json: cannot unmarshal {kind} into Go value of type api.JobRegisterRequest")
    return body


def _bool_arg(req: _Request, name: str, default: bool, status: int) -> bool:
    value = req.arg(name)
    if value is None or value == "":
        return default
    try:
        return go_parse_bool(value)
    except ValueError as exc:
        raise NomadEmulatorError(status, f'Failed to parse value of "{name}" ({value}) as a bool: {exc}') from exc


def _int_arg(req: _Request, name: str) -> int | None:
    """Parse an optional integer parameter the lenient way Nomad parses per_page; returns None when unusable."""
    value = req.arg(name)
    try:
        return int(value) if value else None
    except ValueError:
        return None


class _Api:
    """The endpoints. Each method takes a `_Request` (plus the path argument) and returns a `_Response`."""

    def __init__(self, emulator: NomadEmulator):
        self.emulator = emulator
        self.state: _State = emulator._state

    # plumbing --------------------------------------------------------------------------------------------------

    def handle(self, req: _Request) -> _Response:
        """Route and answer one request; returns the response (errors become plain-text responses)."""
        try:
            route = self._route(req)
            if route is None:
                return _Response(404, logged="")
            handlers, argument = route
            handler = handlers.get(req.method)
            if handler is None:
                raise NomadEmulatorError(405, "Invalid method")
            region = req.arg("region")
            if region and region != self.state.region:
                raise NomadEmulatorError(500, "No path to region")
            return handler(req, argument) if argument is not None else handler(req)
        except NomadEmulatorError as exc:
            return self.error(exc.status, exc.message)

    @staticmethod
    def error(status: int, message: str) -> _Response:
        """Return a plain-text error response, as Nomad writes every error."""
        return _Response(status, message.encode(), "text/plain; charset=utf-8", logged=message)

    def _route(self, req: _Request) -> tuple[dict[str, Callable], str | None] | None:
        if not req.path.startswith("/v1/"):
            return None
        rest = req.path[len("/v1/") :]
        write = ("POST", "PUT")
        fixed: dict[str, dict[str, Callable]] = {
            "jobs": {"GET": self.jobs_list, **dict.fromkeys(write, self.job_register)},
            "allocations": {"GET": self.allocs_list},
            "evaluations": {"GET": self.evals_list},
            "status/leader": {"GET": self.status_leader},
            "status/peers": {"GET": self.status_peers},
            "agent/self": {"GET": self.agent_self},
            "agent/health": {"GET": self.agent_health},
            "regions": {"GET": self.regions},
            "namespaces": {"GET": self.namespaces_list},
            "event/stream": {"GET": self.event_stream},
        }
        if rest in fixed:
            return fixed[rest], None
        if rest.startswith("job/"):
            tail = rest[len("job/") :]
            suffixes = (
                ("/allocations", {"GET": self.job_allocations}),
                ("/evaluations", {"GET": self.job_evaluations}),
                ("/summary", {"GET": self.job_summary}),
                ("/periodic/force", dict.fromkeys(write, self.job_force)),
                ("/dispatch", dict.fromkeys(write, self.job_dispatch)),
                ("/plan", dict.fromkeys(write, self.job_plan)),
            )
            for suffix, handlers in suffixes:
                if tail.endswith(suffix) and len(tail) > len(suffix):
                    return handlers, tail[: -len(suffix)]
            if not tail:
                return None
            return {
                "GET": self.job_read,
                "DELETE": self.job_deregister,
                **dict.fromkeys(write, self.job_register_named),
            }, tail
        prefixed = (
            ("allocation/", "/stop", dict.fromkeys(write, self.alloc_stop), {"GET": self.alloc_read}),
            ("evaluation/", "/allocations", {"GET": self.eval_allocations}, {"GET": self.eval_read}),
            ("client/fs/logs/", None, None, {"GET": self.logs}),
            ("namespace/", None, None, {"GET": self.namespace_read}),
        )
        for prefix, suffix, suffix_handlers, handlers in prefixed:
            if rest.startswith(prefix) and len(rest) > len(prefix):
                tail = rest[len(prefix) :]
                if suffix and tail.endswith(suffix) and len(tail) > len(suffix):
                    return suffix_handlers, tail[: -len(suffix)]
                return handlers, tail
        return None

    def json(
        self,
        req: _Request,
        obj: Any,
        *,
        index: int | None = None,
        query_meta: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> _Response:
        """Encode `obj` as Nomad does (``?pretty`` indents); `index` sets X-Nomad-Index (+ QueryMeta headers)."""
        if "pretty" in req.query:
            body = json.dumps(obj, indent=4, ensure_ascii=False)
        else:
            body = _compact_json(obj)
        return self.encoded_json(body.encode(), obj, index=index, query_meta=query_meta, extra=extra)

    @staticmethod
    def encoded_json(
        body: bytes,
        logged: Any,
        *,
        index: int | None = None,
        query_meta: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> _Response:
        """Answer an already encoded JSON `body` (`logged` is its decoded value), with the headers of `json`."""
        headers: dict[str, str] = {}
        if index is not None:
            headers["X-Nomad-Index"] = str(index)
        if query_meta:
            headers.update({"X-Nomad-KnownLeader": "true", "X-Nomad-LastContact": "0"})
        headers.update(extra or {})
        return _Response(200, body, "application/json", headers, logged=logged)

    # auth ------------------------------------------------------------------------------------------------------

    def token(self, req: _Request) -> _Token | None:
        """Return the request's ACL token (None when ACLs are off); raises 403 for an unknown secret."""
        if not self.emulator.acl:
            return None
        secret = (req.headers.get("X-Nomad-Token") or "").strip()
        if not secret:
            auth = (req.headers.get("Authorization") or "").strip()
            if auth[:7].lower() == "bearer ":
                secret = auth[7:].strip()
        if not secret:
            return _ANONYMOUS
        token = self.emulator._tokens.get(secret)
        if token is None:
            raise NomadEmulatorError(403, "ACL token not found")
        return token

    def require(self, req: _Request, namespace: str, *capabilities: str) -> None:
        """Raise 403 ``Permission denied`` unless the token holds one of `capabilities` in `namespace`."""
        token = self.token(req)
        if token is not None and not token.allows(namespace, *capabilities):
            raise NomadEmulatorError(403, "Permission denied")

    def readable_namespaces(self, req: _Request, namespace: str, *capabilities: str) -> set[str]:
        """Return the namespaces a list may show: `namespace`, or for ``*`` every one the token may read."""
        token = self.token(req)
        if namespace != "*":
            if token is not None and not token.allows(namespace, *capabilities):
                raise NomadEmulatorError(403, "Permission denied")
            return {namespace}
        with self.state.lock:
            names = list(self.state.namespaces)
        return {name for name in names if token is None or token.allows(name, *capabilities)}

    # blocking queries ------------------------------------------------------------------------------------------

    @staticmethod
    def blocking_args(req: _Request) -> tuple[int, float]:
        """Parse ``?index=&wait=``; returns (index, wait seconds), raises 400 like Nomad."""
        wait = 300.0
        wait_text = req.arg("wait")
        if wait_text:
            try:
                wait = go_parse_duration(wait_text) / SECOND
            except ValueError as exc:
                raise NomadEmulatorError(400, "Invalid wait time") from exc
        index = 0
        index_text = req.arg("index")
        if index_text:
            if not index_text.isdigit():
                raise NomadEmulatorError(400, "Invalid index")
            index = int(index_text)
        return index, min(max(wait, 0.0), 600.0)

    def block(self, index: int, wait: float, current: Callable[[], int]) -> None:
        """Wait until ``current() > index`` or `wait` (+ up to wait/16 jitter) passes; index 0 returns at once."""
        if not index:
            return
        deadline = time.monotonic() + wait + random.uniform(0, wait / 16)
        with self.state.cond:
            while current() <= index and not self.state.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.state.cond.wait(remaining)

    # jobs ------------------------------------------------------------------------------------------------------

    def jobs_list(self, req: _Request) -> _Response:
        """GET /v1/jobs: job stubs by (namespace, ID); prefix, filter (on the full Job), meta, pages; blocks on jobs."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        with_meta = _bool_arg(req, "meta", False, 400)
        predicate = self.compile_filter(req)
        per_page, next_token = _int_arg(req, "per_page"), req.arg("next_token")
        prefix = req.arg("prefix") or ""
        allowed = self.readable_namespaces(req, namespace, "list-jobs", "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["jobs"])
        with state.lock:
            jobs = sorted(
                (j for j in state.jobs.values() if j.namespace in allowed and j.id.startswith(prefix)),
                key=lambda j: (j.namespace, j.id),
            )
            if next_token:
                token_key = tuple(next_token.split(".", 1)) if "." in next_token else ("", next_token)
                jobs = [j for j in jobs if (j.namespace, j.id) >= token_key]
            page, following = self.paginate(jobs, per_page, predicate, self._job_resolver)
            stubs = [state.job_stub(j, with_meta) for j in page]
            current = max(state.table_index["jobs"], 1)
        extra = {"X-Nomad-NextToken": f"{following.namespace}.{following.id}"} if following else None
        return self.json(req, stubs, index=current, query_meta=True, extra=extra)

    def _job_resolver(self, job: _Job) -> Callable[[list[str]], Any]:
        """Return a bexpr resolver over the full Job (filters on /v1/jobs see the Job, not the stub)."""
        rendered: list[dict[str, Any]] = []

        def resolve(path: list[str]) -> Any:
            if not rendered:
                rendered.append(self.state.render_job(job))
            return resolve_in(rendered[0], path)

        return resolve

    @staticmethod
    def compile_filter(req: _Request) -> Callable | None:
        """Compile ``?filter=``; returns the predicate or None, raises Nomad's 400 for a syntax error."""
        expression = req.arg("filter")
        if not expression:
            return None
        try:
            return bexpr_compile(expression)
        except BexprSyntaxError as exc:
            raise NomadEmulatorError(
                400, f"failed to create result paginator: failed to read filter expression: {exc}"
            ) from exc

    @staticmethod
    def paginate(
        items: Iterable[Any], per_page: int | None, predicate: Callable | None, resolver: Callable[[Any], Callable]
    ) -> tuple[list[Any], Any]:
        """Take up to `per_page` items passing `predicate`; returns (page, first item of the next page or None)."""
        page: list[Any] = []
        for item in items:
            if predicate is not None:
                try:
                    if not predicate(resolver(item)):
                        continue
                except BexprEvalError as exc:
                    raise NomadEmulatorError(400, f"failed to read result page: {exc}") from exc
            if per_page and len(page) >= per_page:
                return page, item
            page.append(item)
        return page, None

    def _register_body(self, req: _Request, path_job_id: str | None) -> tuple[dict, dict, str]:
        body = _parse_body(req)
        job = body.get("Job")
        if job is None:
            raise NomadEmulatorError(400, "Job must be specified")
        _check_decodable(job)
        if job.get("ID") is None:
            raise NomadEmulatorError(400, "Job ID hasn't been provided")
        if path_job_id is not None and job["ID"] != path_job_id:
            raise NomadEmulatorError(400, "Job ID does not match name")
        priority = body.get("EvalPriority")
        if priority and not (isinstance(priority, int) and 1 <= priority <= 100):
            raise NomadEmulatorError(400, "Eval priority must be between 1 and 100 inclusively")
        namespace = req.arg("namespace") or body.get("Namespace") or job.get("Namespace") or "default"
        region = body.get("Region") or job.get("Region")
        if region and region not in ("global", self.state.region):
            raise NomadEmulatorError(500, "No path to region")
        return body, job, namespace

    def job_register(self, req: _Request, path_job_id: str | None = None) -> _Response:
        """POST/PUT /v1/jobs (and /v1/job/:id): register; 400 for bad bodies, 500 for invalid jobs."""
        body, job, namespace = self._register_body(req, path_job_id)
        self.require(req, namespace, "submit-job")
        with self.state.lock:
            response = self.state.register(
                job,
                namespace,
                enforce_index=bool(body.get("EnforceIndex")),
                job_modify_index=int(body.get("JobModifyIndex") or 0),
                eval_priority=body.get("EvalPriority") or 0,
            )
        return self.json(req, response, index=response["Index"], query_meta=True)

    def job_register_named(self, req: _Request, job_id: str) -> _Response:
        """POST/PUT /v1/job/:id: register, with the body's Job.ID required to equal :id."""
        return self.job_register(req, job_id)

    def job_read(self, req: _Request, job_id: str) -> _Response:
        """GET /v1/job/:id: the full Job or 404 ``job not found``; blocks on the job's ModifyIndex."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        self.require(req, namespace, "read-job")
        state = self.state

        def current() -> int:
            job = state.jobs.get((namespace, job_id))
            return job.modify_index if job is not None else state.table_index["jobs"]

        self.block(index, wait, current)
        with state.lock:
            job = state.jobs.get((namespace, job_id))
            if job is None:
                raise NomadEmulatorError(404, "job not found")
            rendered = state.render_job(job)
            now = max(current(), 1)
        return self.json(req, rendered, index=now, query_meta=True)

    def job_summary(self, req: _Request, job_id: str) -> _Response:
        """GET /v1/job/:id/summary: the JobSummary (group counts and children) or 404."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        self.require(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: max(state.table_index["jobs"], state.table_index["allocs"]))
        with state.lock:
            job = state.jobs.get((namespace, job_id))
            if job is None:
                raise NomadEmulatorError(404, "job not found")
            summary = state.job_summary(job)
        return self.json(req, summary, index=max(summary["ModifyIndex"], 1), query_meta=True)

    def job_deregister(self, req: _Request, job_id: str) -> _Response:
        """DELETE /v1/job/:id: stop, or purge with ``purge=true``; a missing job is a 200."""
        namespace = req.arg("namespace") or "default"
        purge = _bool_arg(req, "purge", False, 500)
        _bool_arg(req, "global", False, 500)
        priority_text = req.arg("eval_priority")
        priority = 0
        if priority_text:
            try:
                priority = int(priority_text)
            except ValueError as exc:
                raise NomadEmulatorError(
                    400, f'Failed to parse value of "eval_priority" ({priority_text}) as a int: {exc}'
                ) from exc
            if not 1 <= priority <= 100:
                raise NomadEmulatorError(400, "Eval priority must be between 1 and 100 inclusively")
        self.require(req, namespace, "submit-job")
        with self.state.lock:
            response = self.state.deregister(namespace, job_id, purge, priority)
        return self.json(req, response, index=response["Index"], query_meta=True)

    def job_plan(self, req: _Request, job_id: str) -> _Response:
        """POST/PUT /v1/job/:id/plan: dry run with annotations, optional Diff and NextPeriodicLaunch."""
        body = _parse_body(req)
        job = body.get("Job")
        if job is None:
            raise NomadEmulatorError(400, "Job must be specified")
        _check_decodable(job)
        if not job.get("ID"):
            raise NomadEmulatorError(400, "Job must have a valid ID")
        if job["ID"] != job_id:
            raise NomadEmulatorError(400, "Job ID does not match")
        namespace = req.arg("namespace") or body.get("Namespace") or job.get("Namespace") or "default"
        want_diff = bool(body.get("Diff")) or _bool_arg(req, "diff", False, 400)
        self.require(req, namespace, "submit-job")
        with self.state.lock:
            response = self.state.plan(job, namespace, want_diff)
        return self.json(req, response, index=0)

    def job_force(self, req: _Request, job_id: str) -> _Response:
        """POST/PUT /v1/job/:id/periodic/force: launch a child now; every error is a 500."""
        namespace = req.arg("namespace") or "default"
        self.require(req, namespace, "dispatch-job", "submit-job")
        with self.state.lock:
            response = self.state.force(namespace, job_id)
        return self.json(req, response, index=response["Index"])

    def job_dispatch(self, req: _Request, job_id: str) -> _Response:
        """POST/PUT /v1/job/:id/dispatch: run a parameterized job once; every refusal is a 500."""
        namespace = req.arg("namespace") or "default"
        body: Any = {}
        if req.body.strip():
            try:
                body = json.loads(req.body)
            except ValueError as exc:
                raise NomadEmulatorError(400, f"Request body is invalid: {exc}") from None
        if not isinstance(body, dict):
            raise NomadEmulatorError(400, "Request body is invalid")
        self.require(req, namespace, "dispatch-job")
        with self.state.lock:
            response = self.state.dispatch(namespace, job_id, body)
        return self.json(req, response, index=response["Index"])

    def job_allocations(self, req: _Request, job_id: str) -> _Response:
        """GET /v1/job/:id/allocations: stubs of this exact job ID ([] when missing); blocks on allocs."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        try:
            include_all = go_parse_bool(req.arg("all") or "false")
        except ValueError:
            include_all = False
        self.require(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["allocs"])
        with state.lock:
            job = state.jobs.get((namespace, job_id))
            allocs = list(state.allocs_by_job.get((namespace, job_id), ()))
            if job is not None and not include_all:
                allocs = [a for a in allocs if a.job.create_index == job.create_index]
            stubs = [state.alloc_stub(a) for a in sorted(allocs, key=lambda a: a.id)]
            current = max(state.table_index["allocs"], 1)
        return self.json(req, stubs, index=current, query_meta=True)

    def job_evaluations(self, req: _Request, job_id: str) -> _Response:
        """GET /v1/job/:id/evaluations: the job's evaluations; blocks on evals."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        self.require(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["evals"])
        with state.lock:
            evals = [state.render_eval(e) for e in state.evals_by_job.get((namespace, job_id), ())]
            current = max(state.table_index["evals"], 1)
        return self.json(req, evals, index=current, query_meta=True)

    # evaluations -----------------------------------------------------------------------------------------------

    def object_read(
        self, req: _Request, table: Mapping[str, Any], key: str, index_table: str, render: Callable, missing: str
    ) -> _Response:
        """A blocking read of one evaluation or allocation: its ModifyIndex, or the table's index when missing."""
        index, wait = self.blocking_args(req)
        state = self.state

        def current() -> int:
            item = table.get(key)
            return item.modify_index if item is not None else state.table_index[index_table]

        self.block(index, wait, current)
        with state.lock:
            item = table.get(key)
            if item is None:
                raise NomadEmulatorError(404, missing)
            rendered, namespace, now = render(item), item.namespace, max(current(), 1)
        self.require(req, namespace, "read-job")
        return self.json(req, rendered, index=now, query_meta=True)

    def eval_read(self, req: _Request, eval_id: str) -> _Response:
        """GET /v1/evaluation/:id: one evaluation or 404 ``eval not found``."""
        state = self.state
        return self.object_read(req, state.evals, eval_id, "evals", state.render_eval, "eval not found")

    def eval_allocations(self, req: _Request, eval_id: str) -> _Response:
        """GET /v1/evaluation/:id/allocations: stubs of the allocs an evaluation placed."""
        state = self.state
        with state.lock:
            evaluation = state.evals.get(eval_id)
            namespace = evaluation.namespace if evaluation else "default"
            stubs = [state.alloc_stub(a) for a in state.allocs.values() if a.eval_id == eval_id]
            current = max(state.table_index["allocs"], 1)
        self.require(req, namespace, "read-job")
        return self.json(req, stubs, index=current, query_meta=True)

    def evals_list(self, req: _Request) -> _Response:
        """GET /v1/evaluations: evaluations by CreateIndex; prefix, filter, per_page."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        predicate = self.compile_filter(req)
        prefix = req.arg("prefix") or ""
        per_page = _int_arg(req, "per_page")
        allowed = self.readable_namespaces(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["evals"])
        with state.lock:
            evals = sorted(
                (e for e in state.evals.values() if e.namespace in allowed and e.id.startswith(prefix)),
                key=lambda e: (e.create_index, e.id),
            )
            rendered = [state.render_eval(e) for e in evals]
            page, following = self.paginate(rendered, per_page, predicate, lambda e: lambda p: resolve_in(e, p))
            current = max(state.table_index["evals"], 1)
        extra = {"X-Nomad-NextToken": f"{following['CreateIndex']}.{following['ID']}"} if following else None
        return self.json(req, page, index=current, query_meta=True, extra=extra)

    # allocations -----------------------------------------------------------------------------------------------

    def allocs_list(self, req: _Request) -> _Response:
        """GET /v1/allocations: stubs by CreateIndex (by ID with prefix); filter, pages, reverse; blocks."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        prefix = req.arg("prefix") or ""
        predicate = self.compile_filter(req)
        per_page, next_token = _int_arg(req, "per_page"), req.arg("next_token")
        reverse = req.arg("reverse") == "true"  # Nomad compares the literal string, unlike other booleans
        task_states = _bool_arg(req, "task_states", True, 400)
        resources = _bool_arg(req, "resources", False, 400)
        allowed = self.readable_namespaces(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["allocs"])
        cached = task_states and not resources and "pretty" not in req.query
        with state.lock:
            page, following = self._alloc_page(allowed, prefix, predicate, per_page, next_token, reverse)
            if cached:
                # A compact JSON array is its items' compact JSON joined by commas: the same bytes, far faster.
                body = b"[" + b",".join([state.alloc_stub_json(a) for a in page]) + b"]"
            else:
                stubs = [state.alloc_stub(a, task_states, resources) for a in page]
            current = max(state.table_index["allocs"], 1)
        extra = None
        if following is not None:
            extra = {"X-Nomad-NextToken": following.id if prefix else f"{following.create_index}.{following.id}"}
        if cached:
            logged = json.loads(body) if self.emulator.record else None
            return self.encoded_json(body, logged, index=current, query_meta=True, extra=extra)
        return self.json(req, stubs, index=current, query_meta=True, extra=extra)

    def _alloc_page(
        self,
        allowed: set[str],
        prefix: str,
        predicate: Callable | None,
        per_page: int | None,
        next_token: str | None,
        reverse: bool,
    ) -> tuple[list[_Alloc], _Alloc | None]:
        state = self.state
        if prefix:
            ordered = sorted((a for a in state.allocs.values() if a.id.startswith(prefix)), key=lambda a: a.id)
            keys = [a.id for a in ordered]
            token_key: Any = next_token
        else:
            ordered = state.alloc_order
            keys = None
            token_key = None
            if next_token:
                index_text, _, alloc_id = next_token.partition(".")
                token_key = (int(index_text), alloc_id) if index_text.isdigit() else (0, next_token)
        if reverse:
            end = len(ordered)
            if token_key is not None:
                end = (
                    bisect.bisect_right(keys, token_key)
                    if keys is not None
                    else bisect.bisect_right(ordered, token_key, key=lambda a: a.order_key)
                )
            candidates: Iterable[_Alloc] = (ordered[i] for i in range(end - 1, -1, -1))
        else:
            start = 0
            if token_key is not None:
                start = (
                    bisect.bisect_left(keys, token_key)
                    if keys is not None
                    else bisect.bisect_left(ordered, token_key, key=lambda a: a.order_key)
                )
            candidates = (ordered[i] for i in range(start, len(ordered)))
        visible = (a for a in candidates if a.namespace in allowed)
        return self.paginate(visible, per_page, predicate, state.alloc_resolver)

    def alloc_read(self, req: _Request, alloc_id: str) -> _Response:
        """GET /v1/allocation/:id: the full Allocation (with Job) or 404 ``alloc not found``."""
        state = self.state
        return self.object_read(req, state.allocs, alloc_id, "allocs", state.render_alloc, "alloc not found")

    def alloc_stop(self, req: _Request, alloc_id: str) -> _Response:
        """POST/PUT /v1/allocation/:id/stop: desired-stop the alloc; the client kills it."""
        state = self.state
        with state.lock:
            alloc = state.allocs.get(alloc_id)
            if alloc is None:
                raise NomadEmulatorError(404, "alloc not found")
            namespace = alloc.namespace
        self.require(req, namespace, "alloc-lifecycle")
        with state.lock:
            index = state._bump("allocs", "evals")
            job = state.jobs.get((alloc.namespace, alloc.job_id)) or alloc.job
            evaluation = state._new_eval(job, "alloc-stop", index, 0)
            alloc.desired_status, alloc.desired_description = "stop", "alloc was stopped by user"
            alloc.alloc_modify_index = alloc.modify_index = index
            alloc.stub_json = None
            if not alloc.terminal:
                now = _now_ns()
                for task_state in (alloc.task_states or {}).values():
                    if task_state.state != "dead":
                        task_state.add("Killing", now, _EV_KILLING)
                        task_state.add("Killed", now + 1_000_000, _EV_KILLED)
                        task_state.state, task_state.finished_at = "dead", now + 1_000_000
                alloc.client_status, alloc.client_description = "complete", "All tasks have completed"
            state.emit_alloc(alloc, "AllocationUpdateDesiredStatus", index)
            state.refresh_status((alloc.namespace, alloc.job_id), index, "AllocationUpdateDesiredStatus")
            state.commit()
        return self.json(req, {"EvalID": evaluation.id, "Index": index}, index=index)

    # logs ------------------------------------------------------------------------------------------------------

    def logs(self, req: _Request, alloc_id: str) -> _Response:
        """``GET /v1/client/fs/logs/:alloc``: plain or framed, from start or end, optionally following."""
        task = req.arg("task")
        if not task:
            raise NomadEmulatorError(400, "must provide task name")
        follow = plain = False
        for name in ("follow", "plain"):
            value = req.arg(name)
            if value:
                try:
                    parsed = go_parse_bool(value)
                except ValueError as exc:
                    raise NomadEmulatorError(400, f"failed to parse {name} field to boolean: {exc}") from exc
                follow, plain = (parsed, plain) if name == "follow" else (follow, parsed)
        log_type = req.arg("type")
        if log_type not in ("stdout", "stderr"):
            raise NomadEmulatorError(400, "must provide log type (stdout/stderr)")
        offset = 0
        offset_text = req.arg("offset")
        if offset_text:
            try:
                offset = int(offset_text)
            except ValueError as exc:
                raise NomadEmulatorError(
                    400, f'error parsing offset: strconv.ParseInt: parsing "{offset_text}": invalid syntax'
                ) from exc
        origin = req.arg("origin") or "start"
        if origin not in ("start", "end"):
            raise NomadEmulatorError(400, "origin must be start or end")
        state = self.state
        with state.lock:
            alloc = state.allocs.get(alloc_id)
            if alloc is None:
                raise NomadEmulatorError(404, f'Unknown allocation "{alloc_id}"')
            namespace = alloc.namespace
        self.require(req, namespace, "read-logs", "read-fs")
        with state.lock:
            if alloc_id not in state.allocs:
                raise NomadEmulatorError(404, f'Unknown allocation "{alloc_id}"')
            if alloc.client_status == "lost":
                raise NomadEmulatorError(500, "No path to node")
            if alloc.client_gone:
                raise NomadEmulatorError(404, f"state for allocation {alloc_id} not found on client")
            task_spec = next((t for t in alloc.group_spec().get("Tasks") or [] if t["Name"] == task), None)
            if task_spec is None:
                raise NomadEmulatorError(400, f'unknown task name "{task}"')
            if (task_spec.get("LogConfig") or {}).get("Disabled"):
                raise NomadEmulatorError(404, f'log entry for task "{task}" and log type "{log_type}" not found')
            task_state = (alloc.task_states or {}).get(task)
            if task_state is None or not task_state.started_at:
                raise NomadEmulatorError(404, f'task "{task}" not started yet. No logs available')
            data = bytes(state.logs.get(alloc_id, {}).get((task, log_type), b""))
            file_size = max(int((task_spec.get("LogConfig") or {}).get("MaxFileSizeMB") or 10), 1) << 20
        start = max(len(data) - offset, 0) if origin == "end" else min(max(offset, 0), len(data))
        if not follow:
            chunk = data[start:]
            if plain:
                return _Response(200, chunk, "text/plain; charset=utf-8", logged=chunk)
            body = b"".join(_encode_frames(chunk, start, file_size, task, log_type))
            return _Response(200, body, "application/json", logged=body)
        stream = self._follow(alloc_id, task, log_type, start, file_size, plain)
        return _Response(200, b"", "text/plain; charset=utf-8" if plain else "application/json", stream=stream)

    def _follow(
        self, alloc_id: str, task: str, log_type: str, position: int, file_size: int, plain: bool
    ) -> Iterator[bytes]:
        """Yield log bytes (or frames and ``{}`` heartbeats) until the task is dead and its output flushed."""
        state = self.state
        last_beat = time.monotonic()
        while True:
            with state.cond:
                alloc = state.allocs.get(alloc_id)
                buffer = state.logs.get(alloc_id, {}).get((task, log_type), b"")
                if alloc is not None and len(buffer) <= position and not state.closed:
                    task_state = (alloc.task_states or {}).get(task)
                    if task_state is not None and task_state.state != "dead":
                        state.cond.wait(0.2)
                        alloc = state.allocs.get(alloc_id)
                        buffer = state.logs.get(alloc_id, {}).get((task, log_type), b"")
                chunk = bytes(buffer[position:])
                task_state = (alloc.task_states or {}).get(task) if alloc is not None else None
                finished = (
                    alloc is None or state.closed or task_state is None or task_state.state == "dead" or alloc.terminal
                )
            if chunk:
                yield chunk if plain else b"".join(_encode_frames(chunk, position, file_size, task, log_type))
                position += len(chunk)
                last_beat = time.monotonic()
                continue
            if finished:
                return
            if not plain and time.monotonic() - last_beat >= _HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                yield b"{}"

    # event stream ----------------------------------------------------------------------------------------------

    def event_stream(self, req: _Request) -> _Response:
        """``GET /v1/event/stream``: NDJSON frames of Job/Allocation events, ``{}`` heartbeats, ``index`` replay."""
        topics: dict[str, set[str]] = {}
        for text in req.query.get("topic", []):
            name, _, key = text.partition(":")
            if not name or ":" in key:
                raise NomadEmulatorError(400, f'Invalid topic query: invalid topic format "{text}"')
            topics.setdefault(name, set()).add(key or "*")
        index_text = req.arg("index") or "0"
        try:
            since = int(index_text)
        except ValueError as exc:
            raise NomadEmulatorError(
                400, f'Unable to parse index: strconv.Atoi: parsing "{index_text}": invalid syntax'
            ) from exc
        namespace = req.arg("namespace") or "default"
        token = self.token(req)
        if token is not None:
            if not topics or "*" in topics:
                if not token.management:
                    raise NomadEmulatorError(403, "Permission denied")
            elif namespace != "*" and not token.allows(namespace, "read-job"):
                raise NomadEmulatorError(403, "Permission denied")
        readable = (
            None
            if token is None or token.management or namespace != "*"
            else (self.readable_namespaces(req, "*", "read-job"))
        )

        def wanted(event: Mapping[str, Any]) -> bool:
            if namespace != "*" and event["Namespace"] != namespace:
                return False
            if readable is not None and event["Namespace"] not in readable:
                return False
            if not topics:
                return True
            keys = topics.get(event["Topic"], set()) | topics.get("*", set())
            if not keys:
                return False
            return "*" in keys or event["Key"] in keys or any(k in keys for k in event["FilterKeys"] or ())

        return _Response(
            200, b"", "application/json", {"Cache-Control": "no-cache"}, stream=self._events(since, wanted)
        )

    def _events(self, since: int, wanted: Callable[[Mapping[str, Any]], bool]) -> Iterator[bytes]:
        state = self.state
        heartbeat = self.emulator.event_heartbeat
        yield b"{}\n"  # Nomad 1.2+ sends a heartbeat as soon as the stream opens
        with state.lock:
            buffered = [(seq, event) for seq, event in state.events if event["Index"] > since]
            position = state.event_seq
        last_beat = time.monotonic()
        while True:
            frames: dict[int, list[dict[str, Any]]] = {}
            for _, event in buffered:
                if wanted(event):
                    frames.setdefault(event["Index"], []).append(event)
            for index in sorted(frames):
                yield json.dumps({"Index": index, "Events": frames[index]}, separators=(",", ":")).encode() + b"\n"
                last_beat = time.monotonic()
            with state.cond:
                if state.event_seq == position and not state.closed:
                    state.cond.wait(max(0.0, min(heartbeat - (time.monotonic() - last_beat), 1.0)))
                if state.closed:
                    return
                buffered = [(seq, event) for seq, event in state.events if seq > position]
                position = state.event_seq
            if not buffered and time.monotonic() - last_beat >= heartbeat:
                last_beat = time.monotonic()
                yield b"{}\n"

    # status, agent, regions, namespaces ------------------------------------------------------------------------

    def status_leader(self, req: _Request) -> _Response:
        """GET /v1/status/leader: the leader's RPC address (no ACL needed)."""
        return self.json(req, "127.0.0.1:4647")

    def status_peers(self, req: _Request) -> _Response:
        """GET /v1/status/peers: the raft peers."""
        return self.json(req, ["127.0.0.1:4647"])

    def regions(self, req: _Request) -> _Response:
        """GET /v1/regions: the known regions."""
        return self.json(req, [self.state.region])

    def agent_health(self, req: _Request) -> _Response:
        """GET /v1/agent/health: server and client health."""
        return self.json(req, {"client": {"ok": True, "message": "ok"}, "server": {"ok": True, "message": "ok"}})

    def agent_self(self, req: _Request) -> _Response:
        """GET /v1/agent/self: config, member and stats (needs agent:read)."""
        token = self.token(req)
        if token is not None and not (token.management or token.agent in ("read", "write")):
            raise NomadEmulatorError(403, "Permission denied")
        state = self.state
        version = {
            "Version": NOMAD_VERSION,
            "VersionPrerelease": "",
            "VersionMetadata": "",
            "Revision": "emulator",
            "BuildDate": "2026-01-15T00:00:00Z",
        }
        return self.json(
            req,
            {
                "config": {
                    "Region": state.region,
                    "Datacenter": state.datacenter,
                    "NodeName": state.node_name,
                    "Version": version,
                    "ACL": {"Enabled": self.emulator.acl},
                    "Server": {"Enabled": True},
                    "Client": {"Enabled": True},
                },
                "member": {
                    "Name": f"{state.node_name}.{state.region}",
                    "Addr": "127.0.0.1",
                    "Port": 4648,
                    "Tags": {"region": state.region, "dc": state.datacenter, "role": "nomad", "build": NOMAD_VERSION},
                    "Status": "alive",
                },
                "stats": {
                    "nomad": {
                        "leader": "true",
                        "leader_addr": "127.0.0.1:4647",
                        "server": "true",
                        "known_regions": "1",
                    },
                    "client": {"node_id": state.node_id, "known_servers": "127.0.0.1:4647"},
                },
            },
        )

    def namespaces_list(self, req: _Request) -> _Response:
        """GET /v1/namespaces: namespaces the token may use; blocks on namespaces."""
        index, wait = self.blocking_args(req)
        token = self.token(req)
        state = self.state
        self.block(index, wait, lambda: state.table_index["namespaces"])
        prefix = req.arg("prefix") or ""
        with state.lock:
            items = [
                dict(ns)
                for name, ns in sorted(state.namespaces.items())
                if name.startswith(prefix)
                and (token is None or token.management or token.allows(name, *POLICY_CAPABILITIES["write"]))
            ]
            current = max(state.table_index["namespaces"], 1)
        return self.json(req, items, index=current, query_meta=True)

    def namespace_read(self, req: _Request, name: str) -> _Response:
        """GET /v1/namespace/:name: one namespace or 404."""
        self.require(req, name, *POLICY_CAPABILITIES["write"])
        with self.state.lock:
            namespace = self.state.namespaces.get(name)
            if namespace is None:
                raise NomadEmulatorError(404, "namespace not found")
            namespace = dict(namespace)
        return self.json(req, namespace, index=namespace["ModifyIndex"], query_meta=True)


def _encode_frames(data: bytes, start: int, file_size: int, task: str, log_type: str) -> Iterator[bytes]:
    """Cut log bytes starting at absolute offset `start` into StreamFrames (≤64 KiB, one rotated file each)."""
    position, end = start, start + len(data)
    while position < end:
        file_number = position // file_size
        stop = min(end, (file_number + 1) * file_size, position + _LOG_FRAME_BYTES)
        piece = data[position - start : stop - start]
        frame = {
            "Offset": stop - file_number * file_size,
            "Data": base64.b64encode(piece).decode(),
            "File": f"alloc/logs/{task}.{log_type}.{file_number}",
        }
        yield json.dumps(frame, separators=(",", ":")).encode()
        position = stop


# ---------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------------------------


class LoggedRequest(NamedTuple):
    """One exchange served by the emulator, for contract tests.

    `path` is percent-decoded; `query` maps each parameter to all its values; `body` is the decoded JSON
    request body (raw text when not JSON, None when empty); `response` is the decoded JSON answer, the
    plain-text error message, or the raw bytes of a log stream.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    response: Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: NomadEmulator):
        self.emulator = emulator
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (socket.getfqdn), which can stall; 127.0.0.1 needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 requests into `_Request`s for the emulator and writes its `_Response`s back."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        logger.debug("%s " + format, self.address_string(), *args)

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, delayed ACKs add ~40 ms to every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, False)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        emulator = self.server.emulator
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = _Request(
            method=self.command,
            path=unquote(split.path),
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        try:
            response = emulator._answer(req)
        except Exception as exc:  # a bug in the emulator must still answer, like Nomad's 500
            logger.exception("emulator failed on %s %s", req.method, req.path)
            response = _Api.error(500, f"emulator error: {exc}")
        if response.stream is None:
            # Recorded before the answer leaves, so a test that saw the answer also sees the record.
            emulator._record(req, response, None)
            self._write(response)
        else:
            streamed = self._write(response)
            emulator._record(req, response, streamed)

    def _write(self, response: _Response) -> bytes | None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            return None
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        sent = bytearray()
        try:
            for chunk in response.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                    if len(sent) < 1 << 20:
                        sent.extend(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up, or the emulator went down
            self.close_connection = True
        finally:
            response.stream.close()
        return bytes(sent)


# ---------------------------------------------------------------------------------------------------------------
# the public face
# ---------------------------------------------------------------------------------------------------------------


class NomadEmulator:
    """A fake Nomad agent (server + one client node) on ``127.0.0.1:<free port>``.

    Use as ``with NomadEmulator() as emu: nomad.Nomad(address=emu.address) ...`` or call `start()`/`stop()`.
    All state sits behind one lock, so test code may call the control methods while requests are served.
    """

    def __init__(
        self,
        acl: bool = False,
        region: str = "global",
        *,
        datacenter: str = "dc1",
        record: bool = True,
        seed: int | None = None,
        event_buffer: int = 100,
        event_heartbeat: float = 30.0,
    ):
        """Create a stopped emulator.

        `record=False` skips `requests_log` (benchmarks); `seed` fixes the `fail_rate` dice; `event_buffer` is how
        many events ``/v1/event/stream`` can replay; `event_heartbeat` is the seconds between ``{}`` heartbeats.
        """
        self.acl = acl
        self.event_heartbeat = event_heartbeat
        self._state = _State(region, datacenter, event_buffer)
        self._tokens: dict[str, _Token] = {}
        self._api = _Api(self)
        self.record = record
        self.requests_log: list[LoggedRequest] = []
        self._fault: str | None = None
        self._fault_delay = 2.0
        self._fail_rate = 0.0
        self._rng = random.Random(seed)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        #: SecretID of a management token (meaningful when `acl` is True)
        self.management_token = self.create_token(management=True, name="Bootstrap Token")

    # lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> NomadEmulator:
        """Listen on 127.0.0.1 (a free port the first time, the same port afterwards); returns self."""
        if self._server is not None:
            return self
        with self._state.lock:
            self._state.closed = False
        self._server = _Server(("127.0.0.1", self._port or 0), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"nomad-emulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end log streams and blocking queries, close every connection."""
        with self._state.lock:
            self._state.closed = True
            self._state.commit()
        self._close_listener()

    def __enter__(self) -> NomadEmulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    @property
    def port(self) -> int:
        """The TCP port (fixed at the first `start()`)."""
        if self._port is None:
            raise RuntimeError("the emulator has not been started")
        return self._port

    @property
    def address(self) -> str:
        """``http://127.0.0.1:<port>``, to pass as python-nomad's `address`."""
        return f"http://127.0.0.1:{self.port}"

    # faults ----------------------------------------------------------------------------------------------------

    def fault(self, mode: str | None = None, *, delay: float = 2.0, fail_rate: float = 0.0) -> None:
        """Break (or heal) the server.

        `mode`: None = healthy (and listening again after "down"); "down" = the listener and every open
        connection are closed, so clients get connection refused/reset; "error500" = every request answers 500
        `FAULT_500_MESSAGE`; "slow" = every request sleeps `delay` seconds first. `fail_rate` (0..1), in any
        mode, makes that share of writes (POST/PUT/DELETE) answer 500.
        """
        if mode not in (None, "down", "error500", "slow"):
            raise ValueError(f"unknown fault mode {mode!r}")
        self._fault, self._fault_delay, self._fail_rate = mode, delay, fail_rate
        if mode == "down":
            self.down()
        elif self._server is None and self._port is not None and not self._state.closed:
            self.up()

    def down(self) -> None:
        """Close the listener and all connections, keeping the port and the state for `up()`."""
        self._close_listener()

    def up(self) -> None:
        """Listen again on the same port after `down()`; clears a "down" fault."""
        if self._fault == "down":
            self._fault = None
        self.start()

    def _answer(self, req: _Request) -> _Response:
        mode = self._fault
        if mode == "slow":
            time.sleep(self._fault_delay)
        if mode == "error500":
            return _Api.error(500, FAULT_500_MESSAGE)
        if self._fail_rate and req.method in ("POST", "PUT", "DELETE") and self._rng.random() < self._fail_rate:
            return _Api.error(500, FAULT_500_MESSAGE)
        return self._api.handle(req)

    def _record(self, req: _Request, response: _Response, streamed: bytes | None) -> None:
        if not self.record:
            return
        body: Any = None
        if req.body.strip():
            try:
                body = json.loads(req.body)
            except ValueError:
                body = req.body.decode("utf-8", "replace")
        logged = streamed if response.stream is not None else response.logged
        self.requests_log.append(LoggedRequest(req.method, req.path, req.query, body, response.status, logged))

    # ACL and namespaces ----------------------------------------------------------------------------------------

    def create_token(
        self,
        policies: Mapping[str, str | Iterable[str]] | None = None,
        *,
        management: bool = False,
        agent: str | None = None,
        name: str = "",
    ) -> str:
        """Create an ACL token; returns its SecretID.

        `policies` maps a namespace name or glob (``"*"``, ``"prod-*"``) to a policy shorthand (``"read"``,
        ``"write"``, ``"deny"``) or a list of capabilities (``["read-job", "read-logs"]``). `agent` is
        ``"read"``/``"write"`` for ``/v1/agent/self``. `management=True` allows everything.
        """
        rules: dict[str, frozenset[str]] = {}
        for pattern, grant in (policies or {}).items():
            items = [grant] if isinstance(grant, str) else list(grant)
            capabilities: set[str] = set()
            for item in items:
                capabilities |= POLICY_CAPABILITIES.get(item, {item})
            rules[pattern] = frozenset(capabilities)
        token = _Token(
            accessor_id=_uuid(), secret_id=_uuid(), name=name, management=management, namespaces=rules, agent=agent
        )
        self._tokens[token.secret_id] = token
        return token.secret_id

    def add_namespace(self, name: str, description: str = "") -> None:
        """Create a namespace (no-op when it exists)."""
        with self._state.lock:
            self._state.add_namespace(name, description)

    # jobs ------------------------------------------------------------------------------------------------------

    def register(self, job: Mapping[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        """Register `job` (the value of ``"Job"``) without HTTP; returns the JobRegisterResponse.

        Raises NomadEmulatorError exactly where ``POST /v1/jobs`` would answer an error.
        """
        _check_decodable(job)
        if job.get("ID") is None:
            raise NomadEmulatorError(400, "Job ID hasn't been provided")
        with self._state.lock:
            return self._state.register(copy.deepcopy(dict(job)), namespace or job.get("Namespace") or "default")

    def job(self, job_id: str, namespace: str = "default") -> dict[str, Any] | None:
        """Return the job as ``GET /v1/job/:id`` renders it, or None."""
        with self._state.lock:
            job = self._state.jobs.get((namespace, job_id))
            return copy.deepcopy(self._state.render_job(job)) if job is not None else None

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """Copies of every job, keyed by ID (``"<ID>@<namespace>"`` outside the default namespace)."""
        with self._state.lock:
            return {
                (job.id if job.namespace == "default" else f"{job.id}@{job.namespace}"): copy.deepcopy(
                    self._state.render_job(job)
                )
                for job in self._state.jobs.values()
            }

    def children(self, parent_id: str, namespace: str = "default") -> list[str]:
        """Return the IDs of a periodic job's children, oldest launch first."""
        with self._state.lock:
            ids = list(self._state.children.get((namespace, parent_id), {}))
            return sorted(
                (i for i in ids if (namespace, i) in self._state.jobs),
                key=lambda i: (self._state.jobs[(namespace, i)].launch_time, i),
            )

    @property
    def index(self) -> int:
        """The current raft index."""
        return self._state.index

    # periodic launches -----------------------------------------------------------------------------------------

    def _periodic_parent(self, parent_id: str, namespace: str) -> _Job:
        parent = self._state.jobs.get((namespace, parent_id))
        if parent is None:
            raise LookupError(f"no job {parent_id!r} in namespace {namespace!r}")
        if not parent.is_periodic:
            raise ValueError(f"job {parent_id!r} is not periodic")
        return parent

    def launch(self, parent_id: str, at: datetime | int | None = None, *, namespace: str = "default") -> str | None:
        """Launch a periodic child as the leader's scheduler would at `at` (default now); returns its ID.

        Returns None when Nomad would not launch: the parent is stopped or disabled, or ``ProhibitOverlap`` is
        set and a child is still running. Raises LookupError / ValueError for a missing / non-periodic parent.
        """
        moment = int(time.time()) if at is None else at if isinstance(at, int) else int(at.timestamp())
        with self._state.lock:
            parent = self._periodic_parent(parent_id, namespace)
            periodic = parent.spec["Periodic"]
            if parent.stop or not periodic.get("Enabled"):
                return None
            if periodic.get("ProhibitOverlap") and self._state.running_children(parent):
                logger.debug("launch of %s skipped: a child is still running", parent_id)
                return None
            child, _ = self._state.derive_child(parent, moment)
            return child.id

    def launch_next(self, parent_id: str, *, namespace: str = "default") -> str | None:
        """Launch the child of the next cron instant after now (or after the newest child); returns its ID."""
        with self._state.lock:
            parent = self._periodic_parent(parent_id, namespace)
            after = max(int(time.time()), self._state.last_launch(parent))
            moment = periodic_next(parent.spec["Periodic"], datetime.fromtimestamp(after, UTC))
        if moment is None:
            raise ValueError(f"job {parent_id!r} has no next launch")
        return self.launch(parent_id, moment, namespace=namespace)

    def seed_runs(
        self,
        parent_id: str,
        n: int,
        status: str = "complete",
        *,
        namespace: str = "default",
        start: datetime | int | None = None,
        step: int = 60,
        exit_code: int | None = None,
        stdout: bytes = b"",
        stderr: bytes = b"",
    ) -> list[str]:
        """Bulk-create `n` children of a periodic job, launched `step` seconds apart; returns their IDs.

        The launches start at `start` (default: `n * step` seconds ago, or right after the newest child, so
        repeated calls append). A launch time that is already a child raises ValueError. Every child gets one
        alloc per group count in `status` (pending, running, complete, failed or lost) with realistic task states, and
        `stdout`/`stderr` as its logs. Fast enough for 100,000 runs.
        """
        with self._state.lock:
            parent = self._periodic_parent(parent_id, namespace)
            if start is None:
                first = max(int(time.time()) - n * step, self._state.last_launch(parent) + step)
            else:
                first = start if isinstance(start, int) else int(start.timestamp())
            return self._state.seed_runs(
                parent, [first + i * step for i in range(n)], status, exit_code=exit_code, stdout=stdout, stderr=stderr
            )

    def gc(self, job_id: str | None = None, *, namespace: str | None = None) -> list[str]:
        """Run the server GC: remove dead jobs (all, or `job_id` and its children) with their evals, allocs and
        logs; returns the removed job IDs. Their logs then answer 404 ``Unknown allocation "<id>"``."""
        with self._state.lock:
            return self._state.gc(job_id, namespace)

    # allocations -----------------------------------------------------------------------------------------------

    def _alloc(self, alloc_id: str) -> _Alloc:
        alloc = self._state.allocs.get(alloc_id)
        if alloc is None:
            raise LookupError(f"no allocation {alloc_id!r}")
        return alloc

    def alloc_ids(self, job_id: str, namespace: str = "default") -> list[str]:
        """Return the IDs of a job's allocations, oldest first."""
        with self._state.lock:
            return [
                a.id for a in sorted(self._state.allocs_by_job.get((namespace, job_id), ()), key=lambda a: a.order_key)
            ]

    @property
    def allocs(self) -> dict[str, dict[str, Any]]:
        """Copies of every allocation as ``GET /v1/allocation/:id`` renders it, keyed by ID."""
        with self._state.lock:
            return {a.id: copy.deepcopy(self._state.render_alloc(a)) for a in self._state.alloc_order}

    @property
    def evals(self) -> dict[str, dict[str, Any]]:
        """Copies of every evaluation, keyed by ID."""
        with self._state.lock:
            return {e.id: self._state.render_eval(e) for e in self._state.evals.values()}

    def alloc_run(self, alloc_id: str, *, task: str | None = None) -> None:
        """Play the client starting the alloc's tasks (or one `task`): Received, Task Setup, Started."""
        with self._state.lock:
            self._state.alloc_run(self._alloc(alloc_id), task)

    def alloc_finish(
        self,
        alloc_id: str,
        status: str = "complete",
        *,
        exit_code: int | None = None,
        stdout: bytes = b"",
        stderr: bytes = b"",
        task: str | None = None,
        restarts: int = 0,
        signal: int = 0,
        exit_message: str = "",
        oom_killed: bool = False,
    ) -> None:
        """Play the client ending the alloc's tasks (or one `task`) with `status` complete, failed or lost.

        `stdout`/`stderr` are appended to each finished task's logs first. A failed task gets `restarts`
        Terminated/Restarting/Started rounds, then Terminated and Not Restarting, and its siblings are killed.
        `exit_code` defaults to 0 (complete) or 1 (failed). "lost" leaves task states as they were.
        """
        with self._state.lock:
            alloc = self._alloc(alloc_id)
            names = self._state._task_names(alloc, task)
            for name in names:
                if stdout:
                    self._state.append_log(alloc, name, "stdout", stdout)
                if stderr:
                    self._state.append_log(alloc, name, "stderr", stderr)
            self._state.alloc_finish(
                alloc, status, task, exit_code, signal=signal, message=exit_message, oom=oom_killed, restarts=restarts
            )

    def alloc_append_log(self, alloc_id: str, task: str, stream: str, data: bytes) -> None:
        """Append `data` to a task's ``stdout``/``stderr`` (wakes followers of the log)."""
        with self._state.lock:
            self._state.append_log(self._alloc(alloc_id), task, stream, data)

    def client_gc(self, alloc_id: str) -> None:
        """Play the client GC'ing the alloc directory: the server keeps the alloc, its logs answer 404."""
        with self._state.lock:
            alloc = self._alloc(alloc_id)
            alloc.client_gone = True
            self._state.logs.pop(alloc_id, None)
