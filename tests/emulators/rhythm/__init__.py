"""An in-process emulator of Rhythm 0.18 (a Mesos cron framework) with a Mesos master and agents, for striv's
tests, faithful to ``shared/rhythm/API.md``.

`RhythmEmulator` serves Rhythm's REST API, the master's ``/master/*`` reads and each agent's ``/files/*`` on their
own ports of 127.0.0.1. Quirks copied on purpose: writes succeed only with 204 and a failed validation answers 200
with ``{"Errors": [...]}``; other errors are the same JSON labelled ``text/plain``; request keys match
case-insensitively and unknown keys are ignored; a trailing slash or an unclean path answers 301; a wrong method
405 with an empty body; a job that does not exist answers 404 with an empty body; on list endpoints an unreadable
project is silently left out (a bad GitLab token gets ``200 []``); delete and run-now make no existence check and
run-now is deduplicated; task records have an empty ``ExecutorID`` when the master made them and none of the IDs
for a launch error; ``/files/read`` without an offset (or -1) answers the file's size, at most 64 KiB of raw bytes
per answer, and 404 with an empty body once the sandbox is gone.

Modules: ``server`` (HTTP plumbing), ``gojson`` (Go JSON and the cron check), ``api`` (Rhythm's routes, auth and
endpoints), ``mesos`` (master and agents), ``emulator`` (`RhythmEmulator`: the state and the test-driving methods).
"""

from tests.emulators.rhythm.emulator import FRAMEWORK_ID, TASK_TTL, RhythmEmulator, go_time
from tests.emulators.rhythm.mesos import READ_CAP

__all__ = ["FRAMEWORK_ID", "READ_CAP", "TASK_TTL", "RhythmEmulator", "go_time"]
