"""The Nomad driver: pushes rendered specs as (periodic) batch jobs through python-nomad.

One striv job is one Nomad job with the stable ID ``<job_prefix><job uuid>``, so renaming a job in striv only
changes the Nomad ``Name``. ``Meta`` carries ``striv_job_id`` and ``striv_execution``. A template without
``Periodic`` (and without ``ParameterizedJob``) is registered as a parameterized batch job so that it does not run
when it is pushed; "run now" dispatches it. Periodic jobs are run now with a periodic force.

Modules: ``driver`` (NomadDriver), ``config`` (the driver_config schema), ``cron`` and ``cronexpr`` (Nomad's cron
semantics), ``translate`` (allocations to runs), ``diff`` (plan diffs as text), ``errors`` (refusal or retry).
"""

from striv.drivers.nomad.driver import NomadDriver

__all__ = ["NomadDriver"]
