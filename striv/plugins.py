"""A plugin registry entry, shared by drivers and archivers: a label for people and a dotted path, imported on use.

Pure: imports no striv app, so the plugin packages may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class PluginEntry:
    """A registered plugin: what users read (``label``) and where its class is (``path``, a dotted path)."""

    label: str
    path: str

    def load(self) -> Any:
        """Import and return the plugin's class (raises ImportError when the path is wrong)."""
        return import_string(self.path)
