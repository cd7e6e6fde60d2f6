"""manage.py dump-state: print the executions and dimensions as JSON that load-state accepts."""

import json
from typing import Any

from django.core.management.base import BaseCommand

from striv.state.dump import state_dump


class Command(BaseCommand):
    help = "Print the current executions and dimensions as a state file (JSON)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(state_dump(), indent=2, sort_keys=True))
