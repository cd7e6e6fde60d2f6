"""Evaluating state files: jsonnet errors name the file, line and column."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from striv.state.load import state_read
from striv.state.schema import StateError
from tests.state.helpers import load

pytestmark = pytest.mark.django_db


def test_evaluation_error_names_file_line_and_column(write_state):
    path = write_state("{\n  executions: {\n    x: 1 +,\n  },\n}\n")
    with pytest.raises(CommandError) as info:
        load(path)
    assert f"{path}:3:" in str(info.value)


def test_runtime_error_in_imported_file_names_that_file(write_state, tmp_path):
    path = write_state(
        "local lib = import 'lib.libsonnet';\n{ executions: lib.x }\n",
        **{"lib.libsonnet": "{\n  x: error 'broken library',\n}\n"},
    )
    with pytest.raises(CommandError) as info:
        load(path)
    assert "lib.libsonnet:2:" in str(info.value)
    assert "broken library" in str(info.value)


def test_state_read_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StateError, match="no such file"):
        state_read(tmp_path / "nope.jsonnet")
