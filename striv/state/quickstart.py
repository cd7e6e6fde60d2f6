"""The quick start's set-up on the embedded default: example state into an empty database, an admin login once.

``make run`` calls it on every start. It loads the example state only into a database without executions or jobs
(or the state file asked for), so a restart keeps the user's own executions and jobs; it creates the ``admin`` login
once, with a random password kept under ``var/`` (mode 0600), and never resets it (``create-login`` does, on purpose).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from striv.executions.models import Execution
from striv.jobs.models import Job
from striv.state.load import state_after_load, state_load, state_read
from striv.state.schema import state_parse


@dataclass(frozen=True)
class QuickStart:
    """What a start did: the state file loaded (None when the database's own was kept) and the login.

    ``password`` is set only when the login was created by this start.
    """

    loaded: str | None
    executions: int
    jobs: int
    username: str
    password: str | None
    password_file: Path


def secret_file_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (created 0600, never world-readable on the way)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _login_once(username: str, password_file: Path) -> str | None:
    model = get_user_model()
    with transaction.atomic():
        if model.objects.filter(username=username).exists():
            return None
        password = secrets.token_urlsafe(12)
        model.objects.create_superuser(username=username, password=password)
    secret_file_write(password_file, password + "\n")
    return password


def quickstart(*, state: str | None, default_state: str, username: str = "admin", password_file: Path) -> QuickStart:
    """Prepare a start: load ``state`` (or ``default_state`` into an empty database) and create the login once.

    Raises StateError when the state file does not load (nothing is changed then).
    """
    wanted = state or (default_state if not Execution.objects.exists() and not Job.objects.exists() else None)
    if wanted:
        diff = state_load(state=state_parse(state_read(wanted), source=wanted))
        state_after_load(diff)
    password = _login_once(username, password_file)
    return QuickStart(
        loaded=wanted,
        executions=Execution.objects.count(),
        jobs=Job.objects.count(),
        username=username,
        password=password,
        password_file=password_file,
    )
