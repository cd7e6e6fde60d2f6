"""load-state after a template change: every job re-rendered and its new spec written, one core.

Target: >= 4,000 jobs/s end to end (the state read, checked, compared, every job re-rendered and written; Django's
start-up and the job set-up excluded). Also prints the write step alone, set-based (rows_update) against
Django's bulk_update on the same rows. Run: .venv/bin/python benchmarks/rerender.py [--jobs 10000] [--dry-run]
With STRIV_BENCH_DATABASE_URL=postgres://... it runs on that database instead of a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from estate import STATE, django_setup, load_state, one_core


def jobs_insert(count: int, *, seed: int = 7) -> None:
    """Insert ``count`` jobs with their values, not yet rendered (as if the template had changed since)."""
    from striv.dimensions.models import Dimension
    from striv.executions.models import Execution
    from striv.jobs.models import Job, JobValue

    rng = random.Random(seed)
    executions = list(Execution.objects.all())
    dimensions = [list(d.values.all()) for d in Dimension.objects.prefetch_related("values")]
    jobs, links = [], []
    for n in range(count):
        job = Job(
            name=f"integration {n:05d}",
            execution=rng.choice(executions),
            params={"batch_size": rng.randint(100, 900), "env.JOB_NUMBER": str(n)},
            spec_hash="before the change",
        )
        jobs.append(job)
        links += [JobValue(job=job, dimension_id=v.dimension_id, value=v) for v in map(rng.choice, dimensions)]
    Job.objects.bulk_create(jobs, batch_size=1000)
    JobValue.objects.bulk_create(links, batch_size=1000)


def main() -> None:
    if "GOGC" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GOGC": "400"})
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--dry-run", action="store_true", help="roll back, as load-state --dry-run")
    args = parser.parse_args()
    one_core()
    django_setup()
    from django.db import connection, transaction

    if connection.vendor != "sqlite":
        from striv.jobs.models import Job

        Job.objects.all().delete()  # a database kept between runs starts without jobs
    load_state()
    jobs_insert(args.jobs)

    from striv.jobs.models import Job
    from striv.state.load import state_load, state_read
    from striv.state.schema import state_parse

    start = time.perf_counter()
    data = state_read(STATE)
    for execution in data["executions"].values():
        execution["default_params"]["image_tag"] = "2.5.0"  # a change every job's spec shows
    diff = state_load(state=state_parse(data, source=str(STATE)), dry_run=args.dry_run)
    elapsed = time.perf_counter() - start
    mode = "load-state --dry-run" if args.dry_run else "load-state"
    print(
        f"{mode} re-render on {connection.vendor}: {diff.jobs_rendered} jobs ({len(diff.jobs_changed)} changed) "
        f"in {elapsed:.2f} s = {diff.jobs_rendered / elapsed:,.0f} jobs/s (target >= 4,000 jobs/s)"
    )

    from striv.core.bulkwrite import rows_update

    jobs = list(Job.objects.only("id", "spec", "spec_hash", "sync_status"))
    for job in jobs:
        job.spec = {**job.spec, "Meta": {"bench": "write"}}
        job.spec_hash = "rewritten"
    fields = ["spec", "spec_hash", "sync_status"]
    for label, write in (
        ("rows_update (set-based)", lambda: rows_update(Job, jobs, fields)),
        ("bulk_update (CASE WHEN)", lambda: Job.objects.bulk_update(jobs, fields, batch_size=500)),
    ):
        with transaction.atomic():
            start = time.perf_counter()
            write()
            elapsed = time.perf_counter() - start
            transaction.set_rollback(True)
        print(f"write of {len(jobs)} specs, {label}: {elapsed:.2f} s = {len(jobs) / elapsed:,.0f} jobs/s")


if __name__ == "__main__":
    main()
