"""Plans: what pushing a job (saved, or with unsaved changes) would change on the live cluster.

A plan's diff comes from the cluster, whose live copy may hold secrets in cleartext: the diff is formatted from a
copy of the cluster's answer in which every value holding a secret became a fingerprint mark, and every message
is cleaned of the job's secrets (``jobs.redaction``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from striv.core import redaction
from striv.core.redaction import Redactor
from striv.drivers.base import Driver, DriverError
from striv.executions.models import Execution
from striv.jobs.layers import job_layers, job_values
from striv.jobs.models import Job
from striv.jobs.redaction import driver_error_redact, job_redactor, render_error_redact
from striv.jobs.rendering import layers_render
from striv.jobs.services import JobChanges, job_values_check
from striv.jobs.sync import job_meta
from striv.secret import REDACTED
from striv.templating import Layer, RenderError


@dataclass(frozen=True)
class JobPlan:
    """A job's plan against its cluster, with secrets redacted from the diff."""

    changed: bool
    diff_text: str
    live: bool


def _secret_mark(leaf: str) -> str:
    # Equal values get equal marks, so a reader sees whether a secret changed, and nothing of the secret itself.
    return f"{REDACTED[:-1]} {redaction.fingerprint(leaf, key=settings.SECRET_KEY)}>"


def _plan(*, job: Job, driver: Driver, draft: Job, spec: dict, redactor: Redactor) -> JobPlan:
    """Ask the cluster, then format the plan from a copy of its answer in which every value holding a secret is
    replaced by a fingerprint mark, so that no secret is ever formatted; messages are cleaned the same way."""
    try:
        plan = driver.plan(job_id=str(job.pk), name=draft.name, spec=spec, meta=job_meta(draft))
        live = driver.read(job_id=str(job.pk)) is not None
    except DriverError as exc:
        raise driver_error_redact(exc, redactor) from None
    if plan.raw:
        text = redactor.text(driver.plan_text(redactor.value(plan.raw, mark=_secret_mark)))
    else:
        text = redactor.text(plan.diff_text)
    return JobPlan(changed=plan.changed, diff_text=text, live=live)


def _push_render(execution: Execution, layers: Sequence[Layer], redactor: Redactor) -> dict:
    try:
        return layers_render(execution=execution, layers=layers, mode="push").spec
    except RenderError as exc:
        raise render_error_redact(exc, redactor) from None


def job_plan(*, job: Job) -> JobPlan:
    """Compare ``job``'s rendered spec with the live cluster. Raises DriverError or RenderError (messages cleaned
    of the job's secrets)."""
    layers = job_layers(execution=job.execution, values=job_values(job), params=job.params)
    redactor = job_redactor(job=job, layers=layers)
    spec = _push_render(job.execution, layers, redactor)
    return _plan(job=job, driver=job.execution.get_driver(), draft=job, spec=spec, redactor=redactor)


def job_plan_changes(*, job: Job, changes: JobChanges) -> JobPlan:
    """Compare what ``job`` would become with ``changes`` applied against the live cluster; nothing is saved.

    The diff is redacted with the secrets of both the saved and the changed job, since the live copy may still hold
    a secret the change replaces. Raises DriverError, RenderError or ValidationError (two values of one dimension).
    """
    saved_values = job_values(job)
    execution = changes.execution or job.execution
    values = job_values_check(changes.values) if changes.values is not None else saved_values
    params = changes.params if changes.params is not None else job.params
    name = changes.name if changes.name is not None else job.name
    layers = job_layers(execution=execution, values=values, params=params)
    saved_layers = job_layers(execution=job.execution, values=saved_values, params=job.params)
    redactor = job_redactor(job=job, layers=[*layers, *saved_layers], execution=execution)
    spec = _push_render(execution, layers, redactor)
    draft = Job(pk=job.pk, name=name, execution=execution)
    return _plan(job=job, driver=execution.get_driver(), draft=draft, spec=spec, redactor=redactor)
