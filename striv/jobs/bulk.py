"""Bulk writes of the jobs API: ``POST /api/jobs`` and ``PATCH /api/jobs`` with a list of up to 1,000 jobs.

Every item is checked first; if any fails, the request is refused with each error naming its item (``index``) and
field, and nothing is saved. Otherwise every job is rendered and saved in one transaction, through the job services
as a single save is, and only after that transaction commits are the jobs pushed, by one sync pass: a bounded pool
of cluster calls over one driver (one HTTP session, kept alive) per execution. The answer lists every job as stored
after its push, so its ``sync_status`` and ``sync_error`` are its push outcome.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework.exceptions import ValidationError

from striv.core.api.problems import (
    Problem,
    django_validation_errors,
    field_error,
    invalid,
    problem_document,
    render_error_field,
)
from striv.jobs import services
from striv.jobs import sync as job_sync
from striv.jobs.models import Job
from striv.jobs.rendering import JobRenderError
from striv.jobs.serializers import BULK_LOOKUPS, FIELD_NAMES, BulkLookups, JobDetailSerializer

logger = logging.getLogger(__name__)

# Items per request (NetBox's convention: a page of objects, not an unbounded import; load-state is for that).
BULK_MAX_ITEMS = 1000
# Cluster calls at a time when pushing a bulk save.
BULK_PUSH_WORKERS = 8


def bulk_items(data: Any) -> list[Mapping[str, Any]]:
    """The items of a bulk body: a list of 1 to BULK_MAX_ITEMS objects; raises a 400 Problem otherwise."""
    if not isinstance(data, list) or not 1 <= len(data) <= BULK_MAX_ITEMS:
        raise invalid([field_error(None, f"A bulk request lists 1 to {BULK_MAX_ITEMS} jobs.", code="bulk_size")])
    errors = [
        field_error(None, f"Expected a job object, got {type(item).__name__}.", code="not_an_object", index=index)
        for index, item in enumerate(data)
        if not isinstance(item, Mapping)
    ]
    if errors:
        raise refused(errors)
    return data


def refused(errors: list[dict[str, Any]]) -> Problem:
    """The 400 Problem of a refused bulk request; its detail names the first item at fault."""
    first = errors[0]
    where = f"{first['field']}: " if first.get("field") else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return invalid(errors, detail=f"job [{first['index']}]: {where}{first['detail']}{more}; nothing was saved")


def _indexed(index: int, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**error, "index": index} for error in errors]


def _serializer_errors(index: int, serializer: JobDetailSerializer) -> list[dict[str, Any]]:
    document = problem_document(ValidationError(serializer.errors), 400)
    return _indexed(index, document.get("errors", []))


def _save_error(index: int, exc: Exception) -> list[dict[str, Any]]:
    if isinstance(exc, JobRenderError):
        return _indexed(index, [render_error_field(exc.error)])
    if isinstance(exc, services.StaleVersion):
        detail = f"the job was saved by someone else since version {exc.expected} (now {exc.job.version})"
        return _indexed(index, [field_error("version", detail, code="stale")])
    assert isinstance(exc, DjangoValidationError)
    return _indexed(index, django_validation_errors(exc, field_names=FIELD_NAMES))


def jobs_bulk_create(data: Any, *, context: dict[str, Any]) -> list[Job]:
    """Check every item of ``data``, then create them all and push them after the commit; returns the jobs.

    Raises a 400 Problem listing each failing item's errors (index and field); nothing is saved then.
    """
    items = bulk_items(data)
    context = {**context, BULK_LOOKUPS: BulkLookups.read(items)}
    checked: list[tuple[int, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        serializer = JobDetailSerializer(data=item, context=context)
        if serializer.is_valid():
            checked.append((index, serializer.validated_data))
        else:
            errors += _serializer_errors(index, serializer)
    if errors:
        raise refused(errors)
    saved: list[Job] = []
    # One transaction for every save: all are saved or none. No cluster call happens inside it.
    with transaction.atomic():
        for index, fields in checked:
            try:
                result = services.job_create(
                    name=fields["name"],
                    execution=fields["execution"],
                    values=fields.get("job_values", []),
                    params=fields.get("params", {}),
                    push=False,
                )
            except (JobRenderError, DjangoValidationError) as exc:
                errors += _save_error(index, exc)
            else:
                saved.append(result.job)
        if errors:
            raise refused(errors)  # rolls back every save
    return _pushed(saved)


def jobs_bulk_update(data: Any, *, context: dict[str, Any]) -> list[Job]:
    """Check every item of ``data`` (each names its job by ``id``; ``version``, when sent, must be current), then
    change only the fields each sends, and push the jobs after the commit; returns the jobs.

    Raises a 400 Problem listing each failing item's errors (index and field); nothing is saved then.
    """
    items = bulk_items(data)
    errors: list[dict[str, Any]] = []
    ids: dict[int, uuid.UUID] = {}
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(items):
        try:
            job_id = uuid.UUID(str(item["id"]))
        except KeyError:
            errors.append(field_error("id", "Each job names its id.", code="required", index=index))
            continue
        except ValueError:
            errors.append(field_error("id", "Must be a job id (a UUID).", code="invalid", index=index))
            continue
        if job_id in seen:
            errors.append(field_error("id", "The job is listed twice.", code="duplicate", index=index))
        seen.add(job_id)
        ids[index] = job_id
    jobs = Job.objects.select_related("execution").in_bulk(list(seen))
    context = {**context, BULK_LOOKUPS: BulkLookups.read(items)}
    checked: list[tuple[int, Job, int | None, dict[str, Any]]] = []
    for index, item in enumerate(items):
        if index not in ids:
            continue
        job = jobs.get(ids[index])
        version = item.get("version")
        if job is None:
            errors.append(field_error("id", f"No job {ids[index]}.", code="not_found", index=index))
        elif job.sync_status == Job.SyncStatus.DELETING:
            errors.append(field_error("id", "The job is being deleted.", code="deleting", index=index))
        elif version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            errors.append(field_error("version", "Must be an integer.", code="invalid", index=index))
        else:
            serializer = JobDetailSerializer(job, data=item, partial=True, context=context)
            if serializer.is_valid():
                checked.append((index, job, version, serializer.validated_data))
            else:
                errors += _serializer_errors(index, serializer)
    if errors:
        raise refused(sorted(errors, key=lambda error: error["index"]))
    saved: list[Job] = []
    with transaction.atomic():
        for index, job, version, fields in checked:
            changes = services.JobChanges(
                name=fields.get("name"),
                execution=fields.get("execution"),
                values=fields.get("job_values"),
                params=fields.get("params"),
            )
            try:
                result = services.job_update(job=job, changes=changes, expected_version=version, push=False)
            except (JobRenderError, DjangoValidationError, services.StaleVersion) as exc:
                errors += _save_error(index, exc)
            else:
                saved.append(result.job)
        if errors:
            raise refused(errors)
    return _pushed(saved)


def _pushed(saved: list[Job]) -> list[Job]:
    """Push ``saved`` (committed) in one sync pass, then read them back as stored, in the order given."""
    ids = [job.pk for job in saved]
    report = job_sync.jobs_sync(jobs=Job.objects.filter(pk__in=ids), workers=BULK_PUSH_WORKERS)
    if report.failed:
        logger.warning("bulk save: %s", report.summary())
    stored = Job.objects.select_related("execution").in_bulk(ids)
    return [stored[pk] for pk in ids if pk in stored]
