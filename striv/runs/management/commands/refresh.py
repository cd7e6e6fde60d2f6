"""manage.py refresh [--loop --interval SECONDS]: discover runs, keep their status, archive finished runs' logs."""

import logging
import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from striv.jobs import sync as job_sync
from striv.runs import refresh

logger = logging.getLogger("striv.refresh")


class Command(BaseCommand):
    help = (
        "One refresh pass over every cluster: new runs, status of unfinished runs, archived logs. With --loop, "
        "repeat every --interval seconds (also retrying pending job pushes) until SIGTERM or SIGINT; the current "
        "pass is finished first."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="repeat until stopped")
        parser.add_argument("--interval", type=float, default=30.0, help="seconds between passes (default 30)")
        parser.add_argument("--archive-limit", type=int, default=500, help="runs archived per pass at most")
        parser.add_argument("--no-archive", action="store_true", help="discover runs only")

    def handle(self, *args, loop: bool, interval: float, archive_limit: int, no_archive: bool, **options) -> None:
        if interval <= 0 or archive_limit < 0:
            raise CommandError("--interval must be positive and --archive-limit not negative")
        self.stopping = False
        if loop:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        while True:
            started = time.monotonic()
            report = refresh.runs_refresh(archive=not no_archive, archive_limit=archive_limit)
            line = f"refresh: {report.summary()}"
            if loop:
                sync = job_sync.jobs_sync(jobs=job_sync.jobs_to_sync(due_only=True))
                line += f"; job sync: {sync.summary()}"
            for failure in report.failures:
                logger.warning("refresh failure: %s", failure)
            self.stdout.write(line)
            if not loop or self.stopping:
                return
            close_old_connections()
            deadline = started + interval
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            if self.stopping:
                return

    def _stop(self, signum, frame) -> None:
        logger.info("signal %s received: stopping after the current pass", signum)
        self.stopping = True
