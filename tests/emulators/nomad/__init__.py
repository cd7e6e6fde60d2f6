"""An in-process emulator of the Nomad HTTP API, for striv's tests.

`NomadEmulator` runs a small threaded HTTP server on 127.0.0.1 that answers the parts of the Nomad API striv
uses, the way Nomad 1.6 to 1.11 answer them (see ``shared/nomad/BEHAVIOUR.md``, its "Versions and corrections"
first): job register / read / list / plan / periodic force / dispatch / deregister, evaluations, allocations,
logs (plain, framed, follow), the event stream, blocking queries, ACL tokens, namespaces, and plain-text errors
with Nomad's status codes. Where releases differ it can be switched: ``paging="string"`` compares pagination
tokens as strings, as 1.6.0-1.10.1 do, ``paging="numeric"`` as 1.10.2+ (the test option ``--nomad-paging``
picks the default); ``version`` is what ``/v1/agent/self`` reports.

Copied from Nomad on purpose: go-bexpr's grammar (no list literals; 400 ``failed to create result paginator``),
evaluation reads checked against the request's namespace first, log streams answering 404 ``No path to node``
for an unreachable node and 500 ``Permission denied`` for an ACL denial, ``unknown`` allocations of a
disconnected client and their reconnect, killed tasks' ``Terminated`` event (exit code 143, signal 15),
dispatch's payload and meta rules. Tests can also cut log streams mid-body (``logs_cut_after``), make the node
unreachable (``node_reachable``), start the index high (``first_index``), rebuild the cluster behind the same
address (``rebuild()``, the index near 1 again) and serve HTTPS (``tls``).

There is no scheduler and no clock of its own. Tests drive what a Nomad cluster does by itself through Python
methods: `launch()` / `launch_next()` derive a periodic child as the leader would, `alloc_run()` /
`alloc_finish()` play the client, `gc()` / `client_gc()` play the garbage collectors and `fault()` breaks the
server on purpose. `seed_runs()` bulk-loads history for benchmarks (100,000 runs in about 5 s and 300 MB;
``GET /v1/allocations`` scans them in about 0.1 s and renders about 70,000 stubs/s with task states; each stub's
JSON is kept until its alloc changes, another 300 MB for 100,000, so listing them again goes about 5 times faster).

Quirks copied on purpose: ``reverse`` only counts when it is the literal ``true`` (python-nomad sends ``True``),
periodic force answers 500 for a missing job, deregistering a missing job is 200, a missing job's allocations
are ``[]``, and job IDs route by suffix so raw ``/`` and ``%2F`` both work.

The package is organised along the emulator's sections:
  ``helpers`` (constants, the API error, Go-style parsing and formatting), ``cron`` (Nomad's cronexpr semantics on
  top of croniter), ``bexpr`` (a go-bexpr subset for ``filter=``), ``jobspec`` (job canonicalisation and
  validation), ``diff`` (plan diffs), ``records`` (`_Job`, `_Eval`, `_Alloc`, `_TaskState`, `_Token`);
  the state store ``state`` (all data, one lock) with its sections ``state_jobs``, ``state_launches``,
  ``state_render`` and ``state_client``; the HTTP-free API ``api`` (routing, auth, blocking queries, on the requests
  and responses of ``exchange``) with its endpoints in ``api_jobs``, ``api_allocs``, ``api_streams`` and
  ``api_agent``; ``server`` (HTTP plumbing) and ``emulator`` (`NomadEmulator`, the public face).
"""

from tests.emulators.nomad.bexpr import BexprEvalError, BexprSyntaxError, bexpr_compile, resolve_in
from tests.emulators.nomad.cron import cron_next, cron_normalize, periodic_next
from tests.emulators.nomad.diff import job_diff
from tests.emulators.nomad.emulator import NomadEmulator
from tests.emulators.nomad.helpers import (
    FAULT_500_MESSAGE,
    HOUR,
    MINUTE,
    NOMAD_VERSION,
    POLICY_CAPABILITIES,
    SECOND,
    NomadEmulatorError,
    go_duration_string,
    go_parse_bool,
    go_parse_duration,
    multierror,
    rfc3339nano,
)
from tests.emulators.nomad.jobspec import (
    GROUP_FIELDS,
    JOB_FIELDS,
    JOB_TYPES,
    SERVER_JOB_FIELDS,
    TASK_FIELDS,
    canonicalize_job,
    update_rule_error,
    validate_job,
)
from tests.emulators.nomad.records import EVENT_FIELDS, TERMINAL_CLIENT_STATUSES, render_event
from tests.emulators.nomad.server import LoggedRequest

__all__ = [
    "NOMAD_VERSION",
    "SECOND",
    "MINUTE",
    "HOUR",
    "FAULT_500_MESSAGE",
    "POLICY_CAPABILITIES",
    "NomadEmulatorError",
    "go_parse_bool",
    "go_parse_duration",
    "go_duration_string",
    "rfc3339nano",
    "multierror",
    "cron_normalize",
    "cron_next",
    "periodic_next",
    "BexprSyntaxError",
    "BexprEvalError",
    "bexpr_compile",
    "resolve_in",
    "JOB_FIELDS",
    "SERVER_JOB_FIELDS",
    "GROUP_FIELDS",
    "TASK_FIELDS",
    "JOB_TYPES",
    "canonicalize_job",
    "validate_job",
    "update_rule_error",
    "job_diff",
    "TERMINAL_CLIENT_STATUSES",
    "EVENT_FIELDS",
    "render_event",
    "LoggedRequest",
    "NomadEmulator",
]
