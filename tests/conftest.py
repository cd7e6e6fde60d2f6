"""Shared fixtures: encryption keys and state files on disk; the rest come from tests/fixtures.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from striv.core import crypto

pytest_plugins = ["tests.fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--nomad-paging",
        choices=["string", "numeric"],
        default=None,
        help="how the Nomad emulator compares pagination tokens: as Nomad 1.6.0-1.10.1 (string, the default) or "
        "1.10.2+ (numeric); the environment variable STRIV_NOMAD_PAGING sets the default",
    )


def pytest_configure(config: pytest.Config) -> None:
    from tests.emulators.nomad import emulator

    paging = config.getoption("--nomad-paging")
    if paging:
        emulator.DEFAULT_PAGING = paging


def pytest_report_header(config: pytest.Config) -> str:
    from tests.emulators.nomad import emulator

    return f"Nomad emulator paging: {emulator.DEFAULT_PAGING}"


REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "state_examples"


@pytest.fixture(scope="session")
def private_key() -> str:
    return crypto.key_generate()


@pytest.fixture(scope="session")
def other_private_key() -> str:
    return crypto.key_generate()


@pytest.fixture
def encryption_key(settings, private_key) -> str:
    """Configure secrets with a fresh key; returns the private key PEM."""
    settings.ENCRYPTION_KEY = private_key
    settings.ENCRYPTION_KEY_FILE = ""
    return private_key


@pytest.fixture
def no_encryption_key(settings) -> None:
    settings.ENCRYPTION_KEY = ""
    settings.ENCRYPTION_KEY_FILE = ""


@pytest.fixture
def write_state(tmp_path):
    """Write a state document (dict or jsonnet text) to a file and return its path."""

    def write(content: dict | str, name: str = "state.jsonnet", **extra_files: str) -> Path:
        for file_name, text in extra_files.items():
            (tmp_path / file_name).write_text(text)
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
        return path

    return write
