"""The file archiver and the shared archive format, against a temporary directory."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from striv.archivers import ArchiveConfigError, ArchiveError, LogSlice, RunLogs, get_archiver
from striv.archivers.cache import DecodedCache
from striv.archivers.file import FileArchiver
from striv.archivers.format import key_segment, log_slice

LOGS = RunLogs(
    tasks={
        "main": {"stdout": b"hello\nworld\n", "stderr": b"warning: x\n"},
        "log-shipper": {"stdout": b"", "stderr": b"shipped\n"},
    }
)


@pytest.fixture
def archiver(tmp_path: Path) -> FileArchiver:
    return FileArchiver((tmp_path / "archive").as_uri())


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_store_then_load_returns_the_same_logs(archiver):
    key = archiver.run_key(execution_key="prod", job_id="0b6c", run_id="r1")

    archiver.store(key=key, logs=LOGS)

    assert archiver.load(key=key) == LOGS
    assert archiver.exists(key=key)


def test_run_key_is_execution_job_run_with_tar_gz_suffix(archiver):
    key = archiver.run_key(execution_key="prod", job_id="6f1d0c3e-uuid", run_id="backup/periodic-1700000000")

    assert key == "prod/6f1d0c3e-uuid/backup%2Fperiodic-1700000000.tar.gz"
    assert archiver.run_key(execution_key="prod", job_id="6f1d0c3e-uuid", run_id="backup/periodic-1700000000") == key


def test_store_writes_one_file_at_the_key(archiver):
    key = archiver.run_key(execution_key="prod", job_id="j", run_id="r 1")

    archiver.store(key=key, logs=LOGS)

    assert all_files(archiver.root) == ["prod/j/r%201.tar.gz"]


def test_load_of_absent_object_returns_none(archiver):
    assert archiver.load(key="prod/j/nothing.tar.gz") is None
    assert not archiver.exists(key="prod/j/nothing.tar.gz")
    assert archiver.read(key="prod/j/nothing.tar.gz", task="main", stream="stdout") is None


def test_read_of_absent_task_or_stream_returns_none(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    assert archiver.read(key="a/b/c.tar.gz", task="nope", stream="stdout") is None
    assert archiver.read(key="a/b/c.tar.gz", task="main", stream="stdin") is None


def test_read_returns_whole_stream_by_default(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    assert archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout") == LogSlice(
        data=b"hello\nworld\n", offset=0, next_offset=12, size=12
    )


def test_read_negative_offset_returns_the_tail(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    tail = archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout", offset=-6)

    assert tail == LogSlice(data=b"world\n", offset=6, next_offset=12, size=12)


def test_read_tail_longer_than_stream_returns_everything(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    tail = archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout", offset=-5000)

    assert tail == LogSlice(data=b"hello\nworld\n", offset=0, next_offset=12, size=12)


def test_read_offset_and_max_bytes_page_through_a_stream(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    pages, offset = [], 0
    while True:
        page = archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout", offset=offset, max_bytes=5)
        if not page.data:
            break
        pages.append(page.data)
        offset = page.next_offset

    assert pages == [b"hello", b"\nworl", b"d\n"]
    assert offset == 12


def test_read_offset_past_the_end_returns_an_empty_slice_at_the_end(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    assert archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout", offset=99) == LogSlice(
        data=b"", offset=12, next_offset=12, size=12
    )


def test_log_slice_rejects_negative_max_bytes():
    with pytest.raises(ValueError):
        log_slice(b"abc", max_bytes=-1)


def test_empty_stream_round_trips(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    assert archiver.read(key="a/b/c.tar.gz", task="log-shipper", stream="stdout") == LogSlice(b"", 0, 0, 0)


def test_tar_members_are_index_then_task_streams(archiver):
    logs = RunLogs(tasks={"main": {"stdout": b"out", "stderr": b"err"}, "my task/é": {"stdout": b"x"}})
    archiver.store(key="a/b/c.tar.gz", logs=logs)

    with tarfile.open(archiver.path("a/b/c.tar.gz"), "r:gz") as tar:
        names = tar.getnames()
        index = json.load(tar.extractfile("index.json"))
        weird = tar.extractfile("my%20task%2F%C3%A9/stdout").read()

    assert names == ["index.json", "main/stdout", "main/stderr", "my%20task%2F%C3%A9/stdout"]
    assert weird == b"x"
    assert index["format"] == "striv-run-logs/1"
    assert index["tasks"] == [
        {
            "task": "main",
            "streams": {"stdout": {"member": "main/stdout", "size": 3}, "stderr": {"member": "main/stderr", "size": 3}},
        },
        {"task": "my task/é", "streams": {"stdout": {"member": "my%20task%2F%C3%A9/stdout", "size": 1}}},
    ]


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs the tar command")
def test_operator_can_extract_the_object_with_tar_xzf(archiver, tmp_path):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    out = tmp_path / "out"
    out.mkdir()

    subprocess.run(["tar", "xzf", str(archiver.path("a/b/c.tar.gz"))], cwd=out, check=True)

    assert (out / "main" / "stdout").read_bytes() == b"hello\nworld\n"
    assert (out / "log-shipper" / "stderr").read_bytes() == b"shipped\n"


def test_odd_task_names_round_trip_and_stay_inside_the_object(archiver):
    logs = RunLogs(
        tasks={
            "a/b": {"stdout": b"slash"},
            "with space": {"stdout": b"space"},
            "日本語": {"stdout": b"unicode"},
            "..": {"stdout": b"dots"},
            "%2E%2E": {"stdout": b"already encoded"},
            "x" * 400: {"stdout": b"long"},
        }
    )
    key = archiver.run_key(execution_key="ex/ec", job_id="..", run_id="../../etc/passwd")

    archiver.store(key=key, logs=logs)

    assert archiver.load(key=key) == logs
    assert all_files(archiver.root) == ["ex%2Fec/%2E%2E/..%2F..%2Fetc%2Fpasswd.tar.gz"]
    with tarfile.open(archiver.path(key), "r:gz") as tar:
        names = tar.getnames()
    assert len(names) == len(set(names)) == 7
    assert all(".." not in name.split("/") and not name.startswith("/") for name in names)
    assert all(len(part.encode()) < 255 for name in names for part in name.split("/"))


def test_key_segment_is_injective_on_lookalikes():
    names = ["a/b", "a%2Fb", "a_b", "a b", ".", "..", "%2E"]

    assert len({key_segment(name) for name in names}) == len(names)


def test_keys_escaping_the_directory_are_refused(archiver):
    for key in ["../x.tar.gz", "/etc/x.tar.gz", "a/../../x.tar.gz", "", "a//b"]:
        with pytest.raises(ArchiveError):
            archiver.store(key=key, logs=LOGS)


def test_run_key_refuses_empty_parts(archiver):
    with pytest.raises(ValueError):
        archiver.run_key(execution_key="prod", job_id="", run_id="r")


def test_large_log_is_kept_whole(archiver):
    lines = b"".join(
        b"%08d 2024-01-01T00:00:00Z job step progress line with some payload\n" % i for i in range(300_000)
    )
    assert len(lines) > 20_000_000
    logs = RunLogs(tasks={"main": {"stdout": lines, "stderr": b"done\n"}})

    archiver.store(key="a/b/big.tar.gz", logs=logs)

    assert archiver.path("a/b/big.tar.gz").stat().st_size < len(lines) // 4  # compressed
    tail = archiver.read(key="a/b/big.tar.gz", task="main", stream="stdout", offset=-69)
    assert tail.data == b"00299999 2024-01-01T00:00:00Z job step progress line with some payload\n"[-69:]
    assert tail.size == len(lines)
    assert archiver.load(key="a/b/big.tar.gz").tasks["main"]["stdout"] == lines


def test_store_replaces_an_existing_object(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout")  # cached

    archiver.store(key="a/b/c.tar.gz", logs=RunLogs(tasks={"main": {"stdout": b"second"}}))

    assert archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout").data == b"second"


def test_failed_rename_raises_retryable_error_and_leaves_nothing(archiver, monkeypatch):
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)

    with pytest.raises(ArchiveError) as info:
        archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    assert info.value.retryable
    assert "No space left" in info.value.message
    assert all_files(archiver.root) == []
    assert archiver.load(key="a/b/c.tar.gz") is None


def test_failed_rewrite_keeps_the_previous_object(archiver, monkeypatch):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(ArchiveError) as info:
        archiver.store(key="a/b/c.tar.gz", logs=RunLogs(tasks={"main": {"stdout": b"new"}}))
    monkeypatch.undo()

    assert info.value.retryable
    assert all_files(archiver.root) == ["a/b/c.tar.gz"]
    assert archiver.load(key="a/b/c.tar.gz") == LOGS


def test_unwritable_location_raises_retryable_error(tmp_path):
    (tmp_path / "archive").write_text("a file where the directory should be")
    blocked = FileArchiver((tmp_path / "archive" / "sub").as_uri())

    with pytest.raises(ArchiveError) as info:
        blocked.store(key="a/b/c.tar.gz", logs=LOGS)

    assert info.value.retryable


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_raises_retryable_error_and_leaves_nothing(archiver):
    target_dir = archiver.root / "a" / "b"
    target_dir.mkdir(parents=True)
    target_dir.chmod(0o555)
    try:
        with pytest.raises(ArchiveError) as info:
            archiver.store(key="a/b/c.tar.gz", logs=LOGS)
        assert info.value.retryable
        assert list(target_dir.iterdir()) == []
    finally:
        target_dir.chmod(0o755)


def test_store_rejects_non_bytes_logs_without_leaving_a_temp_file(archiver):
    with pytest.raises(TypeError):
        archiver.store(key="a/b/c.tar.gz", logs=RunLogs(tasks={"main": {"stdout": "text"}}))

    assert all_files(archiver.root) == []


def test_delete_removes_the_object_and_absent_is_fine(archiver):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout")

    archiver.delete(key="a/b/c.tar.gz")
    archiver.delete(key="a/b/c.tar.gz")

    assert not archiver.exists(key="a/b/c.tar.gz")
    assert archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout") is None


def test_repeated_reads_decode_the_object_once(archiver, monkeypatch):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    opened = []
    original_open = archiver._open
    monkeypatch.setattr(archiver, "_open", lambda key: opened.append(key) or original_open(key))

    for offset in (0, -3, 5):
        archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout", offset=offset)

    assert opened == ["a/b/c.tar.gz"]


def test_object_replaced_by_another_process_is_read_again(archiver, tmp_path):
    archiver.store(key="a/b/c.tar.gz", logs=LOGS)
    archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout")
    other = FileArchiver(archiver.url + "/")  # another instance: its writes do not touch this instance's cache key

    other.store(key="a/b/c.tar.gz", logs=RunLogs(tasks={"main": {"stdout": b"rewritten"}}))

    assert archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout").data == b"rewritten"


def test_decoded_cache_stays_within_its_byte_bound():
    cache = DecodedCache(max_bytes=10_000)
    for i in range(10):
        cache.put(("u", str(i)), "v", RunLogs(tasks={"t": {"stdout": b"x" * 3000}}))

    assert cache.total_bytes <= 10_000
    assert cache.get(("u", "9"), "v") is not None
    assert cache.get(("u", "0"), "v") is None
    assert cache.get(("u", "9"), "other-version") is None


def test_decoded_cache_skips_objects_larger_than_the_bound():
    cache = DecodedCache(max_bytes=1000)
    cache.put(("u", "big"), "v", RunLogs(tasks={"t": {"stdout": b"x" * 5000}}))

    assert cache.get(("u", "big"), "v") is None
    assert cache.total_bytes == 0


def test_unreadable_object_raises_non_retryable_error(archiver):
    path = archiver.path("a/b/c.tar.gz")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a gzip file")

    with pytest.raises(ArchiveError) as info:
        archiver.load(key="a/b/c.tar.gz")

    assert not info.value.retryable


def test_tar_without_index_is_read_from_member_paths(archiver):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("my%20task/stdout")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    path = archiver.path("a/b/c.tar.gz")
    path.parent.mkdir(parents=True)
    path.write_bytes(buffer.getvalue())

    assert archiver.load(key="a/b/c.tar.gz") == RunLogs(tasks={"my task": {"stdout": b"hi"}})


@pytest.mark.parametrize(
    "url",
    ["file://somehost/var/archive", "file:relative/dir", "file:///var/archive?x=1", "s3-ish:///x"],
)
def test_bad_file_urls_are_refused_with_a_clear_message(url):
    with pytest.raises(ArchiveConfigError):
        FileArchiver(url)


def test_file_url_pointing_at_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("")

    with pytest.raises(ArchiveConfigError, match="not a directory"):
        FileArchiver((tmp_path / "f").as_uri())


def test_get_archiver_defaults_to_settings_archive_and_caches_instances(settings, tmp_path):
    settings.ARCHIVE = (tmp_path / "arch").as_uri()

    archiver = get_archiver()

    assert isinstance(archiver, FileArchiver)
    assert archiver.root == tmp_path / "arch"
    assert get_archiver() is archiver
    assert get_archiver(settings.ARCHIVE) is archiver


def test_get_archiver_follows_a_settings_change(settings, tmp_path):
    settings.ARCHIVE = (tmp_path / "one").as_uri()
    first = get_archiver()

    settings.ARCHIVE = (tmp_path / "two").as_uri()

    assert get_archiver().root == tmp_path / "two"
    assert get_archiver() is not first


def test_get_archiver_refuses_unknown_schemes():
    with pytest.raises(ArchiveConfigError, match="file://, s3://"):
        get_archiver("ftp://example/archive")
    with pytest.raises(ValueError):
        get_archiver("/var/archive")


def test_empty_task_and_stream_names_round_trip(archiver):
    logs = RunLogs(tasks={"": {"": b"nameless", "stdout": b"out"}, "\x00": {"": b"nul"}, "idle": {}})

    archiver.store(key="a/b/c.tar.gz", logs=logs)

    assert archiver.load(key="a/b/c.tar.gz") == logs


def test_corrupt_index_raises_non_retryable_error(archiver):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        body = b'{"format": "striv-run-logs/1", "tasks": [{"no": "task"}]}'
        info = tarfile.TarInfo("index.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    path = archiver.path("a/b/c.tar.gz")
    path.parent.mkdir(parents=True)
    path.write_bytes(buffer.getvalue())

    with pytest.raises(ArchiveError) as info:
        archiver.read(key="a/b/c.tar.gz", task="main", stream="stdout")

    assert not info.value.retryable
