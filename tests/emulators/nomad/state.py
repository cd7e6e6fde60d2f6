"""The state store: every table, one lock, raft-like indexes, events and namespaces.

`_State` gathers the tables' operations from one mixin per section (jobs, launches, rendering, client side).
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from tests.emulators.nomad.helpers import _uuid
from tests.emulators.nomad.records import _Alloc, _Eval, _Job
from tests.emulators.nomad.state_client import _ClientSide
from tests.emulators.nomad.state_jobs import _JobTables
from tests.emulators.nomad.state_launches import _LaunchTables
from tests.emulators.nomad.state_render import _Rendering


class _State(_JobTables, _LaunchTables, _Rendering, _ClientSide):
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
