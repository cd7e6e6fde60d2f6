"""Rendering speed on the multi-customer example, one core.

Targets: single-job render p50 <= 5 ms (a support person's preview), bulk render >= 4,000 jobs/s (a template change
re-rendering every job). Run: .venv/bin/python benchmarks/render.py [--jobs 5000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from estate import create_jobs, django_setup, load_state, median, one_core, percentile


def main() -> None:
    if "GOGC" not in os.environ:
        # Go reads GOGC only when the process starts: re-run with the setting striv's image and run script use.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GOGC": "400"})
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    print(f"GOGC={os.environ['GOGC']}, one core")
    one_core()
    django_setup()
    load_state()
    create_jobs(args.jobs)

    from striv.jobs import rendering as job_rendering
    from striv.jobs.models import Job

    jobs = list(Job.objects.with_layers())
    rng = random.Random(1)
    timings = []
    for _ in range(args.samples):
        job = rng.choice(jobs)
        values = [jv.value for jv in job.job_values.all()]
        start = time.perf_counter()
        job_rendering.job_render(execution=job.execution, values=values, params=job.params)
        timings.append((time.perf_counter() - start) * 1000)
    print(
        f"single-job render: p50 {median(timings):.2f} ms, p99 {percentile(timings, 99):.2f} ms "
        f"({args.samples} samples; target p50 <= 5 ms)"
    )

    start = time.perf_counter()
    count = sum(1 for _ in job_rendering.jobs_render_many(Job.objects.order_by("execution_id", "name")))
    elapsed = time.perf_counter() - start
    print(
        f"bulk render: {count} jobs in {elapsed:.2f} s = {count / elapsed:,.0f} jobs/s "
        f"(including the database read; target >= 4,000 jobs/s)"
    )


if __name__ == "__main__":
    main()
