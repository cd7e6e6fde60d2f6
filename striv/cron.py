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
here with Nomad's grammar, then split into several croniter expressions that each restrict only one of the two
day fields; their merged launch times are Nomad's.

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
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

logger = logging.getLogger(__name__)

MAX_YEAR = 2099
MIN_YEAR = 1970
DEFAULT_TIME_ZONE = "UTC"
SPEC_TYPE_CRON = "cron"

_ALIASES = {
    "@yearly": "0 0 0 1 1 * *",
    "@annually": "0 0 0 1 1 * *",
    "@monthly": "0 0 0 1 * * *",
    "@weekly": "0 0 0 * * 0 *",
    "@daily": "0 0 0 * * * *",
    "@hourly": "0 0 * * * * *",
}
# Go's \s, which cronexpr uses to split fields.
_FIELD_SPLIT = re.compile(r"[^\t\n\f\r ]+")
_ENTRY_SPLIT = re.compile(r"[^,]+")
# cronexpr reads interval steps through its table of known numbers (0-59, zero-padded 00-09, and years);
# anything else counts as 0, which is then an invalid interval.
_STEP_TOKEN = re.compile(r"0?[0-9]|[1-5][0-9]|19[7-9][0-9]|20[0-9][0-9]")

_MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_DOW_NAMES = {
    name: number
    for number, names in enumerate(
        [
            ("sun", "sunday"),
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
        ]
    )
    for name in names
}


