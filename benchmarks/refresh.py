"""The refresher at scale: 2,000 jobs with 100,000 allocations in the emulator (in another process).

Prints the time of the first pass (ingesting every run), of a pass with nothing new, and the refresh process's
peak RSS. Targets: first pass < 10 s, nothing-new pass < 200 ms, peak RSS < 300 MB.
Run: .venv/bin/python benchmarks/refresh.py [--jobs 2000 --runs-per-job 50]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time

from estate import REPO, create_jobs, django_setup, load_state
from nomad_process import NomadProcess


def refresh_pass(label: str, extra: list[str]) -> None:
    env = dict(os.environ)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "refresh", *extra],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    wall = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    line = result.stdout.strip().splitlines()[-1]
    seconds = float(re.search(r"([\d.]+) s$", line).group(1))
    print(f"{label}: pass {seconds:.3f} s (process wall {wall:.2f} s incl. start-up), peak RSS so far {rss_mb:.0f} MB")
    print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runs-per-job", type=int, default=50)
    args = parser.parse_args()
    nomad = NomadProcess()
    try:
        django_setup()
        load_state(address=nomad.address)
        jobs = create_jobs(args.jobs)
        from django.core.management import call_command

        call_command("sync-jobs", stdout=open(os.devnull, "w"))
        start = time.perf_counter()

        parents = [job.execution.get_driver().external_id(str(job.pk)) for job in jobs]
        total = nomad.call("seed", (parents, args.runs_per_job))
        print(f"seeded {total:,} allocations for {args.jobs:,} jobs in {time.perf_counter() - start:.1f} s")
        from django.db import connections

        connections.close_all()
        refresh_pass("first pass (ingest all runs)", ["--no-archive"])
        refresh_pass("second pass (nothing new)", ["--no-archive"])
        nomad.call("launch", parents[:20])
        refresh_pass("third pass (20 new runs)", ["--no-archive"])
        refresh_pass("archiving pass (500 runs)", ["--archive-limit", "500"])
    finally:
        nomad.stop()


if __name__ == "__main__":
    main()
