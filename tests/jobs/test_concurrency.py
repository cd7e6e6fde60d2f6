"""Concurrent writes and slow clusters: no cluster call happens inside a transaction or row lock.

These tests run a live server (each request in its own thread, with its own database connection) and send it real
HTTP requests from several threads at once, on every database the suite runs on.
"""

from __future__ import annotations

import runpy
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from striv.core import roles
from striv.drivers.base import DriverError
from striv.drivers.nomad.config import DEFAULT_TIMEOUT
from striv.jobs import services
from striv.jobs.models import Job
from tests.factories import ExecutionFactory, make_user

ROOT = Path(__file__).resolve().parents[2]


class HungCluster:
    """A TCP server on 127.0.0.1 that accepts connections and never answers until released."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = threading.Event()
        self.released = threading.Event()
        self.connections: list[socket.socket] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.released.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.changed:
                if self.released.is_set():
                    conn.close()
                    return
                self.connections.append(conn)
                self.changed.notify_all()
            self.accepted.set()

    def wait_for_connections(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` connections are open (True) or ``timeout`` seconds pass (False)."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.connections) >= count, timeout)

    def release(self) -> None:
        """Close every connection: the waiting client sees the connection drop."""
        with self.changed:
            self.released.set()
            for conn in self.connections:
                conn.close()
            self.sock.close()


@pytest.fixture
def hung() -> Iterator[HungCluster]:
    cluster = HungCluster()
    yield cluster
    cluster.release()


def session_for(live_server, role: str) -> requests.Session:
    session = requests.Session()
    token = Token.objects.create(user=make_user(f"user-{role}", role)).key
    session.headers["Authorization"] = f"Token {token}"
    session.base_url = live_server.url  # type: ignore[attr-defined]
    return session


def test_ten_parallel_patches_with_one_if_match_give_one_200_and_nine_412(live_server, live_estate, nomad):
    job = live_estate.job("nightly", push=True)
    session = session_for(live_server, roles.OPERATOR)
    url = f"{live_server.url}/api/jobs/{job.pk}"
    start = threading.Barrier(10)

    def patch(n: int) -> int:
        start.wait()
        body = {"params": {"greeting": f"hello {n}"}}
        return session.patch(url, json=body, headers={"If-Match": f'"{job.version}"'}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = sorted(pool.map(patch, range(10)))
    assert codes == [200] + [412] * 9
    stored = Job.objects.get(pk=job.pk)
    assert stored.version == job.version + 1
    assert stored.sync_status == Job.SyncStatus.IN_SYNC
    held = nomad.job(f"striv-{job.pk}")
    assert held["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == [stored.params["greeting"]]


def test_a_hung_cluster_delays_only_its_own_jobs_request(live_server, live_estate, hung):
    slow_execution = ExecutionFactory(key="slow", driver_config={"address": hung.address, "timeout": 30})
    slow_job = live_estate.job("slow job", execution=slow_execution)
    fast_job = live_estate.job("fast job", push=True)
    operator = session_for(live_server, roles.OPERATOR)
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(
            operator.patch,
            f"{live_server.url}/api/jobs/{slow_job.pk}",
            json={"params": {"greeting": "slow"}},
            timeout=60,
        )
        assert hung.accepted.wait(10), "the save never reached the hung cluster"
        # While that push hangs: another job's save and a login complete.
        other = operator.patch(f"{live_server.url}/api/jobs/{fast_job.pk}", json={"params": {"greeting": "quick"}})
        assert other.status_code == 200, other.text
        assert other.json()["sync_status"] == "in_sync"
        make_user("someone", roles.VIEWER)
        browser = requests.Session()
        login_page = browser.get(f"{live_server.url}/login/", timeout=10)
        login = browser.post(
            f"{live_server.url}/login/",
            data={
                "username": "someone",
                "password": "correct horse battery",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"Referer": login_page.url},
            allow_redirects=False,
            timeout=10,
        )
        assert login.status_code == 302, login.text
        assert not slow.done()
        hung.release()
        answer = slow.result(timeout=30)
    # The cluster could not be reached: saved, and the push pending.
    assert answer.status_code == 200, answer.text
    assert answer.json()["sync_status"] == "pending"
    assert Job.objects.get(pk=slow_job.pk).params == {"greeting": "slow"}


def test_a_cluster_that_never_answers_is_bounded_by_the_driver_timeout(live_server, live_estate, hung):
    slow_execution = ExecutionFactory(key="slow", driver_config={"address": hung.address, "timeout": 0.5})
    slow_job = live_estate.job("slow job", execution=slow_execution)
    operator = session_for(live_server, roles.OPERATOR)
    answer = operator.patch(
        f"{live_server.url}/api/jobs/{slow_job.pk}", json={"params": {"greeting": "slow"}}, timeout=20
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sync_status"] == "pending"


def test_gunicorn_config_uses_threads_and_a_worker_timeout_above_the_driver_timeout():
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["worker_class"] == "gthread"
    assert config["threads"] >= 4
    # A request may make a few cluster calls (a push before a run, a plan and a read), each bounded by the driver's
    # timeout; the worker's own timeout stays well above them.
    assert config["timeout"] >= 3 * DEFAULT_TIMEOUT + 10
    assert config["graceful_timeout"] >= 3 * DEFAULT_TIMEOUT


def test_bulk_run_now_calls_the_cluster_for_several_jobs_at_once(estate, hung):
    slow_execution = ExecutionFactory(key="slow", driver_config={"address": hung.address, "timeout": 30})
    jobs = [estate.job(f"job {n}", execution=slow_execution) for n in range(3)]
    Job.objects.update(sync_status=Job.SyncStatus.IN_SYNC, pushed_hash=jobs[0].spec_hash)
    jobs = list(Job.objects.select_related("execution").order_by("name"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        bulk = pool.submit(services.jobs_run_now, jobs=jobs, workers=2)
        # Two calls wait on the hung cluster at the same time; the third waits for a free worker.
        assert hung.wait_for_connections(2, timeout=10)
        assert len(hung.connections) == 2
        hung.release()
        results = bulk.result(timeout=30)
    assert [job.name for job, _ in results] == ["job 0", "job 1", "job 2"]
    assert all(isinstance(result, DriverError) and result.retryable for _, result in results)
