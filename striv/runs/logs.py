"""Reading a run's logs: striv's archived copy first, then the cluster's live log; slices trimmed for display."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Literal

from striv.archivers import get_archiver
from striv.archivers.base import ArchiveError
from striv.core.text import utf8_boundary
from striv.drivers.base import DriverError
from striv.runs.models import Run

logger = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr")
DEFAULT_MAX_BYTES = 64 * 1024
MAX_MAX_BYTES = 4 * 1024 * 1024
# How far into a tail the first line start is looked for, so that a tail begins with a whole line.
LINE_SEARCH_BYTES = 4096


@dataclass(frozen=True)
class LogRead:
    """A slice of one task's stdout or stderr.

    ``source`` is ``archive`` (striv's copy), ``live`` (read from the cluster) or ``expired`` (neither has it).
    ``next_offset`` is where to read on for new bytes; ``running`` is True while the run may still write.
    """

    data: bytes
    offset: int
    next_offset: int
    source: Literal["archive", "live", "expired"]
    running: bool
    size: int | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class LogText:
    """Log bytes decoded for display: ``text`` shows the stream from offset ``start`` up to (excluding) ``end``."""

    text: str
    start: int
    end: int


class LogRequestError(ValueError):
    """The log request itself is wrong (unknown task or stream, bad offset); the message says which parameter."""


def run_task_names(run: Run) -> list[str]:
    """Return the names of the run's tasks, as the refresher last saw them."""
    return [task.get("name", "") for task in run.tasks or [] if task.get("name")]


def run_logs_read(
    *, run: Run, task: str | None = None, stream: str = "stdout", offset: int = 0, max_bytes: int | None = None
) -> LogRead:
    """Read ``max_bytes`` of a run's task log from ``offset`` (a negative offset counts from the end: a tail).

    The archived copy is used when there is one, otherwise the cluster's live log. When neither has it the answer
    says ``expired`` with no data. Raises LogRequestError for an unknown task or stream or a bad max_bytes, and
    DriverError when the cluster cannot be reached (or cannot reach the node, or cut the stream short) or refuses
    the token (``status`` 403, not retryable).
    """
    if stream not in STREAMS:
        raise LogRequestError(f"stream must be one of {', '.join(STREAMS)}, not {stream!r}")
    tasks = run_task_names(run)
    if task is None:
        if not tasks:
            return LogRead(b"", 0, 0, "expired", not run.is_finished)
        task = tasks[0]
    elif tasks and task not in tasks:
        raise LogRequestError(f"task must be one of {', '.join(tasks)}, not {task!r}")
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if max_bytes < 1 or max_bytes > MAX_MAX_BYTES:
        raise LogRequestError(f"max_bytes must be between 1 and {MAX_MAX_BYTES}")
    running = not run.is_finished

    if run.archived_at and run.log_archive_key:
        try:
            piece = get_archiver().read(
                key=run.log_archive_key, task=task, stream=stream, offset=offset, max_bytes=max_bytes
            )
        except ArchiveError as exc:
            logger.warning("archived logs of run %s unreadable: %s", run.pk, exc.message)
            piece = None
        if piece is not None:
            return LogRead(piece.data, piece.offset, piece.next_offset, "archive", running, piece.size)

    try:
        chunk = run.job.execution.get_driver().fetch_logs(
            run_ref=run.external_id, task=task, stream=stream, offset=offset, max_bytes=max_bytes
        )
    except DriverError as exc:
        if exc.status == 403:
            raise  # a refusal of the token (Nomad's log ACL denial): shown as such, never as expired logs
        if exc.status == 404 or not exc.retryable:
            return LogRead(b"", max(offset, 0), max(offset, 0), "expired", running)
        raise
    return LogRead(chunk.data, chunk.offset, chunk.next_offset, "live", running)


# --- slices for display ------------------------------------------------------------------------------------------


def log_text(
    data: bytes, start: int, *, whole_head: bool = False, from_line: bool = False, whole_tail: bool = False
) -> LogText:
    """Decode ``data``, the stream's bytes from offset ``start``, for display (invalid bytes replaced).

    ``whole_head`` drops the end of a character cut off before ``data`` began; ``from_line`` also skips to the first
    line start (within LINE_SEARCH_BYTES), so a tail begins with a whole line; ``whole_tail`` holds back a character
    whose last bytes are not written yet. The returned offsets say where the shown text begins and ends, so the
    next read can pick up exactly there.
    """
    head = utf8_boundary(data, 0, forward=True) if whole_head else 0
    if from_line:
        newline = data.find(b"\n", head, head + LINE_SEARCH_BYTES)
        head = newline + 1 if newline >= 0 else head
    shown = data[head:]
    if whole_tail:
        shown = shown[: utf8_boundary(shown, len(shown))]
    return LogText(shown.decode("utf-8", errors="replace"), start + head, start + head + len(shown))


def log_tail_text(read: LogRead) -> LogText:
    """The text of a tail read: from a line start when it began mid-stream, the last character whole while live."""
    cut_before = read.offset > 0
    return log_text(read.data, read.offset, whole_head=cut_before, from_line=cut_before, whole_tail=read.running)


def log_read_whole_characters(read: LogRead) -> LogRead:
    """Return ``read`` without a character that ``max_bytes`` cut at its end; the next read starts with it.

    A read holding nothing but part of one character is returned unchanged, so a reader always moves on.
    """
    keep = utf8_boundary(read.data, len(read.data))
    if 0 < keep < len(read.data):
        return dataclasses.replace(read, data=read.data[:keep], next_offset=read.offset + keep)
    return read