class CronError(ValueError):
    """A periodic block or cron spec that Nomad would reject (or that striv cannot schedule).

    ``field`` names the offending job field (``Periodic.Spec``, ``Periodic.Specs[1]``, ``Periodic.TimeZone``);
    ``message`` is Nomad-style text such as ``Invalid cron spec "* *": missing field(s)``. ``str()`` gives both.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _SpecError(Exception):
    """Why a spec does not parse; wrapped into CronError with the spec and the field name."""


@dataclass(frozen=True)
class _FieldKind:
    name: str
    low: int
    high: int
    value_pattern: str
    names: Mapping[str, int]

    def value(self, token: str) -> int:
        """Return the number for an already matched value token (a number or a name)."""
        return self.names[token] if token in self.names else int(token)


def _names_pattern(names: Mapping[str, int]) -> str:
    return "|".join(sorted(names, key=len, reverse=True))


_SECOND = _FieldKind("second", 0, 59, r"0?[0-9]|[1-5][0-9]", {})
_MINUTE = _FieldKind("minute", 0, 59, r"0?[0-9]|[1-5][0-9]", {})
_HOUR = _FieldKind("hour", 0, 23, r"0?[0-9]|1[0-9]|2[0-3]", {})
_DOM = _FieldKind("day-of-month", 1, 31, r"0?[1-9]|[12][0-9]|3[01]", {})
_MONTH = _FieldKind("month", 1, 12, r"0?[1-9]|1[0-2]|" + _names_pattern(_MONTH_NAMES), _MONTH_NAMES)
_DOW = _FieldKind("day-of-week", 0, 6, r"0?[0-7]|" + _names_pattern(_DOW_NAMES), _DOW_NAMES)
_YEAR = _FieldKind("year", MIN_YEAR, MAX_YEAR, r"19[7-9][0-9]|20[0-9][0-9]", {})


@dataclass(frozen=True)
class _Entry:
    """One comma-separated entry of a field: every value (``*``), a set of values, or a special day form."""

    every: bool = False
    values: frozenset[int] = frozenset()
    special: str | None = None  # "L", "LW", "<n>W", "L<d>" or "<d>#<k>", in croniter's spelling


@dataclass(frozen=True)
class _DayPart:
    """One croniter expression restricted on a single day field (the other is ``*``)."""

    dom: str
    dow: str
    weekday_nearest_to: int | None = None  # n of an "nW" entry: months shorter than n have no launch


@dataclass(frozen=True)
class _Schedule:
    seconds: frozenset[int] | None  # None: every value
    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    months: frozenset[int] | None
    years: frozenset[int] | None
    day_parts: tuple[_DayPart, ...]

    def expression(self, part: _DayPart) -> str:
        """Return the 7-field croniter expression (seconds first, year last) for one day part."""
        fields = (self.seconds, self.minutes, self.hours, part.dom, self.months, part.dow, self.years)
        return " ".join(_croniter_list(value) for value in fields)

    def wall_clock_matches(self, moment: datetime) -> bool:
        # croniter moves a time that falls in a spring-forward gap to the next valid instant; Nomad skips it.
        return all(
            allowed is None or actual in allowed
            for allowed, actual in (
                (self.seconds, moment.second),
                (self.minutes, moment.minute),
                (self.hours, moment.hour),
            )
        )


def _croniter_list(value: frozenset[int] | str | None) -> str:
    if value is None:
        return "*"
    if isinstance(value, str):
        return value
    return ",".join(str(number) for number in sorted(value))


def _quote(text: str) -> str:
    # Go's %q, close enough: double quotes with escapes.
    return json.dumps(text, ensure_ascii=False)


def _step(directive: str, token: str, kind: _FieldKind) -> int:
    step = int(token) if _STEP_TOKEN.fullmatch(token) else 0
    if step < 1 or step > kind.high:
        raise _SpecError(f"invalid interval {directive}")
    return step


def _dow_value(token: str, directive: str) -> int:
    if re.fullmatch(r"0[1-6]", token):
        raise _SpecError(
            f"unsupported day-of-week '{directive}': Nomad reads the zero-padded weekday {token} as Sunday; "
            f"write {int(token)}"
        )
    return _DOW.value(token) % 7


def _span(kind: _FieldKind, directive: str, first: int, last: int, step: int) -> frozenset[int]:
    if first > last:
        raise _SpecError(f"syntax error in {kind.name} field: '{directive}' (the range runs backwards)")
    return frozenset(range(first, last + 1, step))


def _entry_parse(kind: _FieldKind, directive: str) -> _Entry:
    """Parse one comma-separated entry of a field with cronexpr's grammar; raises _SpecError."""
    text = directive.lower()
    value = f"(?:{kind.value_pattern})"
    if text in ("*", "?"):
        return _Entry(every=True)
    if re.fullmatch(value, text):
        number = _dow_value(text, directive) if kind is _DOW else kind.value(text)
        return _Entry(values=frozenset({number}))

    if match := re.fullmatch(rf"({value})-({value})(?:/(\d+))?", text):
        step = _step(text, match[3], kind) if match[3] is not None else 1
        if kind is _DOW:
            return _Entry(values=_dow_range(directive, match[1], match[2], step))
        return _Entry(values=_span(kind, directive, kind.value(match[1]), kind.value(match[2]), step))
    if match := re.fullmatch(r"\*/(\d+)", text):
        return _Entry(values=_span(kind, directive, kind.low, kind.high, _step(text, match[1], kind)))
    if match := re.fullmatch(rf"({value})/(\d+)", text):
        first = _dow_value(match[1], directive) if kind is _DOW else kind.value(match[1])
        return _Entry(values=_span(kind, directive, first, kind.high, _step(text, match[2], kind)))

    if kind is _DOM:
        if text == "l":
            return _Entry(special="L")
        if text == "lw":
            return _Entry(special="LW")
        if match := re.fullmatch(rf"({value})w", text):
            return _Entry(special=f"{kind.value(match[1])}W")
    if kind is _DOW:
        if match := re.fullmatch(rf"({value})l", text):
            return _Entry(special=f"L{_dow_value(match[1], directive)}")
        if match := re.fullmatch(rf"({value})#([1-5])", text):
            return _Entry(special=f"{_dow_value(match[1], directive)}#{match[2]}")
    raise _SpecError(f"syntax error in {kind.name} field: '{directive}'")


def _dow_range(directive: str, first_token: str, last_token: str, step: int) -> frozenset[int]:
    first = _dow_value(first_token, directive)
    last = _dow_value(last_token, directive)
    if last == 0:
        # cronexpr ends a range that ends on Sunday (0, 7, sun) at Saturday, so "1-7" leaves Sunday out and
        # "0-0" means every day. Accept such a range only where that reading is also the plain one.
        plain_first = 7 if first_token == "7" else first
        if last_token == "0" or (last_token != "7" and plain_first == 0):
            plain_last = 0
        else:
            plain_last = 7
        plain = frozenset(day % 7 for day in range(plain_first, plain_last + 1, step))
        if plain != frozenset(range(first, 7, step)):
            raise _SpecError(
                f"unsupported day-of-week range '{directive}': Nomad ends a range that ends on Sunday at Saturday "
                "instead; list Sunday separately, as in '1-6,0'"
            )
        last = 6
    return _span(_DOW, directive, first, last, step)


def _field_parse(kind: _FieldKind, text: str) -> list[_Entry]:
    directives = _ENTRY_SPLIT.findall(text)
    if not directives:
        raise _SpecError(f"{kind.name} field: missing directive")
    return [_entry_parse(kind, directive) for directive in directives]


def _plain_field(kind: _FieldKind, text: str) -> frozenset[int] | None:
    entries = _field_parse(kind, text)
    if any(entry.every for entry in entries):
        return None
    return frozenset().union(*(entry.values for entry in entries))


