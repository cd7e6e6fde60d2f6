"""manage.py quickstart [--state FILE] [--url URL]: the set-up ``make run`` does on each start, then a short block."""

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from striv.state.quickstart import quickstart
from striv.state.schema import StateError

DEFAULT_STATE = "state_examples/getting-started/hello-world.jsonnet"


class Command(BaseCommand):
    help = (
        "Load the example state into an empty database (or --state / STRIV_STATE), create the admin login once "
        "(its password kept in var/admin-password), and print where to log in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--state", default=os.environ.get("STRIV_STATE") or None, help="state file to load")
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="the address striv will serve")

    def handle(self, *args: Any, state: str | None, url: str, **options: Any) -> None:
        default = str(settings.BASE_DIR / DEFAULT_STATE)
        try:
            start = quickstart(state=state, default_state=default, password_file=settings.VAR_DIR / "admin-password")
        except StateError as exc:
            raise CommandError(str(exc)) from None
        if start.loaded:
            what = f"loaded {os.path.relpath(start.loaded, settings.BASE_DIR)}"
        else:
            what = f"kept your {start.executions} executions and {start.jobs} jobs"
        if start.password:
            password = f"password: {start.password}"
        else:
            kept = os.path.relpath(start.password_file, settings.BASE_DIR)
            password = f"password: unchanged since the first start ({kept}; `manage.py create-login admin` resets it)"
        self.stdout.write(f"\nstriv is ready ({what}): {url}\n  user: {start.username}\n  {password}\n")
