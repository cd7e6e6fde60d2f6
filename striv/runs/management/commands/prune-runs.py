"""manage.py prune-runs --older-than 90d [--dry-run]: delete old runs and their archived logs."""

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from striv.runs.archive import runs_prune

UNITS = {"d": "days", "h": "hours", "w": "weeks", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """Parse ``90d``, ``12h``, ``2w`` or ``30m`` into a timedelta; raises ValueError naming the expected form."""
    match = re.fullmatch(r"(\d+)([dhwm])", text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"--older-than must be a positive number with a unit d, h, w or m (e.g. 90d), not {text!r}")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = "Delete runs older than a limit together with their archived logs. Nothing younger is touched."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", required=True, help="age limit, e.g. 90d, 12h, 2w")
        parser.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")

    def handle(self, *args, older_than: str, dry_run: bool, **options) -> None:
        try:
            age = parse_age(older_than)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        report = runs_prune(older_than=age, dry_run=dry_run)
        for failure in report.failures:
            self.stdout.write(f"kept: {failure}")
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(f"{verb} {report.runs} runs and {report.archives} archived logs older than {older_than}")
