"""The run insert under its earlier import path; run code lives in refresh, archive, logs and selectors.

``_runs_insert`` (the raw multi-row insert, in ``striv.runs.refresh``) is re-exported here for the test that checks
it row for row against ``bulk_create(ignore_conflicts=True)``.
"""

from striv.runs.refresh import _runs_insert

__all__ = ["_runs_insert"]
