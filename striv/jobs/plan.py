"""Plans: what pushing a job (saved, or with unsaved changes) would change on the live cluster.

A plan's diff comes from the cluster, whose live copy may hold secrets in cleartext; they are redacted here before
the diff is shown or returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from striv import templating
from striv.core import crypto, keys
from striv.jobs.layers import job_layers, job_values
from striv.jobs.models import Job
from striv.jobs.rendering import layers_render
from striv.jobs.services import JobChanges, job_values_check
from striv.jobs.sync import job_meta
from striv.templating import Layer


@dataclass(frozen=True)
class JobPlan:
    """A job's plan against its cluster, with secrets redacted from the diff."""

    changed: bool
    diff_text: str
    live: bool


def redact_secrets(text: str, layers: Sequence[Layer], extra: Iterable[str] = ()) -> str:
    """Replace the cleartext of every secret in ``layers`` (and of the ciphertexts ``extra``) found in ``text``.

    Used on a cluster's diff, whose live side may hold secrets the job had when it was last pushed (``extra``).
    """
    for encrypted in {*templating.secret_texts(layers), *extra}:
        try:
            cleartext = keys.decrypt(encrypted)
        except crypto.CryptoError:
            continue
        if cleartext:
            text = text.replace(cleartext, templating.REDACTED)
    return text


def job_plan(*, job: Job) -> JobPlan:
    """Compare ``job``'s rendered spec with the live cluster. Raises DriverError or RenderError."""
    layers = job_layers(execution=job.execution, values=job_values(job), params=job.params)
    rendered = layers_render(execution=job.execution, layers=layers, mode="push")
    driver = job.execution.get_driver()
    plan = driver.plan(job_id=str(job.pk), name=job.name, spec=rendered.spec, meta=job_meta(job))
    return JobPlan(
        changed=plan.changed,
        diff_text=redact_secrets(plan.diff_text, layers, job.pushed_secrets or ()),
        live=driver.read(job_id=str(job.pk)) is not None,
    )


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
    rendered = layers_render(execution=execution, layers=layers, mode="push")
    draft = Job(pk=job.pk, name=name, execution=execution)
    driver = execution.get_driver()
    plan = driver.plan(job_id=str(job.pk), name=name, spec=rendered.spec, meta=job_meta(draft))
    layers += job_layers(execution=job.execution, values=saved_values, params=job.params)
    return JobPlan(
        changed=plan.changed,
        diff_text=redact_secrets(plan.diff_text, layers, job.pushed_secrets or ()),
        live=driver.read(job_id=str(job.pk)) is not None,
    )
