"""Rhythm's cron dialect (robfig/cron v1.1 as Rhythm configures it): parsing ``schedule.cron`` and computing the
next launches in the Rhythm server's time zone.

- **Exactly 5 fields**, ``minute hour day-of-month month day-of-week``; no seconds, no year, no ``@daily``.
- Each field is a comma list of ``*``, ``?`` (same as ``*``), ``N`` or ``N-M``, each optionally ``/step``
  (``N/step`` means ``N-max/step``; a step of 0 is an error). ``*-5`` is accepted and means ``*``.
- Ranges: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week **0-6** (0 is Sunday, 7 is an error).
  Three-letter names (``jan``, ``sun``), any case, in the month and day-of-week fields only.
- When neither day field starts with ``*`` or ``?`` a day matches if either matches; otherwise both must
  (``*/2`` counts as ``*`` here, as in v1.1).
- A launch is at second 0 of a matching minute, strictly after the given instant, in the server's zone; a spec
  with no match within 5 years is refused (Rhythm would treat the job as always due and run it on every offer).
  On a spring-forward day the skipped wall-clock times do not run; a repeated hour runs once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: How far ahead robfig/cron looks for a match before giving up.
HORIZON_YEARS = 5
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS = [
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, {name: n + 1 for n, name in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {name: n for n, name in enumerate(_DAYS)}),
]


class CronError(ValueError):
    """A cron expression Rhythm would refuse (or that never matches); the message reads like robfig's."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    days_star: bool
    weekdays_star: bool

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"Failed to parse int from {text}")
    return int(text)


def _field(text: str, name: str, low: int, high: int, names: dict[str, int] | None) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        range_step = part.split("/")
        if len(range_step) > 2:
            raise CronError(f"Too many slashes: {part}")
        bounds = range_step[0].split("-")
        if bounds[0] in ("*", "?"):
            start, end, star = low, high, True
        else:
            if len(bounds) > 2:
                raise CronError(f"Too many hyphens: {part}")
            start = _number(bounds[0], names)
            end = _number(bounds[1], names) if len(bounds) == 2 else start
        step = 1
        if len(range_step) == 2:
            step = _number(range_step[1], None)
            if len(bounds) == 1 and bounds[0] not in ("*", "?"):
                end = high
        if start < low:
            raise CronError(f"Beginning of range ({start}) below minimum ({low}) in the {name} field")
        if end > high:
            raise CronError(f"End of range ({end}) above maximum ({high}) in the {name} field")
        if start > end:
            raise CronError(f"Beginning of range ({start}) beyond end of range ({end}) in the {name} field")
        if step == 0:
            raise CronError("Step of range should be a positive number")
        values.update(range(start, end + 1, step))
    return frozenset(values), star


def parse(spec: object) -> Schedule:
    """Parse a 5-field expression; raises CronError."""
    if not isinstance(spec, str):
        raise CronError(f"must be a string, not {type(spec).__name__}")
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"Expected exactly 5 fields, found {len(fields)}: {spec}")
    parsed = [_field(text, *rule) for text, rule in zip(fields, _FIELDS, strict=True)]
    return Schedule(
        minutes=parsed[0][0],
        hours=parsed[1][0],
        days=parsed[2][0],
        months=parsed[3][0],
        weekdays=parsed[4][0],
        days_star=parsed[2][1],
        weekdays_star=parsed[4][1],
    )


def next_launches(schedule: Schedule, *, after: datetime, zone: ZoneInfo, count: int) -> list[datetime]:
    """The next ``count`` launches strictly after ``after``, as aware datetimes in ``zone``, in order."""
    local = after.astimezone(zone)
    day = local.date()
    last_day = day + timedelta(days=366 * HORIZON_YEARS)
    found: list[datetime] = []
    times = sorted(time(hour, minute) for hour in schedule.hours for minute in schedule.minutes)
    while day <= last_day and len(found) < count:
        if schedule.day_matches(day):
            for wall in times:
                moment = datetime.combine(day, wall, tzinfo=zone)
                if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment.replace(tzinfo=None):
                    continue  # skipped by a spring-forward change
                if moment > after:
                    found.append(moment)
                    if len(found) == count:
                        break
        day += timedelta(days=1)
    return found


def validate(spec: object, zone: ZoneInfo, *, now: datetime | None = None) -> Schedule:
    """Parse ``spec`` and check that it matches within Rhythm's 5-year horizon; raises CronError."""
    schedule = parse(spec)
    if not next_launches(schedule, after=now or datetime.now(tz=UTC), zone=zone, count=1):
        raise CronError(f"{spec} never matches: Rhythm would run the job on every offer")
    return schedule
