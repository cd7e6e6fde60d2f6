"""Log archivers: a registry from URL scheme to archiver, each imported on first use.

``STRIV_ARCHIVE`` is a URL whose scheme picks the archiver: ``file:///var/lib/striv/archive`` or
``s3://bucket/prefix``. Instances are cached per URL, and the cache is dropped when a test changes the settings.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.signals import setting_changed

from striv.archivers.base import ArchiveConfigError, ArchiveError, LogSlice, RunLogs
from striv.plugins import PluginEntry

if TYPE_CHECKING:
    from striv.archivers.base import Archiver

__all__ = [
    "ARCHIVERS",
    "ArchiveConfigError",
    "ArchiveError",
    "ArchiverEntry",
    "LogSlice",
    "RunLogs",
    "archiver_class",
    "get_archiver",
]


class ArchiverEntry(PluginEntry):
    """One archiver plugin: a label for people, and the dotted path of its class (imported on first use)."""


#: The archivers, keyed by the URL scheme that selects them; the key equals the module name and the class's name.
ARCHIVERS: dict[str, ArchiverEntry] = {
    "file": ArchiverEntry("Local directory", "striv.archivers.file.FileArchiver"),
    "s3": ArchiverEntry("S3 bucket (or S3-compatible store)", "striv.archivers.s3.S3Archiver"),
}

_instances: dict[str, Archiver] = {}
_instances_lock = threading.Lock()


@cache
def archiver_class(scheme: str) -> type[Archiver]:
    """Return the archiver class registered for URL scheme ``scheme``; raises KeyError when none is."""
    cls: type[Archiver] = ARCHIVERS[scheme].load()
    return cls


def get_archiver(url: str | None = None) -> Archiver:
    """Return the archiver for ``url`` (default ``settings.ARCHIVE``), one shared instance per URL.

    Raises ArchiveConfigError (a ValueError) for a URL with an unknown scheme or invalid for its archiver.
    """
    if url is None:
        from django.conf import settings

        url = settings.ARCHIVE
    archiver = _instances.get(url)
    if archiver is not None:
        return archiver
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ARCHIVERS:
        known = ", ".join(f"{key}://" for key in ARCHIVERS)
        raise ArchiveConfigError(f"archive URL {url!r} has no known scheme; use one of {known}")
    with _instances_lock:
        archiver = _instances.get(url)
        if archiver is None:
            archiver = _instances[url] = archiver_class(scheme)(url)
    return archiver


def clear_archivers() -> None:
    """Forget the cached instances, so the next get_archiver reads the settings again."""
    with _instances_lock:
        _instances.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("ARCHIVE", "S3_ENDPOINT_URL"):
        clear_archivers()


setting_changed.connect(_on_setting_changed, dispatch_uid="striv.archivers.settings")
