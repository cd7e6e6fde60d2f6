"""Reading archived objects through an in-process cache of their decoded logs.

``ObjectArchiver`` is the base of the archivers that keep each run as one object in the archive format (file, s3):
it builds ``load`` and ``read`` on two hooks, ``_open`` and ``_version``, and keeps decoded objects in one
process-wide cache, so a viewer polling a log does not download and decompress it again each time.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import IO

from striv.archivers.base import ArchiveError, Archiver, LogSlice, RunLogs
from striv.archivers.format import decode_run_logs, log_slice, run_key

logger = logging.getLogger(__name__)

#: Bound on the decoded objects kept in memory per process, so a polling viewer does not re-download each time.
CACHE_MAX_BYTES = 64 * 1024 * 1024


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


class ObjectArchiver(Archiver):
    """An archiver storing each run as one object in the archive format, read through the decoded cache.

    Subclasses implement ``store``, ``delete`` and the two read hooks ``_open`` and ``_version``, and call
    ``_forget`` after writing or deleting an object.
    """

    def run_key(self, *, execution_key: str, job_id: str, run_id: str) -> str:
        """Return the key of a run's object, as laid out by ``format.run_key``. Raises ValueError for an empty part."""
        return run_key(execution_key=execution_key, job_id=job_id, run_id=run_id)

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

    def _open(self, key: str) -> tuple[IO[bytes], str] | None:
        """Open the object ``key`` for reading; return the stream and the object's version, or None when absent."""
        raise NotImplementedError

    def _version(self, key: str) -> str | None:
        """Return a cheap token that changes when the object ``key`` is rewritten, or None when it is absent."""
        raise NotImplementedError

    def _forget(self, key: str) -> None:
        """Drop ``key`` from the decoded cache; subclasses call it after writing or deleting."""
        decoded_cache.discard((self.url, key))
