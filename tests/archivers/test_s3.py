"""The S3 archiver against moto's S3 server over HTTP, through a real boto3 client."""

from __future__ import annotations

import base64
import io
import os
import tarfile
import uuid

import pytest

from striv.archivers import ArchiveConfigError, ArchiveError, LogSlice, RunLogs, get_archiver
from striv.archivers.s3 import S3Archiver

LOGS = RunLogs(tasks={"main": {"stdout": b"hello\nworld\n", "stderr": b"oops\n"}, "side car": {"stdout": b"side"}})


@pytest.fixture
def archiver(moto_endpoint, bucket) -> S3Archiver:
    return S3Archiver(f"s3://{bucket}", endpoint_url=moto_endpoint)


def object_keys(s3_client, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_store_then_load_returns_the_same_logs(archiver):
    key = archiver.run_key(execution_key="prod", job_id="6f1d", run_id="backup/periodic-1700000000")

    archiver.store(key=key, logs=LOGS)

    assert archiver.load(key=key) == LOGS
    assert archiver.exists(key=key)


def test_object_is_a_gzipped_tar_at_the_run_key(archiver, s3_client, bucket):
    key = archiver.run_key(execution_key="prod", job_id="6f1d", run_id="r 1")

    archiver.store(key=key, logs=LOGS)

    assert object_keys(s3_client, bucket) == ["prod/6f1d/r%201.tar.gz"]
    response = s3_client.get_object(Bucket=bucket, Key="prod/6f1d/r%201.tar.gz")
    assert response["ContentType"] == "application/gzip"
    assert "ContentEncoding" not in response  # so HTTP clients do not unpack it behind the reader's back
    with tarfile.open(fileobj=io.BytesIO(response["Body"].read()), mode="r:gz") as tar:
        assert tar.getnames() == ["index.json", "main/stdout", "main/stderr", "side%20car/stdout"]


def test_prefix_is_prepended_to_keys(moto_endpoint, bucket, s3_client):
    archiver = S3Archiver(f"s3://{bucket}/some/prefix/", endpoint_url=moto_endpoint)

    archiver.store(key="prod/j/r.tar.gz", logs=LOGS)

    assert archiver.prefix == "some/prefix"
    assert object_keys(s3_client, bucket) == ["some/prefix/prod/j/r.tar.gz"]
    assert archiver.load(key="prod/j/r.tar.gz") == LOGS
    assert S3Archiver(f"s3://{bucket}", endpoint_url=moto_endpoint).load(key="prod/j/r.tar.gz") is None


def test_absent_object_reads_as_none(archiver):
    assert archiver.load(key="prod/j/missing.tar.gz") is None
    assert not archiver.exists(key="prod/j/missing.tar.gz")
    assert archiver.read(key="prod/j/missing.tar.gz", task="main", stream="stdout") is None


def test_absent_task_or_stream_reads_as_none(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    assert archiver.read(key="a/b/c.tar.gz", task="nope", stream="stdout") is None
    assert archiver.read(key="a/b/c.tar.gz", task="side car", stream="stderr") is None


def test_read_slices_by_offset_tail_and_max_bytes(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    def read(**kwargs):
        return archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout", **kwargs)

    assert read() == LogSlice(b"hello\nworld\n", 0, 12, 12)
    assert read(offset=-6) == LogSlice(b"world\n", 6, 12, 12)
    assert read(offset=-6, max_bytes=3) == LogSlice(b"wor", 6, 9, 12)
    assert read(offset=9, max_bytes=100) == LogSlice(b"ld\n", 9, 12, 12)
    assert read(offset=12) == LogSlice(b"", 12, 12, 12)


def test_store_into_missing_bucket_raises_retryable_error_then_succeeds_once_it_exists(moto_endpoint, s3_client):
    name = f"striv-late-{uuid.uuid4().hex[:12]}"
    archiver = S3Archiver(f"s3://{name}/logs", endpoint_url=moto_endpoint)

    with pytest.raises(ArchiveError) as info:
        archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    assert info.value.retryable
    assert "NoSuchBucket" in info.value.message or "does not exist" in info.value.message
    assert archiver.load(key="a/b/c.tar.gz") is None

    s3_client.create_bucket(Bucket=name)
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    assert archiver.load(key="a/b/c.tar.gz") == LOGS


def test_unreachable_store_raises_retryable_error(bucket):
    # A port nothing listens on: the one of a server that has just been stopped.
    from tests.moto_server import moto_server_start

    server, endpoint_url = moto_server_start()
    server.stop()
    archiver = S3Archiver(f"s3://{bucket}", endpoint_url=endpoint_url)

    with pytest.raises(ArchiveError) as store_info:
        archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    with pytest.raises(ArchiveError) as read_info:
        archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout")

    assert store_info.value.retryable
    assert read_info.value.retryable


def test_large_log_is_kept_whole_through_multipart_upload(archiver, s3_client):
    # Random text barely compresses, so the encoded object crosses boto3's 8 MiB multipart threshold.
    data = base64.encodebytes(os.urandom(10 * 1024 * 1024))
    logs = RunLogs(tasks={"main": {"stdout": data}})

    archiver.store(key="a/b/big.tar.gz", logs=logs)

    tail = archiver.read(key="a/b/big.tar.gz", task="main", stream="stdout", offset=-100)
    assert tail.size == len(data)
    assert tail.data == data[-100:]
    assert archiver.load(key="a/b/big.tar.gz").tasks["main"]["stdout"] == data
    assert "-" in s3_client.head_object(Bucket=archiver.bucket, Key="a/b/big.tar.gz")["ETag"]  # multipart


def test_repeated_reads_download_the_object_once(archiver, monkeypatch):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    gets = []
    original_open = archiver._open
    monkeypatch.setattr(archiver, "_open", lambda key: gets.append(key) or original_open(key))

    for offset in (0, -3, 2):
        archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout", offset=offset)

    assert gets == ["a/b/c.tar.gz"]


def test_rewritten_object_is_downloaded_again(archiver, moto_endpoint):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout")
    other = S3Archiver(f"s3://{archiver.bucket}/", endpoint_url=moto_endpoint)  # another process, in effect

    other.store(key="a/b/c.tar.gz", logs=RunLogs(tasks={"main": {"stdout": b"rewritten"}}))

    assert archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout").data == b"rewritten"


def test_delete_removes_the_object_and_absent_is_fine(archiver, s3_client):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout")

    archiver.delete(key="a/b/c.tar.gz")
    archiver.delete(key="a/b/c.tar.gz")

    assert object_keys(s3_client, archiver.bucket) == []
    assert archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout") is None


def test_invalid_keys_are_refused(archiver):
    with pytest.raises(ArchiveError):
        archiver.store(key="../outside.tar.gz", logs=LOGS)


@pytest.mark.parametrize("url", ["s3:///prefix-without-bucket", "s3://bucket/p?versioned=1", "file:///x"])
def test_bad_s3_urls_are_refused(url):
    with pytest.raises(ArchiveConfigError):
        S3Archiver(url, endpoint_url=None)


def test_get_archiver_reads_endpoint_from_settings_for_s3(settings, moto_endpoint, bucket):
    settings.S3_ENDPOINT_URL = moto_endpoint
    settings.ARCHIVE = f"s3://{bucket}/archive"

    archiver = get_archiver()
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    assert isinstance(archiver, S3Archiver)
    assert archiver.endpoint_url == moto_endpoint
    assert get_archiver() is archiver
    assert archiver.load(key="a/b/c.tar.gz") == LOGS


def test_file_archiver_never_reads_s3_settings(settings, tmp_path):
    del settings.S3_ENDPOINT_URL
    settings.ARCHIVE = (tmp_path / "a").as_uri()

    assert get_archiver().name == "file"
