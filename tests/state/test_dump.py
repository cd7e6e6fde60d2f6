"""dump-state: prints what load-state accepts, and loading it back changes nothing."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from striv.state.dump import state_dump
from tests.conftest import EXAMPLES
from tests.state.helpers import load, snapshot

pytestmark = pytest.mark.django_db


def test_dump_state_round_trip_changes_nothing(write_state, tmp_path):
    load(EXAMPLES / "multi-customer" / "state.jsonnet")
    out = StringIO()
    call_command("dump-state", stdout=out)
    dumped = tmp_path / "dumped.json"
    dumped.write_text(out.getvalue())
    before = snapshot()
    assert "no changes" in load(dumped)
    assert snapshot() == before
    assert json.loads(out.getvalue()) == state_dump()
