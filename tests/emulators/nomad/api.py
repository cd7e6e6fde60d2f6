"""The HTTP-free API: routing, auth and blocking queries.

`_Api` gathers one method per endpoint from one mixin per section (jobs, evaluations and allocations, logs and
events, agent).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tests.emulators.nomad.api_agent import _AgentEndpoints
from tests.emulators.nomad.api_allocs import _AllocEndpoints
from tests.emulators.nomad.api_jobs import _JobEndpoints
from tests.emulators.nomad.api_streams import _StreamEndpoints
from tests.emulators.nomad.exchange import _ANONYMOUS, _Request, _Response
from tests.emulators.nomad.helpers import SECOND, NomadEmulatorError, _compact_json, go_parse_duration
from tests.emulators.nomad.records import _Token
from tests.emulators.nomad.state import _State

if TYPE_CHECKING:
    from tests.emulators.nomad.emulator import NomadEmulator


class _Api(_JobEndpoints, _AllocEndpoints, _StreamEndpoints, _AgentEndpoints):
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
