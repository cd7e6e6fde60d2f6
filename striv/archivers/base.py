"""The contract every log archiver honours: the Archiver class, its errors and the dataclasses it returns.

Archivers decide where each run's logs live (a directory, an S3 bucket); the object format and key layout are in
``format.py``, and reading through an in-process cache of decoded objects in ``cache.py``. This module does not
import Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


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


class Archiver:
    """Base class of archivers. Subclasses set ``name`` (the URL scheme, also the registry key) and implement every
    method below; ``cache.ObjectArchiver`` implements the reading side for archivers that store one object per run.

    ``url`` is the archive location (``STRIV_ARCHIVE``); ``__init__`` validates it without I/O and raises
    ArchiveConfigError (a ValueError) with a message naming the problem.
    """

    name: ClassVar[str] = ""

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    def run_key(self, *, execution_key: str, job_id: str, run_id: str) -> str:
        """Return the key of a run's object; the same run always maps to the same key. Raises ValueError for an empty
        part."""
        raise NotImplementedError

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
        raise NotImplementedError

    def read(
        self, *, key: str, task: str, stream: str, offset: int = 0, max_bytes: int | None = None
    ) -> LogSlice | None:
        """Return a slice of one stream of the object ``key``; None when the object, task or stream is absent.

        ``offset`` counts from the start, or from the end when negative (``-5000`` is the last 5000 bytes); at most
        ``max_bytes`` are returned. Raises ArchiveError like ``load`` and ValueError for a negative ``max_bytes``.
        """
        raise NotImplementedError

    def exists(self, *, key: str) -> bool:
        """Return whether the object ``key`` exists. Raises ArchiveError(retryable=True) when storage fails."""
        raise NotImplementedError

    def delete(self, *, key: str) -> None:
        """Remove the object ``key``; an absent object is not an error. Raises ArchiveError when storage fails."""
        raise NotImplementedError
