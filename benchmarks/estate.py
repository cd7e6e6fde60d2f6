"""Shared benchmark setup: a throwaway database with the multi-customer example state and many jobs."""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / "state_examples" / "multi-customer" / "state.jsonnet"


def django_setup(database_url: str | None = None) -> None:
    """Configure Django on ``database_url`` (default: a fresh SQLite file) and create the tables."""
    sys.path.insert(0, str(REPO))
    tmp = tempfile.mkdtemp(prefix="striv-bench-")
    os.environ.setdefault("STRIV_SECRET_KEY", "benchmark")
    os.environ["STRIV_VAR_DIR"] = tmp
    os.environ["STRIV_DATABASE_URL"] = (
        database_url or os.environ.get("STRIV_BENCH_DATABASE_URL") or (f"sqlite:///{tmp}/bench.sqlite3")
    )
    os.environ.setdefault("STRIV_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "striv.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def one_core() -> None:
    """Pin the process to one CPU, as the targets are stated for one core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def load_state(address: str | None = None) -> None:
    """Load the multi-customer state, optionally pointing both executions at ``address``."""
    from striv.core.state import state_load, state_parse, state_read

    data = state_read(STATE)
    if address:
        for execution in data["executions"].values():
            execution["driver_config"]["address"] = address
    state_load(state=state_parse(data, source=str(STATE)))


def create_jobs(count: int, *, seed: int = 7) -> list:
    """Create ``count`` rendered jobs (not pushed) spread over executions and dimension values."""
    from striv.dimensions.models import Dimension
    from striv.executions.models import Execution
    from striv.jobs import services

    rng = random.Random(seed)
    executions = list(Execution.objects.all())
    dimensions = [list(d.values.select_related("dimension")) for d in Dimension.objects.prefetch_related("values")]
    jobs = []
    for n in range(count):
        values = [rng.choice(values) for values in dimensions]
        params = {"batch_size": rng.randint(100, 900), "env.JOB_NUMBER": str(n)}
        jobs.append(
            services.job_create(
                name=f"integration {n:05d}", execution=rng.choice(executions), values=values, params=params, push=False
            ).job
        )
    return jobs


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: list[float]) -> float:
    return statistics.median(samples)
