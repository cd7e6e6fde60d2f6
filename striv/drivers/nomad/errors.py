"""Nomad's answers as DriverErrors: which failures are refusals and which may pass on a retry."""

from __future__ import annotations

import requests

from striv.drivers.base import DriverError

# Nomad answers 500 for refusals too (validation, update rules, unknown namespace): these texts mark a refusal that
# retrying unchanged cannot fix. Anything else at 500 (rpc errors, no leader, no path to region) may pass later.
REFUSAL_MARKERS = (
    "error occurred",
    "errors occurred",
    "cannot update",
    "Enforcing job modify index",
    "nonexistent namespace",
    "can't force",
    "job not found",
    "Invalid ",
    "Missing job",
    "Job ID",
    "Periodic can only",
    "priority must be",
    # dispatch refusals: the job's ParameterizedJob rules, a stopped or non-parameterized job
    "is not a parameterized job",
    "is stopped",
    "Payload is not",
    "Payload exceeds",
    "meta keys",
    "metadata keys",
    "parameterized job not found",
)


def nomad_error(exc: Exception, action: str) -> DriverError:
    """Translate a python-nomad or requests failure into a DriverError that says whether a retry may help."""
    response = getattr(exc, "nomad_resp", None)
    if isinstance(response, requests.Response):
        status = response.status_code
        text = (response.text or "").strip() or response.reason or f"HTTP {status}"
        if text.endswith("Permission denied") or text.endswith("ACL token not found"):
            # Log streams answer a denial with 500 (their path sets no code): a refusal all the same.
            return DriverError(f"Nomad refused to {action}: {text}", retryable=False, status=403)
        if status == 404 and text == "No path to node":
            # The server cannot reach the client node right now (restarting, partitioned): not "gone".
            return DriverError(f"Nomad cannot reach the node to {action}: {text}", retryable=True, status=None)
        if status >= 500:
            retryable = not any(marker in text for marker in REFUSAL_MARKERS)
        else:
            retryable = status in (408, 429)
        return DriverError(
            f"Nomad refused to {action}: {text}" if not retryable else f"Nomad failed to {action}: {text}",
            retryable=retryable,
            status=status,
        )
    cause = response if isinstance(response, BaseException) else exc
    return DriverError(f"Nomad unreachable while trying to {action}: {cause}", retryable=True)
