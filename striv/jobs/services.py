"""Job services: render, validate, save and delete jobs.

Every writer (web UI, API, load-state) goes through these functions so that one set of checks applies.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from itertools import groupby
from typing import Any, ClassVar, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from striv import templating
from striv.core import crypto, keys
from striv.dimensions.models import DimensionValue
from striv.drivers import driver_class
from striv.drivers.base import Driver, DriverError, RunNowResult, SpecError
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
    *,
    execution: Execution,
    values: Iterable[DimensionValue],
    params: dict[str, Any],
    shared: dict[int, tuple] | None = None,
) -> list[templating.Layer]:
    """Return the param layers of a job, lowest first: execution defaults, dimension values by priority, job.

    ``shared``, a dict kept by a caller building many jobs' layers, makes jobs with the same execution or dimension
    value objects share those Layer objects, so that rendering checks and merges them once.
    """
    if shared is None:
        layers = [execution_layer(execution)]
        layers += templating.dimension_layers(
            (value.dimension.key, value.dimension.priority, value.key, value.params or {}) for value in values
        )
    else:
        # Keyed by identity; each entry holds its object, so that no id is reused while ``shared`` lives.
        top = shared.get(id(execution))
        if top is None:
            top = shared[id(execution)] = (execution, execution_layer(execution))
        layers = [top[1]]
        entries = []
        for value in values:
            entry = shared.get(id(value))
            if entry is None:
                dimension = value.dimension
                layer = templating.Layer(templating.layer_name_dimension(dimension.key, value.key), value.params or {})
                # Ordered as templating.dimension_layers orders them: by priority, then dimension key.
                entry = shared[id(value)] = (value, (dimension.priority, dimension.key), layer)
            entries.append(entry)
        entries.sort(key=lambda entry: entry[1])
        layers += [entry[2] for entry in entries]
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
                    f"secret param {path} in layer {layer.name} cannot be decrypted: {exc}",
                    layer=layer.name,
                    param=path,
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
    rendered = templating.job_spec_render(
        execution.payload_template,
        layers,
        execution_key=execution.key,
        mode=mode,
        decrypt=keys.decrypt if keys.private_key_pem() else None,
    )
    spec_validate(execution, rendered.spec)
    return rendered


def spec_validate(execution: Execution, spec: dict) -> None:
    """Let the execution's driver check a rendered spec (cron, job type); raises RenderError naming the field."""
    try:
        driver_class(execution.driver).validate_spec(spec)
    except SpecError as exc:
        raise templating.RenderError(
            f"rendered spec of execution {execution.key}: {exc.message}", param=exc.field, kind="spec"
        ) from None


