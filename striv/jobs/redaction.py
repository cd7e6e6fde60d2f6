"""The secrets of a job, as a Redactor for whatever its cluster says about it (errors, warnings, plans).

A cluster's message about a job may quote any cleartext the job was pushed with: the secrets of its layers now,
those it was last pushed with (``Job.pushed_secrets``, still on the cluster) and its execution's encrypted driver
config. Every message is cleaned with this Redactor before it is stored, logged, printed or returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from striv import templating
from striv.core import crypto, keys
from striv.core.redaction import Redactor
from striv.drivers.base import DriverError
from striv.executions.models import Execution
from striv.jobs.models import Job
from striv.templating import Layer, RenderError


def job_redactor(
    *,
    job: Job | None = None,
    layers: Sequence[Layer] = (),
    ciphertexts: Iterable[str] = (),
    execution: Execution | None = None,
    memo: dict[str, str] | None = None,
) -> Redactor:
    """A Redactor of every secret of ``job`` (its pushed secrets and execution), ``layers``, ``ciphertexts`` and
    ``execution``'s driver config. ``memo`` caches decryptions across the jobs of one pass. Never raises: a
    ciphertext that does not decrypt cannot have reached a cluster."""
    encrypted = {*templating.secret_texts(layers), *ciphertexts}
    executions = [e for e in (execution, job.execution if job is not None else None) if e is not None]
    if job is not None:
        encrypted.update(job.pushed_secrets or ())
    for each in executions:
        if isinstance(each.driver_config, dict):
            encrypted.update(str(s.get("encrypted")) for _, s in templating.iter_secrets(each.driver_config))
    if not encrypted or not keys.private_key_pem():
        return Redactor(())
    memo = {} if memo is None else memo
    cleartexts = []
    for text in sorted(encrypted):
        if text not in memo:
            try:
                memo[text] = keys.decrypt(text)
            except (crypto.CryptoError, ValueError, TypeError):
                memo[text] = ""
        cleartexts.append(memo[text])
    return Redactor(cleartexts)


def driver_error_redact(error: DriverError, redactor: Redactor) -> DriverError:
    """``error`` with its message cleaned (the same error when there is nothing to clean)."""
    cleaned = redactor.text(error.message)
    if cleaned == error.message:
        return error
    return DriverError(cleaned, retryable=error.retryable, status=error.status)


def render_error_redact(error: RenderError, redactor: Redactor) -> RenderError:
    """``error`` (from a push-mode rendering, which sees cleartext) with its message cleaned."""
    cleaned = redactor.text(error.message)
    if cleaned == error.message:
        return error
    fields: dict[str, Any] = {k: getattr(error, k) for k in ("layer", "param", "kind", "line", "column")}
    return RenderError(cleaned, **{k: v for k, v in fields.items() if v is not None})
