"""Archive run logs in an S3 bucket or an S3-compatible store: ``s3://bucket/optional/prefix``.

boto3 is an optional extra (``pip install striv[s3]``) imported on first use. Credentials and region come the boto3
way (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, instance roles...); ``STRIV_S3_ENDPOINT_URL`` points at a store other than
AWS. S3 makes an object visible only once its upload completes, so readers never see part of one.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from typing import IO, Any
from urllib.parse import urlsplit

from striv.archivers.base import ArchiveConfigError, ArchiveError, RunLogs
from striv.archivers.cache import ObjectArchiver
from striv.archivers.format import encode_run_logs, validate_key

logger = logging.getLogger(__name__)

#: Encoded objects up to this size stay in memory before upload; larger ones spill to a temporary file.
SPOOL_MAX_BYTES = 16 * 1024 * 1024
CONTENT_TYPE = "application/gzip"
_UNSET: Any = object()


class S3Archiver(ObjectArchiver):
    """Logs in a bucket under an optional prefix. The client is created on first use and shared by threads."""

    name = "s3"

    def __init__(self, url: str, *, endpoint_url: str | None = _UNSET, client: Any = None) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise ArchiveConfigError(f"archive URL {url!r} is not an s3:// URL")
        if not parts.netloc:
            raise ArchiveConfigError(f"archive URL {url!r} names no bucket; use s3://bucket or s3://bucket/prefix")
        if parts.query or parts.fragment:
            raise ArchiveConfigError(f"archive URL {url!r} must not have a query or fragment")
        self.bucket = parts.netloc
        self.prefix = "/".join(part for part in parts.path.split("/") if part)
        if endpoint_url is _UNSET:
            # Read here rather than in settings consumers, so S3 settings matter only when the archiver is s3.
            from django.conf import settings

            endpoint_url = getattr(settings, "S3_ENDPOINT_URL", None)
        self.endpoint_url = endpoint_url or None
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created on first use. Raises ArchiveConfigError when boto3 is not installed."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise ArchiveConfigError("the s3 archiver needs boto3: pip install 'striv[s3]'") from exc
        s3_options = {"addressing_style": "path"} if self.endpoint_url else {}
        config = Config(
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            s3=s3_options,
        )
        return boto3.session.Session().client("s3", endpoint_url=self.endpoint_url, config=config)

    def object_key(self, key: str) -> str:
        """Return the bucket key of the object ``key``: the prefix, a slash, then the key."""
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def store(self, *, key: str, logs: RunLogs) -> None:
        """Encode ``logs`` into a spooled temporary file and upload it (multipart when large).

        Raises ArchiveError(retryable=True) when the upload fails (store unreachable, bucket missing, denied).
        """
        object_key = self.object_key(key)
        try:
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES) as spool:
                size = encode_run_logs(logs, spool)
                spool.seek(0)
                self.client.upload_fileobj(spool, self.bucket, object_key, ExtraArgs={"ContentType": CONTENT_TYPE})
        except Exception as exc:
            if not _is_storage_error(exc):
                raise
            raise ArchiveError(
                f"cannot write archived logs s3://{self.bucket}/{object_key}: {exc}", retryable=True
            ) from exc
        finally:
            self._forget(key)
        logger.info("archived s3://%s/%s (%d bytes of logs)", self.bucket, object_key, size)

    def delete(self, *, key: str) -> None:
        """Delete the object of ``key``; absent is fine. Raises ArchiveError(retryable=True) when the call fails."""
        object_key = self.object_key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=object_key)
        except Exception as exc:
            if not _is_storage_error(exc):
                raise
            if _is_missing(exc):
                return
            raise ArchiveError(
                f"cannot delete archived logs s3://{self.bucket}/{object_key}: {exc}", retryable=True
            ) from exc
        finally:
            self._forget(key)

    def _open(self, key: str) -> tuple[IO[bytes], str] | None:
        """Download the object into a spooled temporary file, so network errors surface here as ArchiveError
        (retryable) rather than midway through decompression. Returns None when the object is absent."""
        object_key = self.object_key(key)
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
            with response["Body"] as body:
                shutil.copyfileobj(body, spool, 1024 * 1024)
        except Exception as exc:
            spool.close()
            self._read_failed(exc, object_key)
            return None
        spool.seek(0)
        return spool, response.get("ETag", "")

    def _version(self, key: str) -> str | None:
        object_key = self.object_key(key)
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=object_key)
        except Exception as exc:
            self._read_failed(exc, object_key)
            return None
        return response.get("ETag", "")

    def _read_failed(self, exc: Exception, object_key: str) -> None:
        """Return for a missing object (the caller answers None); raise anything else, as ArchiveError if retryable."""
        if not _is_storage_error(exc):
            raise exc
        if _is_missing(exc):
            return
        raise ArchiveError(f"cannot read archived logs s3://{self.bucket}/{object_key}: {exc}", retryable=True) from exc


def _is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the store or the network (botocore, boto3's transfer layer) rather than a bug."""
    if isinstance(exc, ArchiveError):  # e.g. boto3 missing: already explained, and boto3 cannot be imported
        return False
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError | Boto3Error | OSError)


def _is_missing(exc: BaseException) -> bool:
    """Whether a botocore ClientError says the object (or its bucket) does not exist."""
    response = getattr(exc, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    return code in ("NoSuchKey", "NoSuchBucket", "NotFound", "404")