def desired_hash(
    *,
    spec: dict,
    layers: Sequence[templating.Layer],
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
        found = {str(v.get("encrypted")) for layer in layers for _, v in templating.iter_secrets(layer.params)}
        cluster = list(driver_class(execution.driver).cluster_key(execution.driver_config))
    else:
        found = {str(v.get("encrypted")) for _, v in templating.iter_secrets(layers[-1].params)} if layers else set()
        for layer in layers[:-1]:
            # Keyed by identity; the entry holds the params, so that their id is not reused while the memo lives.
            hit = memo.get(id(layer.params))
            if hit is None:
                ciphertexts = frozenset(str(v.get("encrypted")) for _, v in templating.iter_secrets(layer.params))
                hit = memo[id(layer.params)] = (layer.params, ciphertexts)
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
    job.spec_hash = desired_hash(
        spec=rendered.spec,
        layers=job_layers(execution=job.execution, values=values, params=job.params),
        name=job.name,
        execution=job.execution,
    )
    if job.spec_hash != job.pushed_hash:
        job.sync_status = Job.SyncStatus.OUT_OF_SYNC
    elif job.sync_status == Job.SyncStatus.OUT_OF_SYNC:
        job.sync_status = Job.SyncStatus.IN_SYNC
    job.full_clean(exclude=["values"])
    job.save()
    JobValue.objects.filter(job=job).exclude(value__in=values).delete()
    existing = set(JobValue.objects.filter(job=job).values_list("value_id", flat=True))
    JobValue.objects.bulk_create(
        [
            JobValue(job=job, dimension_id=value.dimension_id, value=value)
            for value in values
            if value.pk not in existing
        ]
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
    *,
    name: str,
    execution: Execution,
    values: Iterable[DimensionValue] = (),
    params: dict[str, Any] | None = None,
    push: bool = True,
) -> Job:
    """Create a job: render, store, then push it to its cluster.

    Raises ValidationError (render errors on ``params`` or ``__all__``) or, when the cluster refuses the job,
    ValidationError with the cluster's message; either way nothing is saved. When the cluster cannot be reached the
    job is saved with sync status ``pending``. ``job.push_outcome`` tells what happened.
    """
    values = job_values_check(values)
    job = Job(name=name, execution=execution, params=params or {})
    _job_store(job, values=values)
    job.push_outcome = _push_in_save(job, values) if push else PushOutcome(PushOutcome.SKIPPED)
    return job


@transaction.atomic
def job_update(*, job: Job, changes: JobChanges, expected_version: int | None = None, push: bool = True) -> Job:
    """Apply ``changes`` to ``job``, re-render it and push it when its spec changed.

    With ``expected_version`` the update is refused with StaleVersion when the stored version differs (optimistic
    concurrency); without it the last writer wins. Raises ValidationError when the result does not render or the
    cluster refuses it (nothing changes then). ``job.push_outcome`` tells what happened.
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
    outcome = _push_in_save(locked, values) if push else PushOutcome(PushOutcome.SKIPPED)
    locked.refresh_from_db()
    locked.push_outcome = outcome
    return locked


class LayerSource:
    """Resolves many jobs' executions and dimension values with a constant number of queries.

    Master data (executions, dimension values) is read once; jobs' value links are read per chunk of jobs.
    Each job gets its execution attached, so ``job.execution`` costs no query afterwards.
    """

    def __init__(self) -> None:
        self.values = {v.pk: v for v in DimensionValue.objects.select_related("dimension")}
        self.executions = {e.pk: e for e in Execution.objects.all()}

    def jobs(self, jobs: Any, *, chunk_size: int = 500) -> Iterable[tuple[Job, list[DimensionValue]]]:
        """Yield (job, values) for a Job queryset or list, keeping its order."""
        if hasattr(jobs, "defer"):
            jobs = jobs.select_related(None).prefetch_related(None).defer("spec")
            jobs = jobs.iterator(chunk_size=chunk_size)
        chunk: list[Job] = []
        for job in jobs:
            chunk.append(job)
            if len(chunk) >= chunk_size:
                yield from self._resolve(chunk)
                chunk = []
        if chunk:
            yield from self._resolve(chunk)

    def _resolve(self, chunk: list[Job]) -> Iterable[tuple[Job, list[DimensionValue]]]:
        query = JobValue.objects.filter(job_id__in=[job.pk for job in chunk]).values_list("job_id", "value_id")
        # Read as the database returns the rows, so that each job's id is turned into a UUID once rather than once
        # per value (through the ORM, those conversions took nearly as long as the query).
        sql, sql_params = query.query.get_compiler(using=query.db).as_sql()
        with transaction.get_connection(query.db).cursor() as cursor:
            cursor.execute(sql, sql_params)
            rows = cursor.fetchall()
        found: dict[Any, list[DimensionValue]] = {}
        for job_id, value_id in rows:
            values = found.get(job_id)
            if values is None:
                values = found[job_id] = []
            values.append(self.values[value_id])
        to_python = Job._meta.pk.to_python
        links = {to_python(job_id): values for job_id, values in found.items()}
        for job in chunk:
            job.execution = self.executions[job.execution_id]
            yield job, links.get(job.pk, [])


def jobs_render_many(
    jobs: Any, *, batch_size: int = 500
) -> Iterable[tuple[Job, tuple[templating.Rendered, str] | templating.RenderError]]:
    """Render many saved jobs in preview mode, batching those of one execution into one template evaluation.

    ``jobs`` is a Job queryset (ordered by execution for the best batching) or list. A constant number of queries
    runs per few hundred jobs. Yields ``(job, (rendered, desired_hash))`` or ``(job, RenderError)`` once per job;
    within a batch, the jobs whose params fail come first.
    """

    # Execution and dimension layers are shared by many jobs (the same Layer and param objects, see job_layers):
    # each is checked once, and the rendering and hashing steps reuse what they worked out for them. Keys are
    # identities; entries hold their objects, so that no id is reused while this runs.
    checked_layers: dict[int, tuple[templating.Layer, templating.RenderError | None]] = {}
    shared_layers: dict[int, tuple] = {}
    hash_memo: dict[Any, Any] = {}

    def layer_check(layer: templating.Layer) -> None:
        hit = checked_layers.get(id(layer))
        if hit is None:
            error = None
            try:
                templating.params_validate(layer.params, layer=layer.name)
                layers_secrets_verify([layer])
            except templating.RenderError as exc:
                error = exc
            hit = checked_layers[id(layer)] = (layer, error)
        if hit[1] is not None:
            raise hit[1]

    def batches() -> Iterable[list[tuple[Job, list[templating.Layer]]]]:
        batch: list[tuple[Job, list[templating.Layer]]] = []
        for job, values in LayerSource().jobs(jobs):
            if batch and (batch[0][0].execution_id != job.execution_id or len(batch) >= batch_size):
                yield batch
                batch = []
            layers = job_layers(execution=job.execution, values=values, params=job.params, shared=shared_layers)
            batch.append((job, layers))
        if batch:
            yield batch

    def render(batch: list[tuple[Job, list[templating.Layer]]]) -> Iterable[tuple[Job, Any]]:
        execution = batch[0][0].execution
        # A job's error is the first found in the order job_render checks: each layer's params and secrets, lowest
        # first, then the template, then the spec.
        failed: dict[int, templating.RenderError] = {}
        todo: list[int] = []
        for index, (_, layers) in enumerate(batch):
            try:
                for layer in layers[:-1]:
                    layer_check(layer)
            except templating.RenderError as exc:
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
            if isinstance(result, templating.RenderError) and result.kind == "params":
                failed[index] = result
                continue
            try:
                layers_secrets_verify(batch[index][1][-1:])
            except templating.RenderError as exc:
                failed[index] = exc
                continue
            rendered.append((index, result))
        for index, (job, _) in enumerate(batch):
            if index in failed:
                yield job, failed[index]
        for index, result in rendered:
            job, layers = batch[index]
            if not isinstance(result, templating.RenderError):
                try:
                    spec_validate(execution, result.spec)
                except templating.RenderError as exc:
                    result = exc
            if isinstance(result, templating.RenderError):
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


# --- pushing to the cluster --------------------------------------------------------------------------------------

# Retry delays of pending pushes double from the first to the last.
BACKOFF_FIRST = timedelta(seconds=15)
BACKOFF_MAX = timedelta(minutes=15)


@dataclass(frozen=True)
class PushOutcome:
    """What a save or sync did with the cluster."""

    PUSHED: ClassVar[str] = "pushed"
    UNCHANGED: ClassVar[str] = "unchanged"
    PENDING: ClassVar[str] = "pending"
    FAILED: ClassVar[str] = "failed"
    REMOVED: ClassVar[str] = "removed"
    SKIPPED: ClassVar[str] = "skipped"

    status: str
    message: str = ""


def execution_driver(execution: Execution) -> Driver:
    """Return a driver for ``execution``'s cluster (secrets in its config are decrypted only when used)."""
    return execution.get_driver()


def job_meta(job: Job) -> dict[str, str]:
    """The metadata striv attaches to a job on the cluster, so that runs map back to it."""
    return {"striv_job_id": str(job.pk), "striv_execution": job.execution.key}


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _push_failed(job: Job, error: DriverError) -> PushOutcome:
    job.sync_status = Job.SyncStatus.PENDING
    job.sync_error = error.message
    job.sync_attempts += 1
    job.next_sync_at = timezone.now() + backoff(job.sync_attempts)
    return PushOutcome(PushOutcome.PENDING, error.message)


def layers_secret_texts(layers: Sequence[templating.Layer]) -> list[str]:
    """The ciphertexts of every secret in ``layers``, sorted and unique."""
    return sorted({str(v.get("encrypted")) for layer in layers for _, v in templating.iter_secrets(layer.params)})


def _push_succeeded(job: Job, pushed_hash: str, changed: bool, secrets: list[str] | None = None) -> PushOutcome:
    job.pushed_hash = pushed_hash
    if secrets is not None:
        job.pushed_secrets = secrets
    job.sync_status = Job.SyncStatus.IN_SYNC if pushed_hash == job.spec_hash else Job.SyncStatus.OUT_OF_SYNC
    job.sync_error = ""
    job.sync_attempts = 0
    job.next_sync_at = None
    job.synced_at = timezone.now()
    return PushOutcome(PushOutcome.PUSHED if changed else PushOutcome.UNCHANGED)


SYNC_FIELDS = [
    "pushed_hash",
    "pushed_secrets",
    "sync_status",
    "sync_error",
    "sync_attempts",
    "next_sync_at",
    "synced_at",
]


def _push_in_save(job: Job, values: list[DimensionValue]) -> PushOutcome:
    """Push a job being saved. A refusal raises ValidationError (rolling the save back); unreachable -> pending."""
    if job.spec_hash == job.pushed_hash and job.sync_status == Job.SyncStatus.IN_SYNC:
        return PushOutcome(PushOutcome.UNCHANGED)
    rendered = job_render(execution=job.execution, values=values, params=job.params, mode="push")
    try:
        result = execution_driver(job.execution).push(
            job_id=str(job.pk), name=job.name, spec=rendered.spec, meta=job_meta(job)
        )
    except DriverError as exc:
        if not exc.retryable:
            raise ValidationError(
                {"__all__": ValidationError(f"The cluster refused the job: {exc.message}", code="refused")}
            ) from None
        logger.warning("push of job %s left pending: %s", job.pk, exc.message)
        outcome = _push_failed(job, exc)
    else:
        secrets = layers_secret_texts(job_layers(execution=job.execution, values=values, params=job.params))
        outcome = _push_succeeded(job, job.spec_hash, result.changed, secrets)
    job.save(update_fields=SYNC_FIELDS)
    return outcome


@transaction.atomic
def job_delete(*, job: Job) -> PushOutcome:
    """Remove a job from its cluster (purged) and from striv.

    When the cluster cannot be reached the job is kept with sync status ``deleting`` and removed by a later sync.
    Raises ValidationError when the cluster refuses (e.g. permission denied); the job is then kept as it was.
    """
    try:
        execution_driver(job.execution).remove(job_id=str(job.pk))
    except DriverError as exc:
        if not exc.retryable:
            raise ValidationError(f"The cluster refused to remove the job: {exc.message}", code="refused") from None
        job.sync_status = Job.SyncStatus.DELETING
        job.sync_error = exc.message
        job.sync_attempts += 1
        job.next_sync_at = timezone.now() + backoff(job.sync_attempts)
        job.save(update_fields=["sync_status", "sync_error", "sync_attempts", "next_sync_at"])
        return PushOutcome(PushOutcome.PENDING, exc.message)
    job.delete()
    return PushOutcome(PushOutcome.REMOVED)


def job_run_now(*, job: Job) -> RunNowResult:
    """Start a run of ``job`` at once (periodic force, or dispatch for a job without a schedule).

    A job whose cluster copy is out of date is pushed first. Raises DriverError.
    """
    if job.sync_status != Job.SyncStatus.IN_SYNC:
        report = jobs_sync(jobs=Job.objects.filter(pk=job.pk))
        if report.failed:
            raise DriverError(f"the job could not be pushed before running it: {report.failed[0][1]}", retryable=True)
    return execution_driver(job.execution).run_now(job_id=str(job.pk))


@dataclass(frozen=True)
class JobPlan:
    """A job's plan against its cluster, with secrets redacted from the diff."""

    changed: bool
    diff_text: str
    live: bool


def job_plan(*, job: Job) -> JobPlan:
    """Compare ``job``'s rendered spec with the live cluster. Raises DriverError or RenderError."""
    values = [jv.value for jv in job.job_values.select_related("value__dimension")]
    layers = job_layers(execution=job.execution, values=values, params=job.params)
    rendered = job_render(execution=job.execution, values=values, params=job.params, mode="push")
    driver = execution_driver(job.execution)
    plan = driver.plan(job_id=str(job.pk), name=job.name, spec=rendered.spec, meta=job_meta(job))
    return JobPlan(
        changed=plan.changed,
        diff_text=redact_secrets(plan.diff_text, layers, job.pushed_secrets or ()),
        live=driver.read(job_id=str(job.pk)) is not None,
    )


def redact_secrets(text: str, layers: Sequence[templating.Layer], extra: Iterable[str] = ()) -> str:
    """Replace the cleartext of every secret in ``layers`` (and of the ciphertexts ``extra``) found in ``text``.

    Used on a cluster's diff, whose live side may hold secrets the job had when it was last pushed (``extra``).
    """
    for encrypted in {*layers_secret_texts(layers), *extra}:
        try:
            cleartext = keys.decrypt(encrypted)
        except crypto.CryptoError:
            continue
        if cleartext:
            text = text.replace(cleartext, templating.REDACTED)
    return text


@dataclass
class SyncReport:
    """Counts of a sync pass, with the reason of each failure."""

    pushed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (job label, reason)

    def summary(self) -> str:
        return f"pushed {self.pushed}, unchanged {self.unchanged}, removed {self.removed}, failed {len(self.failed)}"


def jobs_to_sync(*, all_jobs: bool = False, execution_key: str | None = None, due_only: bool = False):
    """The jobs a sync pass should handle: out of sync, pending, deleting (``all_jobs``: every job)."""
    jobs = Job.objects.all()
    if not all_jobs:
        jobs = jobs.filter(
            sync_status__in=[
                Job.SyncStatus.OUT_OF_SYNC, Job.SyncStatus.PENDING, Job.SyncStatus.FAILED, Job.SyncStatus.DELETING,
            ]
        )  # fmt: skip
    if due_only:
        jobs = jobs.filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=timezone.now()))
    if execution_key:
        jobs = jobs.filter(execution__key=execution_key)
    return jobs


