"""manage.py load-state FILE [--dry-run]: replace executions and dimensions with a state file."""

import sys
from collections.abc import Iterable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from striv.state.load import state_after_load, state_load, state_read
from striv.state.schema import StateError, state_parse


class Command(BaseCommand):
    help = "Load executions and dimensions from a jsonnet/JSON state file (all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="state file (.jsonnet or .json); imports resolve relative to it")
        parser.add_argument("--dry-run", action="store_true", help="check and report, change nothing")

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        def progress(items: Iterable[Any], total: int) -> Iterable[Any]:
            return tqdm(items, total=total, desc="rendering jobs", unit="job", file=sys.stderr, leave=False)

        use_progress = sys.stderr.isatty()
        try:
            state = state_parse(state_read(file), source=file)
            diff = state_load(state=state, dry_run=dry_run, progress=progress if use_progress else None)
        except StateError as exc:
            raise CommandError(str(exc)) from None
        for line in diff.lines():
            self.stdout.write(line)
        if not dry_run:
            for line in state_after_load(diff, progress=progress if use_progress else None):
                self.stdout.write(line)
