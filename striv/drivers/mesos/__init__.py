"""The Mesos driver: pushes rendered specs as Rhythm cron jobs (Rhythm is a cron framework for Apache Mesos) and
reads their Mesos tasks as runs and their sandboxes' stdout and stderr as logs.

One striv job is one Rhythm job ``<group>:<project>:<job_prefix><job uuid>`` (group and project from the
driver_config), so renaming a job in striv changes only the ``striv_name`` label. The template renders Rhythm's own
create-job body (``schedule.cron``, ``container.docker.image``, ``cmd``, ``cpus``, ``mem``, ``user``...) without
``group``, ``project`` and ``id``; ``labels`` also carry striv's meta. A job is pushed whole: created, or updated
with every field, since Rhythm's update merges only the fields it gets.

Modules: ``driver`` (MesosDriver), ``config`` (the driver_config schema), ``cron`` (Rhythm's cron dialect),
``translate`` (specs to Rhythm bodies, task records and job runtime to runs), ``client`` (HTTP and Rhythm's
errors), ``files`` (logs from the Mesos agents' files API).
"""

from striv.drivers.mesos.driver import MesosDriver

__all__ = ["MesosDriver"]