def jobs_sync(
    *,
    jobs: Any,
    force: bool = False,
    workers: int = 8,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> SyncReport:
    """Push (or, for ``deleting`` jobs, remove) ``jobs`` on their clusters, ``workers`` calls at a time.

    A job whose spec hash equals the hash last pushed is not pushed unless ``force``. Rendering and all database
    writes happen in the calling thread; only the cluster calls run in the pool. A job saved again while its push
    was under way keeps its new spec and stays out of sync. Returns a SyncReport; never raises for one job's failure.
    """
    report = SyncReport()
    drivers: dict[int, Driver] = {}
    tasks: list[tuple[Job, str, Callable[[], Any]]] = []  # (job, kind, call)

    to_push: list[tuple[Job, list[DimensionValue]]] = []
    for job, values in LayerSource().jobs(jobs.order_by("execution_id", "id")):
        if job.sync_status == Job.SyncStatus.DELETING:
            driver = drivers.setdefault(job.execution_id, execution_driver(job.execution))
            tasks.append((job, "remove", partial(driver.remove, job_id=str(job.pk))))
        elif not force and job.spec_hash == job.pushed_hash and job.sync_status == Job.SyncStatus.IN_SYNC:
            report.unchanged += 1
        else:
            to_push.append((job, values))
    for job, result in _render_for_push(to_push):
        if isinstance(result, templating.RenderError):
            report.failed.append((_label(job), str(result)))
            Job.objects.filter(pk=job.pk).update(sync_status=Job.SyncStatus.FAILED, sync_error=str(result))
            continue
        driver = drivers.setdefault(job.execution_id, execution_driver(job.execution))
        call = partial(driver.push, job_id=str(job.pk), name=job.name, spec=result, meta=job_meta(job))
        tasks.append((job, "push", call))

    def run(task: tuple[Job, str, Callable[[], Any]]) -> tuple[Job, str, Any]:
        job, kind, call = task
        try:
            return job, kind, call()
        except DriverError as exc:
            return job, kind, exc

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(run, tasks)
        if progress:
            results = progress(results, len(tasks))
        pending: list[tuple[Job, str, Any]] = []
        for item in results:
            pending.append(item)
            if len(pending) >= 200:
                _sync_record_many(pending, report)
                pending = []
        _sync_record_many(pending, report)
    return report


def _sync_record_many(items: list[tuple[Job, str, Any]], report: SyncReport) -> None:
    # One transaction per batch of outcomes: a commit per job would dominate on SQLite.
    with transaction.atomic():
        for job, kind, result in items:
            _sync_record(job, kind, result, report)


def _label(job: Job) -> str:
    return f"{job.name} ({job.pk})"


def _render_for_push(
    jobs: list[tuple[Job, list[DimensionValue]]],
) -> Iterable[tuple[Job, dict | templating.RenderError]]:
    """Render jobs in push mode (cleartext secrets), batched per execution; yields (job, spec or RenderError)."""
    decrypt = keys.decrypt if keys.private_key_pem() else None
    for _, group in groupby(jobs, key=lambda pair: pair[0].execution_id):
        group = list(group)
        execution = group[0][0].execution
        many = [job_layers(execution=execution, values=values, params=job.params) for job, values in group]
        for (job, _), layers in zip(group, many, strict=True):
            job.push_secrets = layers_secret_texts(layers)
        results = templating.job_specs_render(
            execution.payload_template, many, execution_key=execution.key, mode="push", decrypt=decrypt
        )
        for (job, _), result in zip(group, results, strict=True):
            yield job, (result if isinstance(result, templating.RenderError) else result.spec)


def _sync_record(job: Job, kind: str, result: Any, report: SyncReport) -> None:
    """Store the outcome of one cluster call, without overwriting a save that happened meanwhile."""
    if kind == "remove":
        if isinstance(result, DriverError):
            report.failed.append((_label(job), result.message))
            _push_failed(job, result)
            job.sync_status = Job.SyncStatus.DELETING
            Job.objects.filter(pk=job.pk).update(**{f: getattr(job, f) for f in SYNC_FIELDS})
        else:
            Job.objects.filter(pk=job.pk, sync_status=Job.SyncStatus.DELETING).delete()
            report.removed += 1
        return
    if isinstance(result, DriverError):
        report.failed.append((_label(job), result.message))
        _push_failed(job, result)
        if not result.retryable:
            job.sync_status = Job.SyncStatus.FAILED
    else:
        outcome = _push_succeeded(job, job.spec_hash, result.changed, getattr(job, "push_secrets", None))
        if outcome.status == PushOutcome.PUSHED:
            report.pushed += 1
        else:
            report.unchanged += 1
    fields = {f: getattr(job, f) for f in SYNC_FIELDS}
    # Only if the job was not saved again meanwhile (its spec hash is what was pushed) does it become in sync.
    updated = (
        Job.objects.filter(pk=job.pk, spec_hash=job.spec_hash)
        .exclude(sync_status=Job.SyncStatus.DELETING)
        .update(**fields)
    )
    if not updated and not isinstance(result, DriverError):
        Job.objects.filter(pk=job.pk).exclude(sync_status=Job.SyncStatus.DELETING).update(pushed_hash=job.spec_hash)


# --- planning unsaved changes (web UI) ---------------------------------------------------------------------------


def job_plan_changes(*, job: Job, changes: JobChanges) -> JobPlan:
    """Compare what ``job`` would become with ``changes`` applied against the live cluster; nothing is saved.

    The diff is redacted with the secrets of both the saved and the changed job, since the live copy may still hold
    a secret the change replaces. Raises DriverError or RenderError, as job_plan does.
    """
    saved_values = [jv.value for jv in job.job_values.select_related("value__dimension")]
    execution = changes.execution or job.execution
    values = job_values_check(changes.values) if changes.values is not None else saved_values
    params = changes.params if changes.params is not None else job.params
    name = changes.name if changes.name is not None else job.name
    rendered = job_render(execution=execution, values=values, params=params, mode="push")
    draft = Job(pk=job.pk, name=name, execution=execution)
    driver = execution_driver(execution)
    plan = driver.plan(job_id=str(job.pk), name=name, spec=rendered.spec, meta=job_meta(draft))
    layers = job_layers(execution=execution, values=values, params=params)
    layers += job_layers(execution=job.execution, values=saved_values, params=job.params)
    return JobPlan(
        changed=plan.changed,
        diff_text=redact_secrets(plan.diff_text, layers, job.pushed_secrets or ()),
        live=driver.read(job_id=str(job.pk)) is not None,
    )
