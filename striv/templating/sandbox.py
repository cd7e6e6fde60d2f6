"""Evaluating templates in a small pool of worker processes, each under a wall-clock, memory and output limit.

go-jsonnet cannot be interrupted inside a process, and the memory it takes stays with the process: a template that
loops over a param could hold a server thread for as long as it likes and keep gigabytes after. Each evaluation
therefore runs in a worker process (``worker_main``, which imports only striv's templating and the jsonnet binding)
whose address space is capped (``RLIMIT_AS``: what the process held after start-up plus the memory limit) and
which the caller kills when the time limit passes; a worker that ran out of memory or time is replaced. Workers are
started on first use and kept: a round trip costs a fraction of a millisecond, and batches of jobs travel in one.

Messages are length-prefixed JSON on the worker's stdin and stdout.
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

_HEADER = struct.Struct("!I")
# How long a new worker may take to start (Python, the jsonnet binding, the Go runtime) on a busy machine.
_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Limits:
    """What one evaluation may use: seconds of wall-clock, megabytes of memory, bytes of output."""

    seconds: float = 2.0
    memory_mb: int = 256
    output_bytes: int = 1_000_000
    workers: int = 2


class LimitExceeded(Exception):
    """An evaluation passed a limit; ``limit`` names it (``time``, ``memory`` or ``output``)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message


def _send(stream: Any, message: dict) -> None:
    data = json.dumps(message).encode()
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    """Read ``size`` bytes from ``fd``; None at end of file; raises TimeoutError past ``deadline`` (monotonic)."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class _Worker:
    def __init__(self, limits: Limits) -> None:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        env = {
            **os.environ,
            "PYTHONPATH": path,
            "GOTRACEBACK": "none",
            # Go collects harder as the heap nears this, so a template that only churns stays under the hard limit.
            "GOMEMLIMIT": f"{max(1, limits.memory_mb * 3 // 4)}MiB",
            "STRIV_SANDBOX_MEMORY_MB": str(limits.memory_mb),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from striv.templating.sandbox import worker_main; worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Go prints every goroutine when it runs out of memory: the worker's end is reported, not its dump.
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        # The time limit is for evaluations, not for the worker's start-up: wait until it says it is ready.
        try:
            if self.call(None, _START_TIMEOUT) != {"ready": True}:
                raise EOFError
        except (TimeoutError, EOFError, OSError):
            self.kill()
            raise LimitExceeded("start", "could not start a template worker") from None

    def call(self, request: dict | None, seconds: float) -> dict:
        """Send ``request`` (None: only read) and return the answer; TimeoutError after ``seconds``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        if request is not None:
            _send(self.process.stdin, request)
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + seconds
        header = _read_exactly(fd, _HEADER.size, deadline)
        if header is None:
            raise EOFError
        body = _read_exactly(fd, _HEADER.unpack(header)[0], None)
        if body is None:
            raise EOFError
        return json.loads(body)

    def kill(self) -> None:
        try:
            self.process.kill()
        except ProcessLookupError:
            pass
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class Pool:
    """A bounded set of worker processes; ``evaluate`` borrows one (waiting for a free one) per evaluation."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(max(1, limits.workers)):
            self._idle.put(None)  # a slot; its worker starts on first use

    def evaluate(self, snippet: str, filename: str, ext_vars: dict[str, str], *, jobs: int = 1) -> str:
        """Evaluate ``snippet`` in a worker; returns the JSON text. ``jobs`` (a batch's size) scales the output limit.

        Raises RuntimeError with go-jsonnet's message for a template error, LimitExceeded past a limit.
        """
        limits = self.limits
        worker = self._idle.get()
        try:
            if worker is None or worker.process.poll() is not None:
                worker = _Worker(limits)
            max_output = limits.output_bytes * max(1, jobs)
            request = {"snippet": snippet, "filename": filename, "ext_vars": ext_vars, "max_output": max_output}
            try:
                answer = worker.call(request, limits.seconds)
            except TimeoutError:
                worker.kill()
                worker = None
                raise LimitExceeded("time", f"took longer than the limit of {limits.seconds:g} s") from None
            except (EOFError, BrokenPipeError, OSError):
                worker.kill()
                worker = None
                raise LimitExceeded("memory", f"needed more than the limit of {limits.memory_mb} MB") from None
        finally:
            self._idle.put(worker)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        if "memory" in answer:
            raise LimitExceeded("memory", f"needed more than the limit of {limits.memory_mb} MB")
        if "output" in answer:
            raise LimitExceeded("output", f"produced more than the limit of {max_output:,} bytes of output")
        return str(answer["ok"])

    def close(self) -> None:
        """Stop every idle worker (busy ones are stopped when they come back)."""
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker is not None:
                worker.kill()
        for _ in range(max(1, self.limits.workers)):
            self._idle.put(None)


_lock = threading.Lock()
_pool: Pool | None = None
_limits = Limits()


def limits_set(limits: Limits) -> None:
    """Use ``limits`` from now on (the settings call this at start-up; tests to try small limits)."""
    global _pool, _limits
    with _lock:
        _limits = limits
        old, _pool = _pool, None
    if old is not None:
        old.close()


def limits() -> Limits:
    return _limits


def pool() -> Pool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = Pool(_limits)
        return _pool


# --- the worker process ------------------------------------------------------------------------------------------

_IMPORT_REFUSED = b'error "imports are not allowed in templates"'


def _import_refuse(base: str, rel: str) -> tuple[str, bytes]:
    # Templates are stored data: they must not read files from the server. Every import resolves to an expression
    # that fails when used (importstr gets its text). Raising here instead is unsafe: the Go binding garbles the
    # exception text.
    return "<imports are not allowed>", _IMPORT_REFUSED


def _virtual_size() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def worker_main() -> None:  # pragma: no cover - runs in the worker process
    import resource

    import _gojsonnet

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the server, which stops its workers
    _gojsonnet.evaluate_snippet("warm-up", "{}")  # starts the Go runtime, whose address space counts as start-up
    memory = int(os.environ.get("STRIV_SANDBOX_MEMORY_MB", "256")) * 1024 * 1024
    limit = _virtual_size() + memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _send(stdout, {"ready": True})
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        request = json.loads(stdin.read(_HEADER.unpack(header)[0]))
        try:
            output = _gojsonnet.evaluate_snippet(
                request["filename"],
                request["snippet"],
                ext_vars=request["ext_vars"],
                import_callback=_import_refuse,
            )
        except RuntimeError as exc:
            answer: dict[str, Any] = {"error": str(exc)}
        except MemoryError:
            answer = {"memory": True}
        else:
            answer = {"output": True} if len(output) > request["max_output"] else {"ok": output}
        try:
            _send(stdout, answer)
        except MemoryError:
            return
