"""Nomad's periodic cron semantics: validating ``Periodic.Spec``/``Specs`` and computing the next launches.

Nomad parses cron specs with hashicorp/cronexpr, which differs from crontab and from croniter's defaults:

- 5 fields are ``min hour dom month dow``; **6 fields are ``min hour dom month dow year``** (the sixth is the year,
  not seconds, so ``*/15 * * * * *`` means every 15 minutes); 7 fields are ``sec min hour dom month dow year``.
  Fewer than 5 fields fail with ``missing field(s)``. Nomad silently ignores fields after the seventh, and so does
  this module.
- ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily`` and ``@hourly`` are aliases (case-sensitive).
  ``@reboot`` and ``@every`` do not exist in Nomad and are rejected.
- Values: seconds/minutes 0-59, hours 0-23, day of month 1-31, month 1-12 or names, day of week 0-7 (0 and 7 are
  Sunday) or names, year 1970-2099; names may be 3 letters or full and are case-insensitive. Operators ``*``,
  ``?`` (same as ``*``), ``a-b``, ``a,b``, ``*/n``, ``a/n`` (a to the field's maximum), ``a-b/n``. Day of month
  also takes ``L`` and ``nW``; day of week takes ``nL`` (last weekday n of the month) and ``n#k``.
- When both day of month and day of week are restricted a day matches if either does (vixie-cron OR rule). A field
  is unrestricted only when one of its entries is ``*`` or ``?``; ``*/2`` restricts it.
- The next launch is the first instant strictly after "now" (at second precision) in ``TimeZone``. On a
  spring-forward day, wall-clock times in the skipped hour do not run; on a fall-back day, times in the repeated
  hour run twice. Nothing runs after 2099.

The schedule is computed with croniter. Because croniter does not apply the OR rule to ``L``, ``W`` and ``#``
entries, rejects lists that mix them with plain values, and reads six fields differently, a spec is first parsed
with Nomad's grammar (``cronexpr.py``), then split into several croniter expressions that each restrict only one of
the two day fields; their merged launch times are Nomad's.

Where this module is stricter than Nomad (each case is a spec that does not do what it says on Nomad):

- ``LW`` (last weekday of the month) is rejected: croniter cannot compute it.
- Ranges that run backwards (``30-10``) are rejected; Nomad accepts them and never fires, or fails at run time.
- A day-of-week range ending on Sunday as ``7``/``sun`` (``1-7``) is rejected, as Nomad leaves out Sunday (and
  ``0-0`` or ``7-7`` mean every day there). Zero-padded weekdays ``01``-``06`` are rejected, as Nomad reads them
  as Sunday.
- ``TimeZone: "Local"`` (the Nomad server's zone) is rejected, as that zone is unknown here.
"""

from __future__ import annotations

import calendar
import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from striv.drivers.nomad.cronexpr import MAX_YEAR, MIN_YEAR, CronSyntaxError, DayPart, Schedule, go_quote, parse

DEFAULT_TIME_ZONE = "UTC"
SPEC_TYPE_CRON = "cron"


class CronError(ValueError):
    """A periodic block or cron spec that Nomad would reject (or that striv cannot schedule).

    ``field`` names the offending job field (``Periodic.Spec``, ``Periodic.Specs[1]``, ``Periodic.TimeZone``);
    ``message`` is Nomad-style text such as ``Invalid cron spec "* *": missing field(s)``. ``str()`` gives both.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _schedule(spec: Any, field: str) -> Schedule:
    if not isinstance(spec, str):
        raise CronError(field, f"must be a string, not {type(spec).__name__}")
    try:
        return parse(spec)
    except CronSyntaxError as exc:
        raise CronError(field, f"Invalid cron spec {go_quote(spec)}: {exc}") from None


def _zone(tz: Any, field: str = "Periodic.TimeZone") -> ZoneInfo:
    if tz is None or tz == "":
        return ZoneInfo(DEFAULT_TIME_ZONE)
    if not isinstance(tz, str):
        raise CronError(field, f"must be a string, not {type(tz).__name__}")
    if tz == "Local":
        raise CronError(
            field,
            f'Invalid time zone "Local": the Nomad servers\' local zone is unknown to striv; name the zone, '
            f'such as "{DEFAULT_TIME_ZONE}" or "Europe/Stockholm"',
        )
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(field, f"Invalid time zone {go_quote(tz)}: unknown time zone {tz}") from None


def cron_validate(spec: str, *, field: str = "Periodic.Spec") -> None:
    """Check ``spec`` against Nomad's cron grammar; returns None, raises CronError naming ``field``."""
    _schedule(spec, field)


