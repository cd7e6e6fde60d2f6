"""Pushing jobs to Nomad (the emulator, over HTTP, in another process).

Prints jobs/s for pushing 2,000 new jobs with `sync-jobs`, then the time of a second `sync-jobs` with no change,
which must push nothing and take under 2 s. Run: .venv/bin/python benchmarks/push.py [--jobs 2000]
"""

from __future__ import annotations

import argparse
import io
import time

from estate import create_jobs, django_setup, load_state
from nomad_process import NomadProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    nomad = NomadProcess()
    try:
        django_setup()
        load_state(address=nomad.address)
        create_jobs(args.jobs)
        from django.core.management import call_command

        out = io.StringIO()
        start = time.perf_counter()
        call_command("sync-jobs", stdout=out)
        elapsed = time.perf_counter() - start
        print(
            f"first sync-jobs: {out.getvalue().strip().splitlines()[-1]} in {elapsed:.2f} s = "
            f"{args.jobs / elapsed:,.0f} jobs/s; Nomad now holds {nomad.call('jobs')} jobs"
        )
        out = io.StringIO()
        start = time.perf_counter()
        call_command("sync-jobs", stdout=out)
        elapsed = time.perf_counter() - start
        print(f"second sync-jobs (no change): {out.getvalue().strip()} in {elapsed:.3f} s (target < 2 s)")
    finally:
        nomad.stop()


if __name__ == "__main__":
    main()
