"""The public face: `NomadEmulator`, its lifecycle, faults, and the methods tests drive the cluster with."""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from tests.emulators.nomad.api import _Api
from tests.emulators.nomad.cron import periodic_next
from tests.emulators.nomad.exchange import _Request, _Response
from tests.emulators.nomad.helpers import (
    FAULT_500_MESSAGE,
    NOMAD_VERSION,
    POLICY_CAPABILITIES,
    NomadEmulatorError,
    _uuid,
)
from tests.emulators.nomad.jobspec import _check_decodable
from tests.emulators.nomad.records import _Alloc, _Job, _Token
from tests.emulators.nomad.server import LoggedRequest, _Server
from tests.emulators.nomad.state import _State

logger = logging.getLogger(__name__)

#: The two ways Nomad releases compare pagination tokens (hashicorp/nomad#25792 changed it in 1.10.2).
PAGINGS = ("string", "numeric")
#: The paging of emulators created without one; ``tests/conftest.py`` sets it from ``--nomad-paging``.
DEFAULT_PAGING = os.environ.get("STRIV_NOMAD_PAGING", "string")


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
        paging: str | None = None,
        first_index: int = 0,
        tls: Any = None,
    ):
        """Create a stopped emulator.

        `record=False` skips `requests_log` (benchmarks); `seed` fixes the `fail_rate` dice; `event_buffer` is how
        many events ``/v1/event/stream`` can replay; `event_heartbeat` is the seconds between ``{}`` heartbeats.
        `paging` is how ``next_token`` is compared with the rows' tokens: ``"string"`` as Nomad 1.6.0-1.10.1 do,
        ``"numeric"`` as 1.10.2 and later; by default `DEFAULT_PAGING` (the test option ``--nomad-paging``).
        `first_index` is the raft index the cluster starts from (a cluster that has lived a while).
        `tls` is an ``ssl.SSLContext`` (server side): the agent then serves HTTPS, as with ``tls { http = true }``.
        """
        paging = paging or DEFAULT_PAGING
        if paging not in PAGINGS:
            raise ValueError(f"paging must be one of {PAGINGS}, not {paging!r}")
        #: "string" (Nomad 1.6.0-1.10.1) or "numeric" (1.10.2+): how allocation list pages are sought
        self.paging = paging
        self.tls = tls
        #: the version ``/v1/agent/self`` reports
        self.version = NOMAD_VERSION
        self.acl = acl
        self.event_heartbeat = event_heartbeat
        self._state = _State(region, datacenter, event_buffer)
        self._state.index = first_index
        self._tokens: dict[str, _Token] = {}
        self._api = _Api(self)
        self.record = record
        self.requests_log: list[LoggedRequest] = []
        self._fault: str | None = None
        self._fault_delay = 2.0
        self._fault_path = "/"
        #: False: the servers cannot reach the client node, whose logs then answer 404 ``No path to node``
        self.node_reachable = True
        #: bytes after which every log response breaks off mid-body (None: log responses end normally)
        self.logs_cut_after: int | None = None
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
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
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
        """``http://127.0.0.1:<port>`` (``https://`` with `tls`), to pass as python-nomad's `address`."""
        return f"{'https' if self.tls is not None else 'http'}://127.0.0.1:{self.port}"

    def rebuild(self) -> None:
        """Play a cluster rebuilt behind the same address: no jobs, allocations or events, the raft index near 1
        again; namespaces and ACL tokens are kept (an operator restores them first). Open connections are closed."""
        old = self._state
        with old.lock:
            fresh = _State(old.region, old.datacenter, old.events.maxlen or 100)
            for name, namespace in old.namespaces.items():
                if name not in fresh.namespaces:
                    fresh.add_namespace(name, namespace.get("Description", ""))
            old.closed = True
            old.commit()
        running = self._server is not None
        self._close_listener()
        self._state = self._api.state = fresh
        if running:
            self.start()

    # faults ----------------------------------------------------------------------------------------------------

    def fault(self, mode: str | None = None, *, delay: float = 2.0, fail_rate: float = 0.0, path: str = "/") -> None:
        """Break (or heal) the server.

        `mode`: None = healthy (and listening again after "down"); "down" = the listener and every open
        connection are closed, so clients get connection refused/reset; "error500" = every request answers 500
        `FAULT_500_MESSAGE`; "slow" = every request sleeps `delay` seconds first. `fail_rate` (0..1), in any
        mode, makes that share of writes (POST/PUT/DELETE) answer 500. `path` limits "error500" and "slow" to the
        requests whose path starts with it (``/v1/evaluation/``: a server failing only there).
        """
        if mode not in (None, "down", "error500", "slow"):
            raise ValueError(f"unknown fault mode {mode!r}")
        self._fault, self._fault_delay, self._fail_rate, self._fault_path = mode, delay, fail_rate, path
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
        mode = self._fault if req.path.startswith(self._fault_path) else None
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

    def alloc_disconnect(self, alloc_id: str) -> None:
        """Play the alloc's client disconnecting: ``ClientStatus`` ``unknown`` while its tasks keep running."""
        with self._state.lock:
            self._state.alloc_disconnect(self._alloc(alloc_id))

    def alloc_reconnect(self, alloc_id: str) -> None:
        """Play the client reconnecting: the ``unknown`` alloc is ``running`` again."""
        with self._state.lock:
            self._state.alloc_reconnect(self._alloc(alloc_id))

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
