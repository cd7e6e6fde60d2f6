"""Run services: reading a run's logs (archive first, then the cluster), archiving and pruning."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from striv.archivers import get_archiver
from striv.archivers.base import ArchiveError
from striv.drivers.base import DriverError
from striv.jobs.services import execution_driver
from striv.runs.models import Run

logger = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr")
DEFAULT_MAX_BYTES = 64 * 1024
MAX_MAX_BYTES = 4 * 1024 * 1024


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


class LogRequestError(ValueError):
    """The log request itself is wrong (unknown task or stream, bad offset); the message says which parameter."""


def run_task_names(run: Run) -> list[str]:
    return [task.get("name", "") for task in run.tasks or [] if task.get("name")]


def run_logs_read(
    *, run: Run, task: str | None = None, stream: str = "stdout", offset: int = 0, max_bytes: int | None = None
) -> LogRead:
    """Read ``max_bytes`` of a run's task log from ``offset`` (a negative offset counts from the end: a tail).

    The archived copy is used when there is one, otherwise the cluster's live log. When neither has it the answer
    says ``expired`` with no data. Raises LogRequestError for an unknown task or stream or a bad max_bytes.
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
        chunk = execution_driver(run.job.execution).fetch_logs(
            run_ref=run.external_id, task=task, stream=stream, offset=offset, max_bytes=max_bytes
        )
    except DriverError as exc:
        if exc.status == 404 or not exc.retryable:
            return LogRead(b"", max(offset, 0), max(offset, 0), "expired", running)
        raise
    return LogRead(chunk.data, chunk.offset, chunk.next_offset, "live", running)


def archive_url() -> str:
    return settings.ARCHIVE
