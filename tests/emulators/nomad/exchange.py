"""Requests and responses as the HTTP-free API sees them, and Nomad's parsing of body and query arguments."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.nomad.helpers import NomadEmulatorError, go_parse_bool
from tests.emulators.nomad.records import _Token


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
    #: the stream breaks off after its chunks: no final chunk, the connection closed (a relay cut mid-body)
    cut: bool = False


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
