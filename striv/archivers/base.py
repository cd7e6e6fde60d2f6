"""The contract every log archiver honours, and the archive format they share.

When a run finishes, its tasks' stdout and stderr are written as one object per run: a gzip-compressed tar whose
members are ``<task>/<stream>`` plus an ``index.json`` naming the real tasks and streams, so an operator can open it
with ``tar xzf``. Archivers only decide where such objects live (a directory, an S3 bucket); encoding, key layout,
slicing and the in-process cache of decoded objects live here. This module does not import Django.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import IO, ClassVar
from urllib.parse import quote, unquote

logger = logging.getLogger(__name__)

#: Suffix of every run object; the content is a gzip-compressed tar.
SUFFIX = ".tar.gz"
#: Name of the member listing tasks, streams and sizes; written first so streaming readers meet it early.
INDEX_MEMBER = "index.json"
INDEX_FORMAT = "striv-run-logs/1"
#: Bound on the decoded objects kept in memory per process, so a polling viewer does not re-download each time.
CACHE_MAX_BYTES = 64 * 1024 * 1024
#: Longest key segment or member name kept verbatim; longer ones are cut and suffixed with a hash (file names are
#: limited to 255 bytes, and percent-encoding triples non-ASCII text).
MAX_SEGMENT = 180
#: Level 6 compresses logs nearly as well as 9 at a fraction of the time, which matters for large logs.
COMPRESS_LEVEL = 6


class ArchiveError(Exception):
    """Any failure storing or reading archived logs.

    ``retryable`` is True when the same call may succeed later (storage unreachable, a write that failed, a bucket
    not created yet): the refresher leaves the run unarchived and tries again on its next pass.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class ArchiveConfigError(ArchiveError, ValueError):
    """The archive URL (``STRIV_ARCHIVE``) or a related setting is invalid; never retryable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class RunLogs:
    """All logs of one run: ``{task name: {stream name: bytes}}``, streams usually ``stdout`` and ``stderr``."""

    tasks: dict[str, dict[str, bytes]]

    @property
    def size(self) -> int:
        """Total length of every stream, in bytes."""
        return sum(len(data) for streams in self.tasks.values() for data in streams.values())


@dataclass(frozen=True)
class LogSlice:
    """A slice of one archived stream: ``data`` starts at ``offset``; ``next_offset`` is where to continue and
    ``size`` is the stream's total length, so a viewer knows whether more is left."""

    data: bytes
    offset: int
    next_offset: int
    size: int


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


class DecodedCache:
    """A thread-safe LRU of decoded run objects, bounded by the total size of their logs.

    Each entry remembers the object's version (mtime and size, an ETag), so a rewritten object is read again.
    Objects larger than the whole bound are not cached.
    """

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], tuple[str, RunLogs, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], version: str) -> RunLogs | None:
        """Return the cached logs for ``key`` if cached at ``version``; drops a stale entry."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] != version:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[str, str], version: str, logs: RunLogs) -> None:
        """Remember ``logs`` for ``key`` at ``version``, evicting the least recently used entries to stay bounded."""
        size = logs.size + 1024  # a little for the dicts and names
        with self._lock:
            self._drop(key)
            if size > self.max_bytes:
                return
            self._entries[key] = (version, logs, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def discard(self, key: tuple[str, str]) -> None:
        """Forget ``key`` if cached."""
        with self._lock:
            self._drop(key)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]


#: One cache per process, shared by all archiver instances so the bound holds overall.
decoded_cache = DecodedCache()


class Archiver:
    """Base class of archivers. Subclasses set ``name`` (the URL scheme) and implement ``store``, ``exists``,
    ``delete`` and the two read hooks ``_open`` and ``_version``; ``load`` and ``read`` are built on those.

    ``url`` is the archive location (``STRIV_ARCHIVE``); ``__init__`` validates it without I/O and raises
    ArchiveConfigError (a ValueError) with a message naming the problem.
    """

    name: ClassVar[str] = ""

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    def run_key(self, *, execution_key: str, job_id: str, run_id: str) -> str:
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

    def store(self, *, key: str, logs: RunLogs) -> None:
        """Write ``logs`` as the object ``key``, replacing any previous one.

        Atomic: readers see the old object or the whole new one, never a part. Raises ArchiveError(retryable=True)
        when the write failed; nothing is visible then.
        """
        raise NotImplementedError

    def load(self, *, key: str) -> RunLogs | None:
        """Return every log of the object ``key``, or None when it does not exist.

        Raises ArchiveError when the storage fails (retryable) or the object is unreadable (not retryable).
        """
        cache_key = (self.url, key)
        version = self._version(key)
        if version is None:
            decoded_cache.discard(cache_key)
            return None
        logs = decoded_cache.get(cache_key, version)
        if logs is None:
            opened = self._open(key)
            if opened is None:
                decoded_cache.discard(cache_key)
                return None
            fileobj, version = opened
            try:
                logs = decode_run_logs(fileobj)
            except OSError as exc:
                raise ArchiveError(f"cannot read archived logs {key}: {exc}", retryable=True) from exc
            finally:
                fileobj.close()
            decoded_cache.put(cache_key, version, logs)
            logger.debug("decoded archived logs %s (%d bytes)", key, logs.size)
        # Shallow copies: callers may edit the dicts without touching the cached object.
        return RunLogs(tasks={task: dict(streams) for task, streams in logs.tasks.items()})

    def read(
        self, *, key: str, task: str, stream: str, offset: int = 0, max_bytes: int | None = None
    ) -> LogSlice | None:
        """Return a slice of one stream of the object ``key``; None when the object, task or stream is absent.

        ``offset`` counts from the start, or from the end when negative (``-5000`` is the last 5000 bytes); at most
        ``max_bytes`` are returned. Repeated reads of the same object are served from an in-process cache.
        Raises ArchiveError like ``load`` and ValueError for a negative ``max_bytes``.
        """
        logs = self.load(key=key)
        if logs is None:
            return None
        data = logs.tasks.get(task, {}).get(stream)
        if data is None:
            return None
        return log_slice(data, offset=offset, max_bytes=max_bytes)

    def exists(self, *, key: str) -> bool:
        """Return whether the object ``key`` exists. Raises ArchiveError(retryable=True) when storage fails."""
        return self._version(key) is not None

    def delete(self, *, key: str) -> None:
        """Remove the object ``key``; an absent object is not an error. Raises ArchiveError when storage fails."""
        raise NotImplementedError

    def _open(self, key: str) -> tuple[IO[bytes], str] | None:
        """Open the object ``key`` for reading; return the stream and the object's version, or None when absent."""
        raise NotImplementedError

    def _version(self, key: str) -> str | None:
        """Return a cheap token that changes when the object ``key`` is rewritten, or None when it is absent."""
        raise NotImplementedError

    def _forget(self, key: str) -> None:
        """Drop ``key`` from the decoded cache; subclasses call it after writing or deleting."""
        decoded_cache.discard((self.url, key))