def _launches(schedule: Schedule, start: datetime) -> Iterator[datetime]:
    """Yield launch times strictly after ``start`` (aware, in the schedule's zone), in order, without repeats."""
    start_ts = start.timestamp()

    def part_launches(part: DayPart) -> Iterator[datetime]:
        times = croniter(
            schedule.expression(part),
            start,
            second_at_beginning=True,
            # Long enough to reach Nomad's last year from its first; the generator then ends instead of raising.
            max_years_between_matches=MAX_YEAR - MIN_YEAR + 1,
        )
        for moment in times.all_next(datetime):
            if moment.year > MAX_YEAR:
                return
            if moment.timestamp() <= start_ts or not schedule.wall_clock_matches(moment):
                continue
            nearest = part.weekday_nearest_to
            # croniter moves "31W" to the last weekday of a shorter month; cronexpr skips such months.
            if nearest is not None and nearest > calendar.monthrange(moment.year, moment.month)[1]:
                continue
            yield moment

    previous: float | None = None
    for moment in heapq.merge(*(part_launches(part) for part in schedule.day_parts), key=datetime.timestamp):
        # Compare instants, not wall-clock times: both runs in a repeated fall-back hour are launches.
        if moment.timestamp() != previous:
            previous = moment.timestamp()
            yield moment


def _as_aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cron_next(spec: str, *, after: datetime, tz: str = DEFAULT_TIME_ZONE, count: int = 5) -> list[datetime]:
    """Return up to ``count`` launch times of ``spec`` strictly after ``after``, computed in time zone ``tz``.

    The datetimes are aware and expressed in ``tz``; compare them by instant (``timestamp()``), since two launches
    in a repeated fall-back hour have equal wall-clock times. A naive ``after`` is taken as UTC. Fewer than
    ``count`` come back when the schedule ends (nothing runs after 2099). Raises CronError on an invalid spec
    (field ``Periodic.Spec``) or zone (field ``Periodic.TimeZone``).
    """
    schedule = _schedule(spec, "Periodic.Spec")
    zone = _zone(tz)
    if count <= 0:
        return []
    return list(islice(_launches(schedule, _as_aware(after).astimezone(zone)), count))


def _lookup(block: Mapping[str, Any], name: str) -> Any:
    # Nomad decodes job JSON with Go's encoding/json: an exact key wins, otherwise keys match case-insensitively.
    if name in block:
        return block[name]
    for key, value in block.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return value
    return None


@dataclass(frozen=True)
class _Periodic:
    enabled: bool
    specs: tuple[tuple[str, str], ...]  # (field name, spec)
    zone: ZoneInfo


