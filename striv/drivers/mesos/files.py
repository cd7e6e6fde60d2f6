"""Task logs from Mesos: the agent found through the master, the sandbox's ``stdout``/``stderr`` read with the
agent's ``/files/read`` in bounded chunks.

``/files/read`` copies raw bytes into a JSON string, and a chunk boundary can split a character: answers are decoded
as UTF-8 with ``surrogateescape`` and ``data`` re-encoded the same way, so offsets count the file's bytes. A 404 is
a sandbox the agent garbage-collected (or one not started yet); an agent that does not answer may come back.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from striv.drivers.base import DriverError, LogChunk
from striv.drivers.mesos.client import Http

#: Bytes asked for per /files/read call: the agent answers at most 16 pages (64 KiB) anyway.
CHUNK = 64 * 1024
#: Redirects from a non-leading master followed at most.
MAX_REDIRECTS = 3


class MesosFiles:
    def __init__(self, master: Http) -> None:
        self.master = master

    def _master_json(self, path: str, action: str, params: dict[str, str]) -> Any:
        url = self.master.base + path
        for _ in range(MAX_REDIRECTS + 1):
            response = self.master.call("GET", url, action, params=params)
            if response.status_code == 307 and response.headers.get("Location"):
                location = response.headers["Location"]
                scheme = urlsplit(self.master.base).scheme
                url = f"{scheme}:{location}" if location.startswith("//") else location
                params = {}  # the Location carries the query
                continue
            if response.status_code != 200:
                retryable = response.status_code >= 500
                raise DriverError(
                    f"the Mesos master answered {response.status_code} to {action}: {response.text.strip()}",
                    retryable=retryable,
                    status=response.status_code,
                )
            return response.json()
        raise DriverError(f"the Mesos master redirected too often while trying to {action}", retryable=True)

    def task_location(self, task_id: str) -> tuple[str, str] | None:
        """(agent ID, framework ID) of a task the master still knows, or None."""
        tasks = self._master_json("/master/tasks", f"find task {task_id}", {"task_id": task_id}).get("tasks") or []
        for task in tasks:
            if task.get("id") == task_id:
                return task.get("slave_id", ""), task.get("framework_id", "")
        return None

    def agent_base(self, agent_id: str) -> str:
        slaves = self._master_json("/master/slaves", f"find agent {agent_id}", {"slave_id": agent_id}).get("slaves")
        for slave in slaves or []:
            if slave.get("id") != agent_id:
                continue
            scheme = urlsplit(self.master.base).scheme
            pid = str(slave.get("pid") or "")
            host = f"{slave.get('hostname')}:{slave.get('port')}" if slave.get("hostname") else pid.rpartition("@")[2]
            return f"{scheme}://{host}"
        raise DriverError(f"logs expired: the Mesos master no longer knows agent {agent_id}", status=404)

    def read(
        self, *, agent_id: str, framework_id: str, executor_id: str, stream: str, offset: int, max_bytes: int | None
    ) -> LogChunk:
        """Read ``stream`` of an executor's latest run from ``offset`` (negative: the last ``-offset`` bytes)."""
        base = self.agent_base(agent_id)
        path = f"/frameworks/{framework_id}/executors/{executor_id}/runs/latest/{stream}"
        if offset < 0:
            size = self._read(base, path, -1, 0)[1]
            keep = -offset if max_bytes is None else min(-offset, max_bytes)
            offset = max(0, size - keep)
            max_bytes = keep
        data = bytearray()
        while max_bytes is None or len(data) < max_bytes:
            want = CHUNK if max_bytes is None else min(CHUNK, max_bytes - len(data))
            piece, _ = self._read(base, path, offset + len(data), want)
            if not piece:
                return LogChunk(data=bytes(data), offset=offset, next_offset=offset + len(data), complete=True)
            data += piece
        return LogChunk(data=bytes(data), offset=offset, next_offset=offset + len(data), complete=False)

    def _read(self, base: str, path: str, offset: int, length: int) -> tuple[bytes, int]:
        action = f"read {path}"
        response = self.master.call(
            "GET", f"{base}/files/read", action, params={"path": path, "offset": offset, "length": length}
        )
        if response.status_code == 404:
            raise DriverError(f"logs expired: the Mesos agent no longer has {path}", status=404)
        if response.status_code != 200:
            raise DriverError(
                f"the Mesos agent answered {response.status_code} to {action}: {response.text.strip()}",
                retryable=response.status_code >= 500,
                status=response.status_code,
            )
        try:
            body = json.loads(response.content.decode("utf-8", errors="surrogateescape"))
        except ValueError:
            raise DriverError(f"the Mesos agent answered {action} with something that is not JSON") from None
        return str(body.get("data", "")).encode("utf-8", errors="surrogateescape"), int(body.get("offset", 0))
