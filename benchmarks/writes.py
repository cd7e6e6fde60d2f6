"""Writes through the API and sync-jobs, against the Nomad emulator in its own process.

Prints, each with its target:
- evaluate (POST /api/jobs/evaluate): p50 in-process (<= 1.5 ms) and over HTTP (<= 3 ms);
- single create with its push (POST /api/jobs, one job): jobs/s in-process (>= 250) and over HTTP (>= 150);
- bulk create with push (POST /api/jobs, lists of 1,000): jobs/s over HTTP (>= 1,500);
- sync-jobs of every job after a template change: jobs/s (>= 1,000).
HTTP goes to gunicorn as shipped (gunicorn.conf.py, 2 workers) over kept-alive connections. The database is a fresh
SQLite file, or STRIV_BENCH_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/striv_bench_writes, emptied first).
Run: .venv/bin/python benchmarks/writes.py [--bulk-jobs 10000] [--samples 300]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import threading
import time
from collections.abc import Callable

from estate import STATE, django_setup, load_state, median

TARGETS = {
    "evaluate in-process": "p50 <= 1.5 ms",
    "evaluate over HTTP": "p50 <= 3 ms",
    "single create in-process": ">= 250 jobs/s",
    "single create over HTTP": ">= 150 jobs/s",
    "bulk create over HTTP": ">= 1,500 jobs/s",
    "sync-jobs": ">= 1,000 jobs/s",
}


def report(name: str, figure: str) -> None:
    print(f"{name:<26} {figure:<40} (target {TARGETS[name]})", flush=True)


def bodies(count: int, *, seed: int, prefix: str) -> list[dict]:
    """``count`` job bodies over the example's executions and dimension values."""
    from striv.dimensions.models import Dimension
    from striv.executions.models import Execution

    rng = random.Random(seed)
    executions = list(Execution.objects.values_list("key", flat=True))
    dimensions = [(d.key, [v.key for v in d.values.all()]) for d in Dimension.objects.prefetch_related("values")]
    return [
        {
            "name": f"{prefix} {n:05d}",
            "execution": rng.choice(executions),
            "dimensions": {key: rng.choice(values) for key, values in dimensions},
            "params": {"batch_size": rng.randint(100, 900), "env.JOB_NUMBER": str(n)},
        }
        for n in range(count)
    ]


def token_create() -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username="benchmark-writer")
    user.groups.add(Group.objects.get(name="operator"))
    return Token.objects.get_or_create(user=user)[0].key


def timed(calls: list[Callable[[], object]]) -> list[float]:
    timings = []
    for call in calls:
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def parallel(calls: list[Callable[[], object]], connections: int) -> float:
    """Run ``calls`` on ``connections`` threads; returns the elapsed seconds."""
    chunks = [calls[n::connections] for n in range(connections)]
    threads = [threading.Thread(target=lambda chunk=chunk: [call() for call in chunk]) for chunk in chunks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def expect(status: int, response) -> None:
    if response.status_code != status:
        print(f"answered {response.status_code}: {response.content[:500]!r}", file=sys.stderr)
        os._exit(1)  # from any thread


def main() -> None:
    if "GOGC" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GOGC": "400"})
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=300, help="evaluate and single-create requests per mode")
    parser.add_argument("--bulk-jobs", type=int, default=10_000, help="jobs created in lists of 1,000")
    parser.add_argument(
        "--connections", type=int, default=None, help="concurrent HTTP connections for creates (SQLite: 1, else 2)"
    )
    args = parser.parse_args()
    os.environ["STRIV_ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    from nomad_process import NomadProcess

    nomad = NomadProcess()
    try:
        run(args, nomad)
    finally:
        nomad.stop()


def run(args: argparse.Namespace, nomad) -> None:
    django_setup()
    from django.db import connection, connections

    if connection.vendor != "sqlite":
        from striv.jobs.models import Job

        Job.objects.all().delete()  # a database kept between runs starts without jobs
    if args.connections is None:
        # SQLite has one writer: a second gunicorn worker would wait on the first's save and time out.
        args.connections = 1 if connection.vendor == "sqlite" else 2
    load_state(address=nomad.address)
    token = token_create()
    import json

    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def post(path: str, body: object, status: int) -> Callable[[], None]:
        data = json.dumps(body)
        return lambda: expect(status, client.post(path, data, content_type="application/json"))

    print(f"{connection.vendor}; Nomad emulator in its own process; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    previews = bodies(args.samples, seed=1, prefix="preview")
    timed([post("/api/jobs/evaluate", body, 200) for body in previews[:20]])  # warm-up
    report("evaluate in-process", f"p50 {median(timed([post('/api/jobs/evaluate', b, 200) for b in previews])):.2f} ms")
    singles = bodies(args.samples, seed=2, prefix="single")
    elapsed = sum(timed([post("/api/jobs", body, 201) for body in singles])) / 1000
    report("single create in-process", f"{len(singles) / elapsed:,.0f} jobs/s ({len(singles)} jobs, 1 at a time)")
    connections.close_all()

    import requests
    from api import free_port, gunicorn_start

    port = free_port()
    server = gunicorn_start(port, os.environ["STRIV_DATABASE_URL"])
    base = f"http://127.0.0.1:{port}"
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Token {token}"
        return local.session

    def http(path: str, body: object, status: int) -> Callable[[], None]:
        data = json.dumps(body)
        headers = {"Content-Type": "application/json"}
        return lambda: expect(status, session().post(base + path, data=data, headers=headers, timeout=300))

    try:
        timed([http("/api/jobs/evaluate", body, 200) for body in previews[:20]])  # warm-up: connections, caches
        report(
            "evaluate over HTTP",
            f"p50 {median(timed([http('/api/jobs/evaluate', b, 200) for b in previews])):.2f} ms",
        )
        singles = bodies(args.samples, seed=3, prefix="single http")
        elapsed = parallel([http("/api/jobs", body, 201) for body in singles], args.connections)
        report(
            "single create over HTTP",
            f"{len(singles) / elapsed:,.0f} jobs/s ({len(singles)} jobs, {args.connections} connections)",
        )
        many = bodies(args.bulk_jobs, seed=4, prefix="bulk")
        lists = [many[start : start + 1000] for start in range(0, len(many), 1000)]
        elapsed = parallel([http("/api/jobs", items, 201) for items in lists], args.connections)
        report(
            "bulk create over HTTP",
            f"{len(many) / elapsed:,.0f} jobs/s ({len(lists)} lists of 1,000, {args.connections} connections)",
        )
    finally:
        server.terminate()
        server.wait(timeout=10)

    from django.core.management import call_command

    from striv.jobs.models import Job
    from striv.state.load import state_load, state_read
    from striv.state.schema import state_parse

    data = state_read(STATE)
    for execution in data["executions"].values():
        execution["driver_config"]["address"] = nomad.address
        execution["default_params"]["image_tag"] = "2.5.0"  # every job's spec changes
    state_load(state=state_parse(data, source=str(STATE)))  # marks them out of sync; sync-jobs pushes them
    changed = Job.objects.exclude(sync_status=Job.SyncStatus.IN_SYNC).count()
    out = io.StringIO()
    started = time.perf_counter()
    call_command("sync-jobs", stdout=out)
    elapsed = time.perf_counter() - started
    summary = out.getvalue().strip().splitlines()[-1]
    report("sync-jobs", f"{changed / elapsed:,.0f} jobs/s ({changed} changed jobs: {summary})")


if __name__ == "__main__":
    main()
