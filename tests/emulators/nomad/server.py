"""HTTP plumbing: the threaded server, the request handler and the request log's rows."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from tests.emulators.http import LocalHandler, LocalServer
from tests.emulators.nomad.api import _Api
from tests.emulators.nomad.exchange import _Request, _Response

if TYPE_CHECKING:
    from tests.emulators.nomad.emulator import NomadEmulator

logger = logging.getLogger(__name__)


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


class _Server(LocalServer):
    def __init__(self, address: tuple[str, int], emulator: NomadEmulator):
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(LocalHandler):
    """Turns HTTP/1.1 requests into `_Request`s for the emulator and writes its `_Response`s back."""

    server: _Server

    def setup(self) -> None:
        super().setup()
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
            if response.cut:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return bytes(sent)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up, or the emulator went down
            self.close_connection = True
        finally:
            response.stream.close()
        return bytes(sent)