def _day_parts(dom_entries: list[_Entry], dow_entries: list[_Entry]) -> tuple[_DayPart, ...]:
    """Split the two day fields into croniter expressions that each restrict one of them (Nomad's OR rule)."""
    dom_restricted = not any(entry.every for entry in dom_entries)
    dow_restricted = not any(entry.every for entry in dow_entries)
    if not dom_restricted and not dow_restricted:
        return (_DayPart("*", "*"),)

    parts: list[_DayPart] = []
    if dom_restricted:
        plain = sorted(frozenset().union(*(entry.values for entry in dom_entries)))
        listed = [str(day) for day in plain] + ["L" for entry in dom_entries if entry.special == "L"][:1]
        if listed:
            parts.append(_DayPart(",".join(listed), "*"))
        for entry in dom_entries:
            if entry.special == "LW":
                raise _SpecError("LW (last weekday of the month) is valid in Nomad but not supported by striv")
            if entry.special and entry.special.endswith("W"):
                parts.append(_DayPart(entry.special, "*", weekday_nearest_to=int(entry.special[:-1])))
    if dow_restricted:
        weekdays = frozenset().union(*(entry.values for entry in dow_entries))
        if weekdays:
            parts.append(_DayPart("*", _croniter_list(weekdays)))
        specials = sorted({entry.special for entry in dow_entries if entry.special})
        parts.extend(_DayPart("*", special) for special in specials)
    return tuple(parts)


@lru_cache(maxsize=1024)
def _parse(spec: str) -> _Schedule:
    """Parse ``spec`` with Nomad's rules; returns the schedule, raises _SpecError with the reason."""
    for alias, expansion in _ALIASES.items():
        spec = spec.replace(alias, expansion)
    fields = _FIELD_SPLIT.findall(spec)
    if fields and fields[0].startswith("@") and len(fields) < 5:
        if fields[0] in ("@reboot", "@every"):
            raise _SpecError(f"{fields[0]} is not supported by Nomad")
        raise _SpecError(f"unknown alias {fields[0]} (Nomad knows {', '.join(_ALIASES)})")
    if len(fields) < 5:
        raise _SpecError("missing field(s)")
    fields = fields[:7]
    if len(fields) == 5:
        fields = ["0", *fields, "*"]
    elif len(fields) == 6:
        fields = ["0", *fields]
    second, minute, hour, dom, month, dow, year = fields
    # Fields are checked in cronexpr's order, so the first error reported is the one Nomad reports.
    seconds = _plain_field(_SECOND, second)
    minutes = _plain_field(_MINUTE, minute)
    hours = _plain_field(_HOUR, hour)
    dom_entries = _field_parse(_DOM, dom)
    months = _plain_field(_MONTH, month)
    dow_entries = _field_parse(_DOW, dow)
    schedule = _Schedule(
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        months=months,
        years=_plain_field(_YEAR, year),
        day_parts=_day_parts(dom_entries, dow_entries),
    )
    for part in schedule.day_parts:
        expression = schedule.expression(part)
        try:
            croniter(expression, datetime(2000, 1, 1, tzinfo=UTC), second_at_beginning=True)
        except (CroniterError, ValueError) as exc:
            # The grammar above accepts only forms croniter handles; this guards against a mismatch.
            logger.warning("croniter rejects %r, built from a valid Nomad spec: %s", expression, exc)
            raise _SpecError(f"cannot be scheduled ({exc})") from None
    return schedule


def _schedule(spec: Any, field: str) -> _Schedule:
    if not isinstance(spec, str):
        raise CronError(field, f"must be a string, not {type(spec).__name__}")
    try:
        return _parse(spec)
    except _SpecError as exc:
        raise CronError(field, f"Invalid cron spec {_quote(spec)}: {exc}") from None


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
        raise CronError(field, f"Invalid time zone {_quote(tz)}: unknown time zone {tz}") from None


def cron_validate(spec: str, *, field: str = "Periodic.Spec") -> None:
    """Check ``spec`` against Nomad's cron grammar; returns None, raises CronError naming ``field``."""
    _schedule(spec, field)


def _launches(schedule: _Schedule, start: datetime) -> Iterator[datetime]:
    """Yield launch times strictly after ``start`` (aware, in the schedule's zone), in order, without repeats."""
    start_ts = start.timestamp()

    def part_launches(part: _DayPart) -> Iterator[datetime]:
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
        raise CronError("Periodic.SpecType", f"Unknown periodic specification type {_quote(str(spec_type))}")

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
