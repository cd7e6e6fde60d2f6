"""The archive format every archiver writes, and the layout of its keys.

When a run finishes, its tasks' stdout and stderr are written as one object per run: a gzip-compressed tar whose
members are ``<task>/<stream>`` plus an ``index.json`` naming the real tasks and streams, so an operator can open it
with ``tar xzf``. Objects are keyed ``<execution key>/<job id>/<run id>.tar.gz``, each part made safe as one path
segment. This module does not import Django.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import time
import zlib
from typing import IO
from urllib.parse import quote, unquote

from striv.archivers.base import ArchiveError, LogSlice, RunLogs

logger = logging.getLogger(__name__)

#: Suffix of every run object; the content is a gzip-compressed tar.
SUFFIX = ".tar.gz"
#: Name of the member listing tasks, streams and sizes; written first so streaming readers meet it early.
INDEX_MEMBER = "index.json"
INDEX_FORMAT = "striv-run-logs/1"
#: Longest key segment or member name kept verbatim; longer ones are cut and suffixed with a hash (file names are
#: limited to 255 bytes, and percent-encoding triples non-ASCII text).
MAX_SEGMENT = 180
#: Level 6 compresses logs nearly as well as 9 at a fraction of the time, which matters for large logs.
COMPRESS_LEVEL = 6


# --- key layout --------------------------------------------------------------------------------------------------


def run_key(*, execution_key: str, job_id: str, run_id: str) -> str:
    """Return the key of a run's object: ``<execution key>/<job id>/<run id>.tar.gz``.

    Each part is made safe with key_segment (a Nomad run id such as ``job/periodic-1700000000`` becomes
    ``job%2Fperiodic-1700000000``), so the same run always maps to the same key. Raises ValueError for an empty
    part.
    """
    parts = {"execution_key": execution_key, "job_id": job_id, "run_id": run_id}
    for label, value in parts.items():
        if not value:
            raise ValueError(f"{label} must not be empty")
    return "/".join(key_segment(str(value)) for value in parts.values()) + SUFFIX


def key_segment(text: str) -> str:
    """Return ``text`` as one safe path segment: percent-encoded except ``A-Z a-z 0-9 _ . - ~``.

    The encoding is injective, so distinct names never share a segment; ``.`` and ``..`` are encoded too, and a
    segment longer than MAX_SEGMENT is cut and suffixed with a hash of the full text. Raises ValueError when empty.
    """
    if not text:
        raise ValueError("an archive key segment must not be empty")
    encoded = quote(text, safe="")
    if set(encoded) == {"."}:
        encoded = encoded.replace(".", "%2E")
    if len(encoded) > MAX_SEGMENT:
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        cut = encoded[: MAX_SEGMENT - 17]
        # Never cut inside a %XX escape.
        if "%" in cut[-2:]:
            cut = cut[: cut.rindex("%")]
        encoded = f"{cut}~{digest}"
    return encoded


def validate_key(key: str) -> str:
    """Return ``key`` if it is a relative, normalised object key (no empty, ``.`` or ``..`` segments).

    Raises ArchiveError (not retryable) otherwise, so a key can never point outside the archive.
    """
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ArchiveError(f"invalid archive key {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ArchiveError(f"invalid archive key {key!r}")
    return key


# --- encoding and decoding ---------------------------------------------------------------------------------------


def encode_run_logs(logs: RunLogs, fileobj: IO[bytes]) -> int:
    """Write ``logs`` to ``fileobj`` as a gzip-compressed tar; returns the number of decoded bytes written.

    Members are ``index.json`` then ``<task>/<stream>`` for each stream, names made safe with key_segment and the real
    names kept in the index. Raises TypeError when a stream is not bytes.
    """
    entries: list[tuple[str, str, str, bytes]] = []
    used: set[str] = {INDEX_MEMBER}
    for task, streams in logs.tasks.items():
        task_dir = _member_segment(task)
        for stream, data in streams.items():
            if not isinstance(data, bytes | bytearray | memoryview):
                raise TypeError(f"log of task {task!r} stream {stream!r} must be bytes, not {type(data).__name__}")
            member = f"{task_dir}/{_member_segment(stream)}"
            # Truncated names could in theory collide; keep members unique, the index says which is which.
            base, n = member, 1
            while member in used:
                n += 1
                member = f"{base}~{n}"
            used.add(member)
            entries.append((task, stream, member, bytes(data) if not isinstance(data, bytes) else data))

    index: dict = {"format": INDEX_FORMAT, "tasks": []}
    by_task: dict[str, dict] = {}
    for task, stream, member, data in entries:
        if task not in by_task:
            by_task[task] = {"task": task, "streams": {}}
            index["tasks"].append(by_task[task])
        by_task[task]["streams"][stream] = {"member": member, "size": len(data)}
    for task in logs.tasks:  # a task without streams still appears in the index
        if task not in by_task:
            by_task[task] = {"task": task, "streams": {}}
            index["tasks"].append(by_task[task])

    now = int(time.time())
    total = 0
    with tarfile.open(fileobj=fileobj, mode="w:gz", compresslevel=COMPRESS_LEVEL, format=tarfile.PAX_FORMAT) as tar:
        index_bytes = json.dumps(index, indent=2, ensure_ascii=False).encode() + b"\n"
        tar.addfile(_tar_info(INDEX_MEMBER, len(index_bytes), now), io.BytesIO(index_bytes))
        for _task, _stream, member, data in entries:
            # BytesIO over a bytes object shares its buffer, so a large log is not copied again here.
            tar.addfile(_tar_info(member, len(data), now), io.BytesIO(data))
            total += len(data)
    return total


def _member_segment(name: str) -> str:
    # An empty name cannot be a path segment; "%00" is what key_segment would make of a NUL, and uniqueness of
    # members is enforced separately.
    return key_segment(name) if name else "%00"


def _tar_info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    return info


def decode_run_logs(fileobj: IO[bytes]) -> RunLogs:
    """Read an object written by encode_run_logs (read sequentially, so ``fileobj`` may be a network stream).

    Returns the logs with real task and stream names from the index; without an index, names come from the member
    paths. Raises ArchiveError (not retryable) when the object is not a readable gzip tar; errors of ``fileobj``
    itself (OSError...) propagate.
    """
    members: dict[str, bytes] = {}
    index: dict | None = None
    tasks: dict[str, dict[str, bytes]] = {}
    try:
        with tarfile.open(fileobj=fileobj, mode="r|gz") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                extracted = tar.extractfile(info)
                data = extracted.read() if extracted is not None else b""
                if info.name == INDEX_MEMBER and index is None:
                    index = json.loads(data)
                else:
                    members[info.name] = data
        if isinstance(index, dict) and index.get("format") == INDEX_FORMAT:
            for entry in index["tasks"]:
                streams = tasks.setdefault(entry["task"], {})
                for stream, meta in entry["streams"].items():
                    streams[stream] = members.get(meta["member"], b"")
        else:
            for name, data in members.items():
                task, _, stream = name.rpartition("/")
                tasks.setdefault(unquote(task), {})[unquote(stream)] = data
    except (tarfile.TarError, EOFError, zlib.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        # A corrupt or foreign object: reading it again would fail the same way. I/O errors propagate.
        raise ArchiveError(f"archived logs are unreadable: {exc}", retryable=False) from exc
    return RunLogs(tasks=tasks)


def log_slice(data: bytes, *, offset: int = 0, max_bytes: int | None = None) -> LogSlice:
    """Return the slice of ``data`` starting at ``offset`` (from the end when negative), at most ``max_bytes`` long.

    An offset past the end gives an empty slice at the end. Raises ValueError for a negative ``max_bytes``.
    """
    if max_bytes is not None and max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    size = len(data)
    start = max(0, size + offset) if offset < 0 else min(offset, size)
    end = size if max_bytes is None else min(size, start + max_bytes)
    return LogSlice(data=data[start:end], offset=start, next_offset=end, size=size)
