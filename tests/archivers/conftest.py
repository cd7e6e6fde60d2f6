"""Fixtures for archiver tests: a moto S3 server shared by the session, and a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from striv.archivers import clear_archivers
from striv.archivers.cache import decoded_cache
from tests.moto_server import DUMMY_AWS_ENV, UNSET_AWS_ENV, moto_server_start


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with dummy AWS credentials in the environment; yields its endpoint URL."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in DUMMY_AWS_ENV.items():
            mp.setenv(name, value)
        for name in UNSET_AWS_ENV:
            mp.delenv(name, raising=False)
        server, endpoint_url = moto_server_start()
        try:
            yield endpoint_url
        finally:
            server.stop()


@pytest.fixture
def s3_client(moto_endpoint: str):
    """A plain boto3 client on the moto server, for arranging and inspecting buckets."""
    import boto3

    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client) -> str:
    """A new, empty bucket for one test; returns its name."""
    name = f"striv-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(autouse=True)
def fresh_archivers() -> Iterator[None]:
    """Each test starts without cached archiver instances or decoded objects."""
    clear_archivers()
    decoded_cache.clear()
    yield
    clear_archivers()
    decoded_cache.clear()
