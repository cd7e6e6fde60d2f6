"""Rendering jobs: one job (preview or push mode), many saved jobs at once, and the hash of what a job should be.

Every renderer returns or raises ``RenderError``; services wrap it in ``JobRenderError``, a
ValidationError that carries the render error itself, so the UI and API place it without rendering again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import ValidationError

from striv import templating
from striv.core import crypto, keys
from striv.dimensions.models import DimensionValue
from striv.drivers import driver_class
from striv.drivers.base import SpecError
from striv.executions.models import Execution
from striv.jobs.layers import LayerSource, job_layers
from striv.jobs.models import Job
from striv.templating import LAYER_JOB, Layer, Rendered, RenderError


class JobRenderError(ValidationError):
    """A job definition does not render. ``error`` is the RenderError, with its layer, param and position.

    As a ValidationError it lands on ``params`` (the job's own params are at fault) or on the definition as a whole.
    """

    def __init__(self, error: RenderError) -> None:
        field = "params" if error.layer == LAYER_JOB else "__all__"
        super().__init__({field: ValidationError(error.message, code="render")})
        self.error = error


@dataclass(frozen=True)
class EffectiveParam:
    """One leaf param of a rendering: its dotted path, its value (secrets redacted) and the layer that set it."""

    path: str
    value: Any
    layer: str


def effective_params(rendered: Rendered) -> list[EffectiveParam]:
    """The effective params of a rendering, one per leaf path, each with the layer that set it."""
    result = []
    for path in sorted(rendered.provenance):
        node: Any = rendered.params
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        result.append(EffectiveParam(path, node, rendered.provenance[path]))
    return result


def layers_secrets_verify(layers: Sequence[Layer]) -> None:
    """Check that every secret in ``layers`` decrypts with the configured key.

    Raises RenderError naming the layer and param when no key is configured or a value was made with another key.
    """
    for layer in layers:
        for path, value in templating.iter_secrets(layer.params):
            try:
                keys.verify(value)
            except crypto.CryptoError as exc:
                raise RenderError(
                    f"secret param {path} in layer {layer.name} cannot be decrypted: {exc}",
                    layer=layer.name,
                    param=path,
                ) from None


def layers_render(
    *, execution: Execution, layers: Sequence[Layer], mode: Literal["preview", "push"] = "preview"
) -> Rendered:
    """Render a job's ``layers`` with its execution's template and let the driver check the spec.

    In preview mode secrets are redacted (but checked to decrypt); in push mode they are cleartext, so the result
    must go only to the driver. Raises RenderError naming the layer, param or template position.
    """
    for layer in layers:
        templating.params_validate(layer.params, layer=layer.name)
    if mode == "preview":
        layers_secrets_verify(layers)
    rendered = templating.job_spec_render(
        execution.payload_template,
        layers,
        execution_key=execution.key,
        mode=mode,
        decrypt=keys.decrypt if keys.private_key_pem() else None,
    )
    spec_validate(execution, rendered.spec)
    return rendered


def job_render(
    *,
    execution: Execution,
    values: Iterable[DimensionValue],
    params: dict[str, Any],
    mode: Literal["preview", "push"] = "preview",
) -> Rendered:
    """Render a job definition (saved or not) to its orchestrator spec; see ``layers_render``."""
    return layers_render(
        execution=execution, layers=job_layers(execution=execution, values=values, params=params), mode=mode
    )


def spec_validate(execution: Execution, spec: dict) -> None:
    """Let the execution's driver check a rendered spec (cron, job type); raises RenderError naming the field."""
    try:
        driver_class(execution.driver).validate_spec(spec)
    except SpecError as exc:
        raise RenderError(
            f"rendered spec of execution {execution.key}: {exc.message}", param=exc.field, kind="spec"
        ) from None


def desired_hash(
    *,
    spec: dict,
    layers: Sequence[Layer],
    name: str,
    execution: Execution,
    memo: dict[Any, Any] | None = None,
) -> str:
    """Hash of what a job should be on its cluster: its spec, name and target cluster.

    The stored spec is redacted, so the ciphertexts of the secrets are folded in: a changed secret is a change.
    The cluster is part of it so that pointing an execution at another cluster re-pushes its jobs. ``memo``, a dict
    kept by a caller hashing many jobs, remembers the secrets of all but each job's last layer (its own params, the
    only layer not shared) and each execution's cluster; it must not outlive changes to those objects.
    """
    if memo is None:
        found = set(templating.secret_texts(layers))
        cluster = list(driver_class(execution.driver).cluster_key(execution.driver_config))
    else:
        found = set(templating.secret_texts(layers[-1:]))
        for layer in layers[:-1]:
            # Keyed by identity; the entry holds the params, so that their id is not reused while the memo lives.
            hit = memo.get(id(layer.params))
            if hit is None:
                hit = memo[id(layer.params)] = (layer.params, frozenset(templating.secret_texts([layer])))
            if hit[1]:
                found.update(hit[1])
        hit = memo.get(("cluster", id(execution)))
        if hit is None:
            cluster = list(driver_class(execution.driver).cluster_key(execution.driver_config))
            hit = memo[("cluster", id(execution))] = (execution, cluster)
        cluster = hit[1]
    return templating.spec_hash(
        {"spec": spec, "secrets": sorted(found), "name": name, "execution": execution.key, "cluster": cluster}
    )


def jobs_render_many(
    jobs: Any, *, batch_size: int = 500
) -> Iterable[tuple[Job, tuple[templating.Rendered, str] | RenderError]]:
    """Render many saved jobs in preview mode, batching those of one execution into one template evaluation.

    ``jobs`` is a Job queryset (ordered by execution for the best batching) or list. A constant number of queries
    runs per few hundred jobs. Yields ``(job, (rendered, desired_hash))`` or ``(job, RenderError)`` once per job;
    within a batch, the jobs whose params fail come first.
    """

    # Execution and dimension layers are shared by many jobs (the same Layer and param objects, see job_layers):
    # each is checked once, and the rendering and hashing steps reuse what they worked out for them. Keys are
    # identities; entries hold their objects, so that no id is reused while this runs.
    checked_layers: dict[int, tuple[Layer, RenderError | None]] = {}
    shared_layers: dict[int, tuple] = {}
    hash_memo: dict[Any, Any] = {}

    def layer_check(layer: Layer) -> None:
        hit = checked_layers.get(id(layer))
        if hit is None:
            error = None
            try:
                templating.params_validate(layer.params, layer=layer.name)
                layers_secrets_verify([layer])
            except RenderError as exc:
                error = exc
            hit = checked_layers[id(layer)] = (layer, error)
        if hit[1] is not None:
            raise hit[1]

    def batches() -> Iterable[list[tuple[Job, list[Layer]]]]:
        batch: list[tuple[Job, list[Layer]]] = []
        for job, values in LayerSource().jobs(jobs):
            if batch and (batch[0][0].execution_id != job.execution_id or len(batch) >= batch_size):
                yield batch
                batch = []
            layers = job_layers(execution=job.execution, values=values, params=job.params, shared=shared_layers)
            batch.append((job, layers))
        if batch:
            yield batch

    def render(batch: list[tuple[Job, list[Layer]]]) -> Iterable[tuple[Job, Any]]:
        execution = batch[0][0].execution
        # A job's error is the first found in the order job_render checks: each layer's params and secrets, lowest
        # first, then the template, then the spec.
        failed: dict[int, RenderError] = {}
        todo: list[int] = []
        for index, (_, layers) in enumerate(batch):
            try:
                for layer in layers[:-1]:
                    layer_check(layer)
            except RenderError as exc:
                failed[index] = exc
                continue
            todo.append(index)
        results = templating.job_specs_render(
            execution.payload_template, [batch[index][1] for index in todo], execution_key=execution.key
        )
        rendered: list[tuple[int, Any]] = []
        for index, result in zip(todo, results, strict=True):
            # Rendering checks the job's own params (its last layer; the others passed above) before the template,
            # so a params error here is theirs.
            if isinstance(result, RenderError) and result.kind == "params":
                failed[index] = result
                continue
            try:
                layers_secrets_verify(batch[index][1][-1:])
            except RenderError as exc:
                failed[index] = exc
                continue
            rendered.append((index, result))
        for index, (job, _) in enumerate(batch):
            if index in failed:
                yield job, failed[index]
        for index, result in rendered:
            job, layers = batch[index]
            if not isinstance(result, RenderError):
                try:
                    spec_validate(execution, result.spec)
                except RenderError as exc:
                    result = exc
            if isinstance(result, RenderError):
                yield job, result
            else:
                spec_hash = desired_hash(
                    spec=result.spec, layers=layers, name=job.name, execution=execution, memo=hash_memo
                )
                yield job, (result, spec_hash)

    source = iter(batches())
    while True:
        # A batch's jobs and results live until it is yielded: long enough for the cyclic garbage collector to scan
        # them over and over and move them to its oldest generation, whose full scans of the whole process then
        # took a fifth of a bulk render. So collection pauses while a batch is read and rendered (never across a
        # yield) and resumes, as it was, before the caller sees the results; garbage made meanwhile is collected
        # then.
        collecting = gc.isenabled()
        gc.disable()
        try:
            batch = next(source, None)
            if batch is None:
                break
            done = list(render(batch))
        finally:
            if collecting:
                gc.enable()
        yield from done
