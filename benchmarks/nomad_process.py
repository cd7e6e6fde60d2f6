"""Run the Nomad emulator in its own process so that it does not compete with the measured code for the GIL."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _serve(conn: Any) -> None:
    sys.path.insert(0, str(REPO))
    from tests.emulators.nomad import NomadEmulator

    emulator = NomadEmulator().start()
    emulator.record = False
    conn.send(emulator.address)
    while True:
        command, args = conn.recv()
        if command == "stop":
            emulator.stop()
            conn.send(None)
            return
        if command == "seed":
            parents, per_job = args
            total = 0
            for n, parent in enumerate(parents):
                # Mostly successful runs, some failures, like a real estate's history.
                total += len(emulator.seed_runs(parent, per_job - 2, "complete", stdout=b"ok\n"))
                total += len(emulator.seed_runs(parent, 2, "failed", exit_code=1, stderr=b"failed\n", start=10_000 + n))
            conn.send(total)
        elif command == "jobs":
            conn.send(len(emulator.jobs))
        elif command == "launch":
            conn.send([emulator.launch(parent) for parent in args])


class NomadProcess:
    """An emulator in a child process; ``address`` is its HTTP address."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        self.address: str = self.conn.recv()

    def call(self, command: str, args: Any = None) -> Any:
        self.conn.send((command, args))
        return self.conn.recv()

    def stop(self) -> None:
        self.call("stop")
        self.process.join(timeout=10)
