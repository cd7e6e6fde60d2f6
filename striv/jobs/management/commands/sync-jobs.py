"""manage.py sync-jobs [--all] [--execution KEY]: push out-of-sync jobs to their clusters."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from striv.executions.models import Execution
from striv.jobs import sync


class Command(BaseCommand):
    help = "Push jobs whose cluster copy is out of date (all jobs with --all) and finish pending deletions."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--all", action="store_true", help="push every job, even those believed in sync")
        parser.add_argument("--execution", metavar="KEY", help="only jobs of this execution")
        parser.add_argument("--workers", type=int, default=8, help="cluster calls at a time (default 8)")

    def handle(self, *args, all: bool, execution: str | None, workers: int, **options) -> None:
        if execution and not Execution.objects.filter(key=execution).exists():
            raise CommandError(f"no execution with key {execution!r}")
        if workers < 1:
            raise CommandError("--workers must be at least 1")

        def progress(items, total):
            return tqdm(items, total=total, desc="pushing", unit="job", file=sys.stderr, leave=False)

        jobs = sync.jobs_to_sync(all_jobs=all, execution_key=execution)
        report = sync.jobs_sync(
            jobs=jobs, force=all, workers=workers, progress=progress if sys.stderr.isatty() else None
        )
        for label, reason in report.failed:
            self.stdout.write(f"failed: {label}: {reason}")
        self.stdout.write(report.summary())
