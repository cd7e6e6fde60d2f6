"""The archiver registry: one entry per plugin, with its label and dotted path, imported on first use."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from striv.archivers import ARCHIVERS, ArchiveConfigError, ArchiverEntry, archiver_class, get_archiver
from striv.archivers.base import Archiver

REPO = Path(__file__).resolve().parents[2]


def test_each_entry_has_a_label_and_the_path_of_a_class_named_after_its_key():
    assert set(ARCHIVERS) == {"file", "s3"}
    for key, entry in ARCHIVERS.items():
        assert isinstance(entry, ArchiverEntry) and entry.label
        assert entry.path == f"striv.archivers.{key}.{archiver_class(key).__name__}"
        assert issubclass(archiver_class(key), Archiver) and archiver_class(key).name == key


def test_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ARCHIVERS["file"].path = "elsewhere"  # type: ignore[misc]


def test_an_unknown_scheme_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ArchiveConfigError, match="file://, s3://"):
        get_archiver("ftp://example.invalid/archive")


def test_plugins_are_imported_on_first_use_and_import_no_app():
    # A fresh interpreter without Django set up: importing the archivers must not need, or load, any app.
    script = (
        "import sys\n"
        "import striv.archivers\n"
        "assert 'striv.archivers.s3' not in sys.modules and 'striv.archivers.file' not in sys.modules\n"
        "from striv.archivers import archiver_class\n"
        "archiver_class('file'); archiver_class('s3')\n"
        "loaded = {m for m in sys.modules if m.startswith('striv.')}\n"
        "assert {'striv.archivers.file', 'striv.archivers.s3'} <= loaded, loaded\n"
        "assert all(m.split('.')[1] in ('archivers', 'plugins') for m in loaded), loaded\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
