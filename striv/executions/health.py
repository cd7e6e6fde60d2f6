"""Whether each cluster answers, kept by one background check per process and read by /api/health.

A health request never asks a cluster itself: it reads the last answers, and when they are older than
``MAX_AGE`` it starts one check (unless one is under way) and waits for it at most ``HEALTH_TIMEOUT``. So any
number of health calls cost one check per ``MAX_AGE``, each cluster is asked once per check, and no call leaves a
thread behind: the check's own threads end on the driver's timeout.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from striv.drivers import driver_class

HEALTH_TIMEOUT = 2.0
# Answers younger than this are served as they are.
MAX_AGE = 15.0

Cluster = tuple[str, Any]


def cluster_of(execution: Any) -> Cluster:
    """The cluster ``execution`` talks to (executions of one cluster share one answer). Raises for a bad config."""
    return (execution.driver, driver_class(execution.driver).cluster_key(execution.driver_config))


class HealthCache:
    """The last answer of each cluster and when the check that gave them started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[Cluster, tuple[bool, str]] = {}
        self._checked: dict[Cluster, float] = {}
        self._running: threading.Event | None = None

    def answers(self, samples: dict[Cluster, Any]) -> dict[Cluster, tuple[bool, str]]:
        """The answer of each cluster of ``samples`` (cluster -> one of its executions), checking the stale ones
        in the background and waiting for them at most HEALTH_TIMEOUT."""
        now = time.monotonic()
        with self._lock:
            stale = {c: e for c, e in samples.items() if now - self._checked.get(c, -MAX_AGE - 1) > MAX_AGE}
            running = self._running
            if stale and running is None:
                running = self._running = threading.Event()
                threading.Thread(target=self._check, args=(stale, running), daemon=True, name="striv-health").start()
        if stale and running is not None:
            running.wait(HEALTH_TIMEOUT)
        with self._lock:
            return {
                cluster: self._answers.get(cluster, (False, f"no answer within {HEALTH_TIMEOUT:g} s"))
                for cluster in samples
            }

    def _check(self, samples: dict[Cluster, Any], done: threading.Event) -> None:
        started = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=min(8, len(samples)), thread_name_prefix="striv-health-ask")
        futures = {pool.submit(_ask, execution): cluster for cluster, execution in samples.items()}
        finished, _ = wait(futures, timeout=HEALTH_TIMEOUT)
        # Not waiting for a hung cluster: its thread ends on the driver's own timeout.
        pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for future, cluster in futures.items():
                answer = future.result() if future in finished else (False, f"no answer within {HEALTH_TIMEOUT:g} s")
                self._answers[cluster] = answer
                self._checked[cluster] = started
            self._running = None
        done.set()


def _ask(execution: Any) -> tuple[bool, str]:
    try:
        health = execution.get_driver().health()
    except Exception as exc:  # noqa: BLE001 - health never raises; a driver that does is unhealthy
        return False, str(exc)
    return health.ok, health.detail


CACHE = HealthCache()


def executions_health(executions: list[Any]) -> dict[str, tuple[bool, str]]:
    """{execution key: (ok, detail)} for ``executions``, from the cache (see the module's docstring)."""
    results: dict[str, tuple[bool, str]] = {}
    clusters: dict[str, Cluster] = {}
    samples: dict[Cluster, Any] = {}
    for execution in executions:
        try:
            cluster = cluster_of(execution)
        except Exception as exc:  # noqa: BLE001 - a broken config is reported, not raised
            results[execution.key] = (False, f"invalid driver config: {exc}")
            continue
        clusters[execution.key] = cluster
        samples.setdefault(cluster, execution)
    answers = CACHE.answers(samples) if samples else {}
    for key, cluster in clusters.items():
        results[key] = answers[cluster]
    return results
