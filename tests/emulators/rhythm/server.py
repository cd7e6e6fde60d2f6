"""HTTP plumbing shared by the Rhythm, Mesos master and Mesos agent emulators: a threaded server on 127.0.0.1.

Each server hands every request to a function ``(Request) -> Reply`` and writes the reply back as it is; the
function sets status, Content-Type and body exactly, so the quirks of each real server stay in its own module.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.emulators.http import LocalHandler, LocalServer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """One request: ``path`` is raw (not percent-decoded), ``query`` maps names to all their values."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Server(LocalServer):
    def __init__(self, address: tuple[str, int], answer: Callable[[Request], Reply]):
        self.answer = answer
        super().__init__(address, _Handler)


class _Handler(LocalHandler):
    server: _Server

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, split.path, parse_qs(split.query, keep_blank_values=True), self.headers, body)
        try:
            reply = self.server.answer(request)
        except Exception as exc:  # a bug in the emulator still answers
            logger.exception("emulator failed on %s %s", request.method, request.path)
            reply = Reply(500, f"emulator error: {exc}".encode(), "text/plain; charset=utf-8")
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET


class HttpServer:
    """A server on a free port of 127.0.0.1 answering with ``answer``; ``start``/``stop`` may be called again."""

    def __init__(self, answer: Callable[[Request], Reply]) -> None:
        self.answer = answer
        self.port = 0
        self._server: _Server | None = None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> HttpServer:
        if self._server is None:
            self._server = _Server(("127.0.0.1", self.port), self.answer)
            self.port = self._server.server_address[1]
            threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name=f"emulator-{self.port}", daemon=True
            ).start()
        return self

    def stop(self) -> None:
        """Stop answering; the port stays reserved in ``port`` so a restart listens on it again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
