"""Job services: render, validate, save and delete jobs.

Every writer (web UI, API, load-state) goes through these functions so that one set of checks applies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction

from striv import templating
from striv.core import crypto, keys
from striv.dimensions.models import DimensionValue
from striv.executions.models import Execution
from striv.jobs.models import Job, JobValue

logger = logging.getLogger(__name__)


class StaleVersion(Exception):
    """Raised when a job was saved by someone else since the caller read it."""

    def __init__(self, job: Job, expected: int) -> None:
        self.job = job
        self.expected = expected
        super().__init__(f"job {job.pk} is at version {job.version}, not {expected}: someone else saved it first")


def execution_layer(execution: Execution) -> templating.Layer:
    return templating.Layer(templating.layer_name_execution(execution.key), execution.default_params or {})


def job_layers(
    *, execution: Execution, values: Iterable[DimensionValue], params: dict[str, Any]
) -> list[templating.Layer]:
    """Return the param layers of a job, lowest first: execution defaults, dimension values by priority, job."""
    layers = [execution_layer(execution)]
    layers += templating.dimension_layers(
        (value.dimension.key, value.dimension.priority, value.key, value.params or {}) for value in values
    )
    layers.append(templating.Layer("job", params or {}))
    return layers


def layers_secrets_verify(layers: Sequence[templating.Layer]) -> None:
    """Check that every secret in ``layers`` decrypts with the configured key.

    Raises RenderError naming the layer and param when no key is configured or a value was made with another key.
    """
    for layer in layers:
        for path, value in templating.iter_secrets(layer.params):
            try:
                keys.verify(value)
            except crypto.CryptoError as exc:
                raise templating.RenderError(
                    f"secret param {path} in layer {layer.name} cannot be decrypted: {exc}", layer=layer.name, param=path
                ) from None


def job_render(
    *,
    execution: Execution,
    values: Iterable[DimensionValue],
    params: dict[str, Any],
    mode: Literal["preview", "push"] = "preview",
) -> templating.Rendered:
    """Render a job definition (saved or not) to its orchestrator spec.

    In preview mode secrets are redacted (but checked to decrypt); in push mode they are cleartext, so the result
    must go only to the driver. Raises ``templating.RenderError`` naming the layer, param or template position.
    """
    layers = job_layers(execution=execution, values=values, params=params)
    for layer in layers:
        templating.params_validate(layer.params, layer=layer.name)
    if mode == "preview":
        layers_secrets_verify(layers)
    return templating.job_spec_render(
        execution.payload_template,
        layers,
        execution_key=execution.key,
        mode=mode,
        decrypt=keys.decrypt if keys.private_key_pem() else None,
    )


def desired_hash(rendered: templating.Rendered, layers: Sequence[templating.Layer]) -> str:
    """Hash of the spec a job should have on its cluster.

    The stored spec is redacted, so the ciphertexts of the secrets are folded in: a changed secret is a change.
    """
    secrets = sorted({str(value.get("encrypted")) for layer in layers for _, value in templating.iter_secrets(layer.params)})
    return templating.spec_hash({"spec": rendered.spec, "secrets": secrets})


def job_values_check(values: Iterable[DimensionValue]) -> list[DimensionValue]:
    """Return ``values`` as a list, refusing two values of one dimension (ValidationError on ``values``)."""
    seen: dict[int, DimensionValue] = {}
    result = []
    for value in values:
        if value.dimension_id in seen:
            other = seen[value.dimension_id]
            raise ValidationError(
                {"values": f"A job has at most one value per dimension: {other} and {value} are both {value.dimension}"}
            )
        seen[value.dimension_id] = value
        result.append(value)
    return result


def render_error_as_validation(error: templating.RenderError) -> ValidationError:
    """Map a render error to the form/API field it belongs to: job params, or the definition as a whole."""
    field = "params" if error.layer == "job" else "__all__"
    return ValidationError({field: ValidationError(str(error), code="render")})


def _job_store(job: Job, *, values: list[DimensionValue]) -> Job:
    try:
        rendered = job_render(execution=job.execution, values=values, params=job.params)
    except templating.RenderError as exc:
        raise render_error_as_validation(exc) from exc
    job.spec = rendered.spec
    job.spec_hash = desired_hash(rendered, job_layers(execution=job.execution, values=values, params=job.params))
    if job.spec_hash != job.pushed_hash:
        job.sync_status = Job.SyncStatus.OUT_OF_SYNC
    elif job.sync_status == Job.SyncStatus.OUT_OF_SYNC:
        job.sync_status = Job.SyncStatus.IN_SYNC
    job.full_clean(exclude=["values"])
    job.save()
    JobValue.objects.filter(job=job).exclude(value__in=values).delete()
    existing = set(JobValue.objects.filter(job=job).values_list("value_id", flat=True))
    JobValue.objects.bulk_create(
        [JobValue(job=job, dimension_id=value.dimension_id, value=value) for value in values if value.pk not in existing]
    )
    return job


@dataclass
class JobChanges:
    """Fields to change on a job; None leaves a field as it is."""

    name: str | None = None
    execution: Execution | None = None
    values: list[DimensionValue] | None = None
    params: dict[str, Any] | None = None


@transaction.atomic
def job_create(
    *, name: str, execution: Execution, values: Iterable[DimensionValue] = (), params: dict[str, Any] | None = None
) -> Job:
    """Create a job after rendering it; raises ValidationError (with render errors on ``params`` or ``__all__``)."""
    values = job_values_check(values)
    job = Job(name=name, execution=execution, params=params or {})
    return _job_store(job, values=values)


@transaction.atomic
def job_update(*, job: Job, changes: JobChanges, expected_version: int | None = None) -> Job:
    """Apply ``changes`` to ``job`` and re-render it.

    With ``expected_version`` the update is refused with StaleVersion when the stored version differs (optimistic
    concurrency); without it the last writer wins. Raises ValidationError when the result does not render.
    """
    locked = Job.objects.select_for_update().select_related("execution").get(pk=job.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked, expected_version)
    if changes.name is not None:
        locked.name = changes.name
    if changes.execution is not None:
        locked.execution = changes.execution
    if changes.params is not None:
        locked.params = changes.params
    if changes.values is not None:
        values = job_values_check(changes.values)
    else:
        values = [jv.value for jv in locked.job_values.select_related("value__dimension")]
    locked.version += 1  # the row is locked, so this cannot race
    _job_store(locked, values=values)
    locked.refresh_from_db()
    return locked


@transaction.atomic
def job_delete(*, job: Job) -> None:
    """Delete a job from striv."""
    job.delete()


def jobs_render_many(
    jobs: Iterable[Job], *, batch_size: int = 500
) -> Iterable[tuple[Job, tuple[templating.Rendered, str] | templating.RenderError]]:
    """Render many saved jobs in preview mode, batching those of one execution into one template evaluation.

    ``jobs`` should come from ``Job.objects.with_layers()`` so that no query runs per job. Yields
    ``(job, (rendered, desired_hash))`` or ``(job, RenderError)`` once for each job.
    """
    batch: list[tuple[Job, list[templating.Layer]]] = []

    def flush() -> Iterable[tuple[Job, Any]]:
        execution = batch[0][0].execution
        checked: list[tuple[Job, list[templating.Layer]]] = []
        for job, layers in batch:
            try:
                for layer in layers:
                    templating.params_validate(layer.params, layer=layer.name)
                layers_secrets_verify(layers)
                checked.append((job, layers))
            except templating.RenderError as exc:
                yield job, exc
        results = templating.job_specs_render(
            execution.payload_template, [layers for _, layers in checked], execution_key=execution.key
        )
        for (job, layers), result in zip(checked, results, strict=True):
            if isinstance(result, templating.RenderError):
                yield job, result
            else:
                yield job, (result, desired_hash(result, layers))

    for job in jobs:
        if batch and (batch[0][0].execution_id != job.execution_id or len(batch) >= batch_size):
            yield from flush()
            batch = []
        values = [jv.value for jv in job.job_values.all()]
        batch.append((job, job_layers(execution=job.execution, values=values, params=job.params)))
    if batch:
        yield from flush()