def _periodic_read(periodic: Any) -> _Periodic | None:
    """Check a Periodic block as Nomad does; returns None for no block, raises CronError."""
    if periodic is None:
        return None
    if not isinstance(periodic, Mapping):
        raise CronError("Periodic", f"must be an object, not {type(periodic).__name__}")

    enabled = _lookup(periodic, "Enabled")
    if enabled is None:
        enabled = True
    if not isinstance(enabled, bool):
        raise CronError("Periodic.Enabled", f"must be true or false, not {enabled!r}")
    if not enabled:
        # Nomad validates the rest of the block only when it is enabled.
        return _Periodic(enabled=False, specs=(), zone=ZoneInfo(DEFAULT_TIME_ZONE))

    spec = _lookup(periodic, "Spec")
    if spec is None:
        spec = ""
    if not isinstance(spec, str):
        raise CronError("Periodic.Spec", f"must be a string, not {type(spec).__name__}")
    specs = _lookup(periodic, "Specs")
    if specs is None:
        specs = []
    if not isinstance(specs, list | tuple):
        raise CronError("Periodic.Specs", f"must be a list of strings, not {type(specs).__name__}")
    for index, item in enumerate(specs):
        if not isinstance(item, str):
            raise CronError(f"Periodic.Specs[{index}]", f"must be a string, not {type(item).__name__}")

    if spec and specs:
        raise CronError("Periodic", "Only cron or crons may be used")
    if not spec and not specs:
        raise CronError("Periodic.Spec", "Must specify a spec")
    zone = _zone(_lookup(periodic, "TimeZone"))
    spec_type = _lookup(periodic, "SpecType")
    # A missing SpecType defaults to cron; an explicit "" does not, and fails in Nomad too.
    if spec_type is not None and spec_type != SPEC_TYPE_CRON:
        raise CronError("Periodic.SpecType", f"Unknown periodic specification type {go_quote(str(spec_type))}")

    named = (("Periodic.Spec", spec),) if spec else tuple((f"Periodic.Specs[{i}]", s) for i, s in enumerate(specs))
    for field, item in named:
        cron_validate(item, field=field)
    return _Periodic(enabled=True, specs=named, zone=zone)


def periodic_validate(periodic: Mapping[str, Any] | None) -> None:
    """Check a Nomad ``Periodic`` block (``Enabled``, ``Spec``/``Specs``, ``SpecType``, ``TimeZone``).

    Returns None. A missing block (None) and a disabled one pass, as in Nomad, which checks only enabled blocks.
    Raises CronError naming the field: ``Only cron or crons may be used`` when both ``Spec`` and ``Specs`` are
    given, ``Must specify a spec`` when neither is, an invalid spec, time zone or spec type.
    """
    _periodic_read(periodic)


def periodic_next_launches(
    periodic: Mapping[str, Any] | None, *, now: datetime | None = None, count: int = 5
) -> list[datetime]:
    """Return the next ``count`` launch times of a Nomad ``Periodic`` block strictly after ``now`` (default: now).

    With ``Specs`` the launches of every spec are merged in order, and an instant produced by several specs
    appears once. The datetimes are aware and in the block's ``TimeZone`` (UTC when missing or empty). Returns []
    for no block or a disabled one. Raises CronError as periodic_validate does.
    """
    block = _periodic_read(periodic)
    if block is None or not block.enabled or count <= 0:
        return []
    start = _as_aware(now or datetime.now(UTC)).astimezone(block.zone)
    streams = [_launches(_schedule(spec, field), start) for field, spec in block.specs]
    launches: list[datetime] = []
    for moment in heapq.merge(*streams, key=datetime.timestamp):
        if launches and launches[-1].timestamp() == moment.timestamp():
            continue
        launches.append(moment)
        if len(launches) == count:
            break
    return launches


def periodic_dead_specs(periodic: Mapping[str, Any] | None, *, now: datetime | None = None) -> list[str]:
    """The fields of the ``Specs`` entries with no launch after ``now``: Nomad takes the zero time for such a spec,
    and when it comes after a live one the job is never launched again. Raises CronError as periodic_validate."""
    block = _periodic_read(periodic)
    if block is None or not block.enabled:
        return []
    start = _as_aware(now or datetime.now(UTC)).astimezone(block.zone)
    return [
        field
        for field, spec in block.specs
        if field.startswith("Periodic.Specs") and next(_launches(_schedule(spec, field), start), None) is None
    ]
