"""A job's param layers, and where many jobs' layers are read from with a constant number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from striv.dimensions.models import DimensionValue
from striv.executions.models import Execution
from striv.jobs.models import Job, JobValue
from striv.templating import LAYER_JOB, Layer, LayerName


def execution_layer(execution: Execution) -> Layer:
    """The lowest layer of a job: its execution's default params."""
    return Layer(LayerName.execution(execution.key), execution.default_params or {})


def value_layer(value: DimensionValue) -> Layer:
    """The layer a dimension value contributes to its jobs."""
    return Layer(LayerName.dimension(value.dimension.key, value.key), value.params or {})


def _value_order(value: DimensionValue) -> tuple[int, str]:
    # By priority, then dimension key, so that who wins never depends on the order values were given in.
    return (value.dimension.priority, value.dimension.key)


def job_layers(
    *,
    execution: Execution,
    values: Iterable[DimensionValue],
    params: dict[str, Any],
    shared: dict[int, tuple] | None = None,
) -> list[Layer]:
    """Return the param layers of a job, lowest first: execution defaults, dimension values by priority, job.

    ``shared``, a dict kept by a caller building many jobs' layers, makes jobs with the same execution or dimension
    value objects share those Layer objects, so that rendering checks and merges them once.
    """
    if shared is None:
        layers = [execution_layer(execution)]
        layers += [value_layer(value) for value in sorted(values, key=_value_order)]
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
                entry = shared[id(value)] = (value, _value_order(value), value_layer(value))
            entries.append(entry)
        entries.sort(key=lambda entry: entry[1])
        layers += [entry[2] for entry in entries]
    layers.append(Layer(LAYER_JOB, params or {}))
    return layers


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
        # The ORM's own SQL, read as the database returns the rows, so that each job's id is turned into a UUID
        # once rather than once per value: through the ORM those conversions took nearly as long as the query
        # (benchmarks/render.py, bulk render).
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


def job_values(job: Job) -> list[DimensionValue]:
    """The dimension values of a saved job, each with its dimension loaded."""
    return [jv.value for jv in job.job_values.select_related("value__dimension")]


def jobs_dimension_maps(job_ids: list[Any]) -> dict[Any, dict[str, str]]:
    """``{job id: {dimension key: value key}}`` for ``job_ids``, with one query for all of them.

    Plain values, no model instances: for a page of jobs this is several times faster than prefetching the rows.
    """
    maps: dict[Any, dict[str, str]] = {job_id: {} for job_id in job_ids}
    rows = (
        JobValue.objects.filter(job_id__in=job_ids)
        .order_by("value__dimension__key")
        .values_list("job_id", "value__dimension__key", "value__key")
    )
    for job_id, dimension, value in rows:
        maps[job_id][dimension] = value
    return maps
