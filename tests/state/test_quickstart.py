"""The quick start's set-up: example state into an empty database only, the admin login created once and kept."""

from __future__ import annotations

import json
import stat
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from striv.executions.models import Execution
from striv.jobs.models import Job
from tests.state.helpers import base_state, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def start(**options) -> str:
    out = StringIO()
    call_command("quickstart", stdout=out, **options)
    return out.getvalue()


def password_of(text: str) -> str:
    (line,) = [line for line in text.splitlines() if line.strip().startswith("password: ")]
    return line.split("password: ", 1)[1]


def test_first_start_loads_the_example_and_prints_the_new_admin_password_kept_owner_only(var_dir):
    text = start(url="http://127.0.0.1:8000/")
    assert "striv is ready (loaded state_examples/getting-started/hello-world.jsonnet): http://127.0.0.1:8000/" in text
    assert "  user: admin" in text
    password = password_of(text)
    assert authenticate(username="admin", password=password) is not None
    kept = var_dir / "admin-password"
    assert kept.read_text().strip() == password
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert list(Execution.objects.values_list("key", flat=True)) == ["hello_world"]
    assert len(text.strip().splitlines()) == 3  # one short block


def test_a_restart_keeps_the_password_and_the_data(var_dir):
    password = password_of(start())
    text = start()
    assert "kept your 1 executions and 0 jobs" in text
    assert "password: unchanged since the first start" in text and password not in text
    assert authenticate(username="admin", password=password) is not None
    assert (var_dir / "admin-password").read_text().strip() == password


def test_a_restart_after_loading_ones_own_state_keeps_it_and_starts(var_dir, write_state):
    start()
    call_command("load-state", str(write_state(base_state())), stdout=StringIO())
    make_job("acme nightly")
    text = start()
    assert "kept your 1 executions and 1 jobs" in text
    assert list(Execution.objects.values_list("key", flat=True)) == ["greeter"]
    assert list(Job.objects.values_list("name", flat=True)) == ["acme nightly"]


def test_a_state_asked_for_is_loaded_even_into_a_database_with_data(var_dir, write_state):
    start()
    path = write_state(base_state())
    text = start(state=str(path))
    assert "loaded" in text and path.name in text
    assert list(Execution.objects.values_list("key", flat=True)) == ["greeter"]


def test_a_state_that_does_not_load_is_refused_naming_the_file_and_changes_nothing(var_dir, write_state):
    start()
    path = write_state(json.dumps({"executions": {"x": {"driver": "nomad"}}}), name="broken.json")
    with pytest.raises(CommandError, match="broken.json"):
        start(state=str(path))
    assert list(Execution.objects.values_list("key", flat=True)) == ["hello_world"]
