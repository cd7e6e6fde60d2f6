"""manage.py dump-state: print the executions and dimensions as JSON that load-state accepts."""

import json

from django.core.management.base import BaseCommand

from striv.core.state import state_dump


class Command(BaseCommand):
    help = "Print the current executions and dimensions as a state file (JSON)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(state_dump(), indent=2, sort_keys=True))
