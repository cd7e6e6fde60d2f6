"""A Mesos master (``/master/slaves``, ``/master/frameworks``, ``/master/tasks``) and agents (``/files/read``,
``/files/browse``) as Mesos 1.11 answers them, over the tasks and sandboxes of ``RhythmEmulator``."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.emulators.rhythm.server import HttpServer, Reply, Request

if TYPE_CHECKING:
    from tests.emulators.rhythm.emulator import RhythmEmulator

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
#: At most 16 memory pages of 4 KiB per /files/read answer.
READ_CAP = 16 * 4096
WORK_DIR = "/var/lib/mesos"


@dataclass
class Sandbox:
    """One executor run's directory: its files, reachable under the virtual and the real paths until GC."""

    agent_id: str
    framework_id: str
    executor_id: str
    container_id: str
    files: dict[str, bytearray] = field(default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()})

    @property
    def paths(self) -> list[str]:
        tail = f"frameworks/{self.framework_id}/executors/{self.executor_id}/runs"
        real = f"{WORK_DIR}/slaves/{self.agent_id}/{tail}"
        return [f"/{tail}/latest", f"{real}/latest", f"{real}/{self.container_id}"]


class Agent:
    def __init__(self, emulator: RhythmEmulator, agent_id: str) -> None:
        self.emu = emulator
        self.id = agent_id
        self.server = HttpServer(self.answer)

    def answer(self, req: Request) -> Reply:
        denied = self.emu.mesos_auth_failure(req, "mesos-agent-readonly")
        if denied is not None:
            return denied
        query = {key: values[0] for key, values in req.query.items()}
        if req.path not in ("/files/read", "/files/browse"):
            return Reply(404)
        path = query.get("path", "")
        if not path:
            return Reply(400, b"Expecting 'path=value' in query.", TEXT)
        if "/.." in path:
            return Reply(400, f"'{path}' is inaccessible.".encode(), TEXT)
        found = self._resolve(unquote(path))
        if found is None:
            return Reply(404)
        box, name = found
        if req.path == "/files/browse":
            if name:
                return Reply(200, b"[]", JSON)
            entries = [{"gid": "root", "mode": "-rw-r--r--", "mtime": 1.7e9, "nlink": 1, "path": f"{path}/{n}",
                        "size": len(data), "uid": "root"} for n, data in sorted(box.files.items())]  # fmt: skip
            return Reply(200, json.dumps(entries).encode(), JSON)
        if not name:
            return Reply(400, b"Cannot read a directory.", TEXT)
        data = box.files[name]
        numbers = {}
        for key in ("offset", "length"):
            raw = query.get(key, "-1")
            try:
                numbers[key] = int(raw)
            except ValueError:
                return Reply(400, f"Failed to parse {key}: Failed to convert '{raw}' to number.".encode(), TEXT)
            if numbers[key] < -1:
                return Reply(400, f"Negative {key} provided: {numbers[key]}.".encode(), TEXT)
        offset, length = numbers["offset"], numbers["length"]
        if offset == -1:
            return Reply(200, b'{"data":"","offset":%d}' % len(data), JSON)
        size = READ_CAP if length == -1 else min(length, READ_CAP)
        piece = bytes(data[offset : offset + size]) if offset < len(data) else b""
        return Reply(200, b'{"data":"' + _raw_escape(piece) + b'","offset":%d}' % offset, JSON)

    def _resolve(self, path: str) -> tuple[Sandbox, str] | None:
        """The sandbox whose attached path is the longest prefix of ``path``, and the file name below it."""
        best: tuple[int, Sandbox, str] | None = None
        for box in self.emu.sandboxes.values():
            if box.agent_id != self.id:
                continue
            for root in box.paths:
                if path == root or path.startswith(root + "/"):
                    rest = path[len(root) :].strip("/")
                    if best is None or len(root) > best[0]:
                        best = (len(root), box, rest)
        if best is None:
            return None
        _, box, rest = best
        if rest and rest not in box.files:
            return None
        return box, rest


def _raw_escape(data: bytes) -> bytes:
    """rapidjson's string writer: ``"``, ``\\`` and control bytes escaped, every other byte copied raw."""
    out = bytearray()
    for byte in data:
        if byte == 0x22 or byte == 0x5C:
            out += b"\\" + bytes([byte])
        elif byte == 0x0A:
            out += b"\\n"
        elif byte < 0x20:
            out += b"\\u%04x" % byte
        else:
            out.append(byte)
    return bytes(out)


class Master:
    """The leading master, or with ``leader`` a standby one that redirects every request to it."""

    def __init__(self, emulator: RhythmEmulator, leader: Master | None = None) -> None:
        self.emu = emulator
        self.leader = leader
        self.server = HttpServer(self.answer)

    def answer(self, req: Request) -> Reply:
        if self.leader is not None:
            query = "&".join(f"{key}={value}" for key, values in req.query.items() for value in values)
            location = f"//127.0.0.1:{self.leader.server.port}{req.path}" + (f"?{query}" if query else "")
            return Reply(307, b"", None, {"Location": location})
        denied = self.emu.mesos_auth_failure(req, "mesos-master-readonly")
        if denied is not None:
            return denied
        query = {key: values[0] for key, values in req.query.items()}
        if req.path == "/master/slaves":
            slaves = [self._slave(agent) for agent in self.emu.agents.values()]
            if "slave_id" in query:
                slaves = [s for s in slaves if s["id"] == query["slave_id"]]
            return Reply(200, json.dumps({"slaves": slaves, "recovered_slaves": []}).encode(), JSON)
        if req.path == "/master/tasks":
            tasks = [dict(task) for task in reversed(self.emu.mesos_tasks.values())]
            for key, name in (("task_id", "id"), ("framework_id", "framework_id")):
                if key in query:
                    tasks = [t for t in tasks if t[name] == query[key]]
            limit = int(query.get("limit", "100"))
            return Reply(200, json.dumps({"tasks": tasks[:limit]}).encode(), JSON)
        if req.path == "/master/frameworks":
            framework = {"id": self.emu.framework_id, "name": "rhythm", "active": True,
                         "tasks": [t for t in self.emu.mesos_tasks.values() if not t["terminal"]],
                         "completed_tasks": [t for t in self.emu.mesos_tasks.values() if t["terminal"]]}  # fmt: skip
            body = {"frameworks": [framework], "completed_frameworks": [], "unregistered_frameworks": []}
            return Reply(200, json.dumps(body).encode(), JSON)
        return Reply(404)

    def _slave(self, agent: Agent) -> dict[str, Any]:
        return {"id": agent.id, "hostname": "127.0.0.1", "port": agent.server.port,
                "pid": f"slave(1)@127.0.0.1:{agent.server.port}", "attributes": {}, "registered_time": 1.7e9,
                "active": agent.server.running, "version": "1.11.0"}  # fmt: skip


def basic_user(req: Request) -> tuple[str, str] | None:
    header = req.headers.get("Authorization") or ""
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password
