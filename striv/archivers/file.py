"""Archive run logs as files under a local directory: ``file:///var/lib/striv/archive``.

Each run is one ``<execution>/<job>/<run>.tar.gz`` file. Writes go to a hidden temporary file in the same directory
and are renamed into place, so a reader (or an operator running ``tar xzf``) never sees half a file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from striv.archivers.base import ArchiveConfigError, ArchiveError, RunLogs
from striv.archivers.cache import ObjectArchiver
from striv.archivers.format import encode_run_logs, validate_key

logger = logging.getLogger(__name__)


class FileArchiver(ObjectArchiver):
    """Logs in a directory tree; the directory is created on the first write."""

    name = "file"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        if parts.scheme != "file":
            raise ArchiveConfigError(f"archive URL {url!r} is not a file:// URL")
        if parts.netloc not in ("", "localhost"):
            raise ArchiveConfigError(
                f"archive URL {url!r} names host {parts.netloc!r}; use file:///absolute/path (three slashes)"
            )
        if parts.query or parts.fragment:
            raise ArchiveConfigError(f"archive URL {url!r} must not have a query or fragment")
        path = url2pathname(unquote(parts.path))
        if not path or not os.path.isabs(path):
            raise ArchiveConfigError(f"archive URL {url!r} must name an absolute directory, e.g. file:///var/archive")
        self.root = Path(path)
        if self.root.exists() and not self.root.is_dir():
            raise ArchiveConfigError(f"archive path {self.root} exists and is not a directory")

    def path(self, key: str) -> Path:
        """Return the file holding the object ``key``. Raises ArchiveError for a key escaping the directory."""
        return self.root.joinpath(*validate_key(key).split("/"))

    def store(self, *, key: str, logs: RunLogs) -> None:
        """Write ``logs`` to a temporary file next to the target, flush it to disk and rename it into place.

        Raises ArchiveError(retryable=True) when any step fails; the temporary file is removed then.
        """
        target = self.path(key)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # os.open with 0o666 lets the umask decide the mode, as for any file the process creates.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as fileobj:
                    size = encode_run_logs(logs, fileobj)
                    fileobj.flush()
                    os.fsync(fileobj.fileno())
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            self._fsync_dir(target.parent)
        except OSError as exc:
            raise ArchiveError(f"cannot write archived logs {target}: {exc}", retryable=True) from exc
        finally:
            self._forget(key)
        logger.info("archived %s (%d bytes of logs)", target, size)

    def delete(self, *, key: str) -> None:
        """Remove the file of ``key``; absent is fine. Raises ArchiveError(retryable=True) when removal fails."""
        target = self.path(key)
        try:
            target.unlink(missing_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot delete archived logs {target}: {exc}", retryable=True) from exc
        finally:
            self._forget(key)

    def exists(self, *, key: str) -> bool:
        """Return whether the file of ``key`` exists."""
        return self.path(key).is_file()

    def _open(self, key: str) -> tuple[IO[bytes], str] | None:
        target = self.path(key)
        try:
            fileobj = open(target, "rb")  # the caller closes it
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ArchiveError(f"cannot read archived logs {target}: {exc}", retryable=True) from exc
        return fileobj, self._stat_version(os.fstat(fileobj.fileno()))

    def _version(self, key: str) -> str | None:
        target = self.path(key)
        try:
            return self._stat_version(target.stat())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ArchiveError(f"cannot read archived logs {target}: {exc}", retryable=True) from exc

    @staticmethod
    def _stat_version(stat: os.stat_result) -> str:
        # os.replace gives the path a new inode, so the inode alone already tells a rewrite apart.
        return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        # Makes the rename itself durable; some platforms and file systems cannot open directories.
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
