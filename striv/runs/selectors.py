"""Read-only queries on runs: the run list's filters, runs per status, and the dashboard's outcomes per day."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Case, Count, IntegerField, Value, When
from django.utils import timezone

from striv.runs.models import Run, RunQuerySet

logger = logging.getLogger(__name__)


def runs_list(
    *, status: str = "", since: datetime | None = None, day: date | None = None, job_id: uuid.UUID | None = None
) -> RunQuerySet:
    """Return the runs, newest first, with their jobs: of one ``status``, created at or after ``since``, created on
    ``day`` (in the current time zone) and of one job, each filter applied only when given."""
    runs = Run.objects.select_related("job")
    if status:
        runs = runs.filter(status=status)
    if since is not None:
        runs = runs.filter(created__gte=since)
    if day is not None:
        start, end = day_bounds(day)
        runs = runs.filter(created__gte=start, created__lt=end)
    if job_id is not None:
        runs = runs.filter(job_id=job_id)
    return runs


@dataclass(frozen=True)
class DayOutcomes:
    """The runs created on one day (in the current time zone), counted per status."""

    day: date
    start: datetime
    end: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the start (inclusive) and end (exclusive) of ``day`` in the current time zone, as aware datetimes."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def runs_count_by_status(*, since: datetime, until: datetime | None = None) -> dict[str, int]:
    """Return {status: number of runs} for the runs created since ``since`` (and before ``until``)."""
    runs = Run.objects.filter(created__gte=since)
    if until is not None:
        runs = runs.filter(created__lt=until)
    return dict(runs.order_by().values_list("status").annotate(count=Count("id")))


def runs_outcomes_per_day(*, days: int = 14, now: datetime | None = None) -> list[DayOutcomes]:
    """Return the runs per status of each of the last ``days`` days (today included), oldest first.

    One query: each run is put in its day's bucket by the database, so the days follow the current time zone on
    every backend without the database's own time zone tables.
    """
    today = timezone.localdate(now or timezone.now())
    bounds = [day_bounds(today - timedelta(days=back)) for back in range(days - 1, -1, -1)]
    bucket = Case(
        *[When(created__gte=start, created__lt=end, then=Value(i)) for i, (start, end) in enumerate(bounds)],
        default=Value(-1),
        output_field=IntegerField(),
    )
    counts: list[dict[str, int]] = [{} for _ in bounds]
    rows = (
        Run.objects.filter(created__gte=bounds[0][0], created__lt=bounds[-1][1])
        .annotate(bucket=bucket)
        .order_by()
        .values_list("bucket", "status")
        .annotate(count=Count("id"))
    )
    for index, status, count in rows:
        if 0 <= index < len(counts):
            counts[index][status] = count
    return [
        DayOutcomes(day=start.date(), start=start, end=end, counts=counts[i]) for i, (start, end) in enumerate(bounds)
    ]
