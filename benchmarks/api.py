"""API list latency: 10,000 jobs and 200,000 runs in PostgreSQL, served by gunicorn (2 workers) on 127.0.0.1.

Seeds the database given by STRIV_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/striv_bench,
created when missing; kept between runs, reseeded with --reseed), starts gunicorn on a free port and loads
``GET /api/jobs?limit=50`` and ``GET /api/runs?limit=50`` from a second process (wrk when installed, else a threaded
Python client). Prints req/s, p50 and p99 per endpoint. Target: p99 under 50 ms for both.
Run: .venv/bin/python benchmarks/api.py [--seconds 15 --connections 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from estate import REPO, django_setup, load_state, median, percentile

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/striv_bench"
ENDPOINTS = ["/api/jobs?limit=50", "/api/runs?limit=50"]
TARGET_P99_MS = 50.0


def database_ensure(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when it does not exist (other engines: nothing to do)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg2

    name = parts.path.lstrip("/")
    admin = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password, dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
    admin.close()


def seed(jobs: int, runs: int, *, reseed: bool) -> None:
    """Fill the database with ``jobs`` rendered jobs and ``runs`` runs, in bulk; skipped when already seeded."""
    from django.db import transaction

    from striv.dimensions.models import Dimension
    from striv.executions.models import Execution
    from striv.jobs import rendering as job_rendering
    from striv.jobs.models import Job, JobValue
    from striv.runs.models import Run

    if not reseed and Job.objects.count() == jobs and Run.objects.count() == runs:
        print(f"database already holds {jobs:,} jobs and {runs:,} runs (--reseed to start over)")
        return
    started = time.perf_counter()
    Run.objects.all().delete()
    JobValue.objects.all().delete()
    Job.objects.all().delete()
    load_state()
    rng = random.Random(7)
    executions = list(Execution.objects.all())
    dimensions = [list(d.values.all()) for d in Dimension.objects.prefetch_related("values")]
    now = datetime.now(UTC)
    rows, links = [], []
    for n in range(jobs):
        job = Job(
            name=f"integration {n:05d}",
            execution=rng.choice(executions),
            params={"batch_size": rng.randint(100, 900), "env.JOB_NUMBER": str(n)},
            sync_status=rng.choice([Job.SyncStatus.IN_SYNC] * 8 + [Job.SyncStatus.PENDING, Job.SyncStatus.FAILED]),
        )
        rows.append(job)
        values = [rng.choice(dimension_values) for dimension_values in dimensions]
        links += [JobValue(job=job, dimension_id=value.dimension_id, value=value) for value in values]
    with transaction.atomic():
        Job.objects.bulk_create(rows, batch_size=2000)
        JobValue.objects.bulk_create(links, batch_size=5000)
    rendered = []
    for job, result in job_rendering.jobs_render_many(Job.objects.order_by("execution_id", "id")):
        if isinstance(result, Exception):
            raise SystemExit(f"job {job.name} does not render: {result}")
        output, spec_hash = result
        job.spec, job.spec_hash = output.spec, spec_hash
        rendered.append(job)
    Job.objects.bulk_update(rendered, ["spec", "spec_hash"], batch_size=1000)
    print(f"seeded {jobs:,} rendered jobs in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    job_ids = [job.pk for job in rows]
    per_job = max(runs // jobs, 1)
    latest: dict = {}
    batch: list[Run] = []
    for n in range(runs):
        job_id = job_ids[n % jobs]
        created = now - timedelta(days=per_job) + timedelta(days=n // jobs, minutes=rng.randint(0, 600))
        status = Run.Status.FAILED if rng.random() < 0.1 else Run.Status.SUCCESSFUL
        batch.append(
            Run(
                job_id=job_id,
                external_id=f"alloc-{n:07d}",
                status=status,
                created=created,
                started=created + timedelta(seconds=5),
                finished=created + timedelta(minutes=3),
                exit_code=0 if status == Run.Status.SUCCESSFUL else 1,
                tasks=[{"name": "main", "state": "dead", "failed": status == Run.Status.FAILED}],
            )
        )
        if job_id not in latest or latest[job_id][0] < created:
            latest[job_id] = (created, status)
        if len(batch) == 5000:
            Run.objects.bulk_create(batch)
            batch = []
    Run.objects.bulk_create(batch)
    updated = []
    for job in rows:
        job.latest_run_at, job.latest_run_status = latest[job.pk]
        updated.append(job)
    Job.objects.bulk_update(updated, ["latest_run_at", "latest_run_status"], batch_size=2000)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # fresh statistics, as a live database would have
    print(f"seeded {runs:,} runs in {time.perf_counter() - started:.1f} s")


def token_create() -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username="benchmark")
    user.groups.add(Group.objects.get(name="viewer"))
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(port: int, database_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "striv.settings",
        "STRIV_DATABASE_URL": database_url,
        "STRIV_DEBUG": "false",
        "STRIV_SECRET_KEY": "benchmark",
        "STRIV_ALLOWED_HOSTS": "127.0.0.1",
        "STRIV_DB_CONN_MAX_AGE": "600",
        "STRIV_LOG_LEVEL": "WARNING",
    }
    command = [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "striv.wsgi:application",
        "--workers", "2",
        "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5).read()
            return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not answer within 30 s")


def load_wrk(url: str, token: str, seconds: int, connections: int) -> tuple[float, float, float]:
    """Run wrk; returns (req/s, p50 ms, p99 ms)."""
    output = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Authorization: Token {token}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw errors:\n{output}")

    def millis(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rate, millis("50%"), millis("99%")


def load_python(url: str, token: str, seconds: int, connections: int) -> tuple[float, float, float]:
    """A closed-loop threaded client; returns (req/s, p50 ms, p99 ms)."""
    timings: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                if response.status != 200:
                    raise SystemExit(f"{url} answered {response.status}")
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(timings) / (time.monotonic() - begun), median(timings), percentile(timings, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=15, help="load duration per endpoint")
    parser.add_argument("--connections", type=int, default=2, help="concurrent connections (closed loop)")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the data again")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()

    database_url = os.environ.get("STRIV_BENCH_DATABASE_URL") or DEFAULT_URL
    database_ensure(database_url)
    django_setup(database_url)
    seed(args.jobs, args.runs, reseed=args.reseed)
    token = token_create()
    from django.db import connections

    connections.close_all()

    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    load = load_wrk if use_wrk else load_python
    port = free_port()
    server = gunicorn_start(port, database_url)
    try:
        config = "gunicorn.conf.py" if (REPO / "gunicorn.conf.py").exists() else "no gunicorn.conf.py"
        print(f"gunicorn ({config}), 2 workers, on 127.0.0.1:{port}; client: {'wrk' if use_wrk else 'Python threads'}, "
              f"{args.connections} connections, {args.seconds} s per endpoint; {os.cpu_count()} CPUs, "
              f"load average before {os.getloadavg()[0]:.2f} (other processes share the CPUs)")  # fmt: skip
        failed = False
        for endpoint in ENDPOINTS:
            url = f"http://127.0.0.1:{port}{endpoint}"
            body = json.loads(
                urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Token {token}"})).read()
            )
            assert len(body["results"]) == 50, body
            load(url, token, 3, args.connections)  # warm-up: connections, caches
            rate, p50, p99 = load(url, token, args.seconds, args.connections)
            verdict = "ok" if p99 < TARGET_P99_MS else "OVER TARGET"
            failed |= p99 >= TARGET_P99_MS
            print(f"GET {endpoint:<22} {rate:8.1f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
                  f"(target p99 < {TARGET_P99_MS:g} ms: {verdict})")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
