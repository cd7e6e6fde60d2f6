"""Streaming endpoints: task logs (plain, framed, follow) and the event stream."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tests.emulators.nomad.exchange import _HEARTBEAT_SECONDS, _LOG_FRAME_BYTES, _Request, _Response
from tests.emulators.nomad.helpers import NomadEmulatorError, go_parse_bool


class _StreamEndpoints:
    """``/v1/client/fs/logs/:alloc`` and ``/v1/event/stream``; part of `_Api`."""

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
        try:
            self.require(req, namespace, "read-logs", "read-fs")
        except NomadEmulatorError:
            # The streaming path sets no status code on its errors: a denial comes back as 500 (Nomad 1.6-1.11).
            raise NomadEmulatorError(500, "Permission denied") from None
        with state.lock:
            if alloc_id not in state.allocs:
                raise NomadEmulatorError(404, f'Unknown allocation "{alloc_id}"')
            if alloc.client_status in ("lost", "unknown") or not self.emulator.node_reachable:
                # The server cannot reach the client node (gone, restarting or partitioned): 404, not 500.
                raise NomadEmulatorError(404, "No path to node")
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
        cut_after = self.emulator.logs_cut_after
        if cut_after is not None:
            chunk = data[start : start + cut_after]
            return _Response(
                200, b"", "text/plain; charset=utf-8" if plain else "application/json", stream=iter([chunk]), cut=True
            )
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
