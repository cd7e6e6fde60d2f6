"""cronexpr's grammar, as Nomad parses ``Periodic.Spec``: a spec becomes croniter expressions.

``parse(spec)`` reads a spec with Nomad's rules (aliases, 5/6/7 fields, names, steps, ``L``, ``W``, ``#``) and
returns a ``Schedule``: the plain fields plus one croniter expression per restricted day field, so that croniter
computes Nomad's OR rule. Why the grammar differs from croniter's, and where striv is stricter than Nomad, is told in
``striv.drivers.nomad.cron``, which computes launch times from the schedule.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from croniter import croniter
from croniter.croniter import CroniterError

logger = logging.getLogger(__name__)

MAX_YEAR = 2099
MIN_YEAR = 1970

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


class CronSyntaxError(Exception):
    """Why a spec does not parse; the caller wraps it into an error naming the spec and the field."""


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
class DayPart:
    """One croniter expression restricted on a single day field (the other is ``*``)."""

    dom: str
    dow: str
    weekday_nearest_to: int | None = None  # n of an "nW" entry: months shorter than n have no launch


@dataclass(frozen=True)
class Schedule:
    seconds: frozenset[int] | None  # None: every value
    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    months: frozenset[int] | None
    years: frozenset[int] | None
    day_parts: tuple[DayPart, ...]

    def expression(self, part: DayPart) -> str:
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


def go_quote(text: str) -> str:
    # Go's %q, close enough: double quotes with escapes.
    return json.dumps(text, ensure_ascii=False)


def _step(directive: str, token: str, kind: _FieldKind) -> int:
    step = int(token) if _STEP_TOKEN.fullmatch(token) else 0
    if step < 1 or step > kind.high:
        raise CronSyntaxError(f"invalid interval {directive}")
    return step


def _dow_value(token: str, directive: str) -> int:
    if re.fullmatch(r"0[1-6]", token):
        raise CronSyntaxError(
            f"unsupported day-of-week '{directive}': Nomad reads the zero-padded weekday {token} as Sunday; "
            f"write {int(token)}"
        )
    return _DOW.value(token) % 7


def _span(kind: _FieldKind, directive: str, first: int, last: int, step: int) -> frozenset[int]:
    if first > last:
        raise CronSyntaxError(f"syntax error in {kind.name} field: '{directive}' (the range runs backwards)")
    return frozenset(range(first, last + 1, step))


def _entry_parse(kind: _FieldKind, directive: str) -> _Entry:
    """Parse one comma-separated entry of a field with cronexpr's grammar; raises CronSyntaxError."""
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
    raise CronSyntaxError(f"syntax error in {kind.name} field: '{directive}'")


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
            raise CronSyntaxError(
                f"unsupported day-of-week range '{directive}': Nomad ends a range that ends on Sunday at Saturday "
                "instead; list Sunday separately, as in '1-6,0'"
            )
        last = 6
    return _span(_DOW, directive, first, last, step)


def _field_parse(kind: _FieldKind, text: str) -> list[_Entry]:
    directives = _ENTRY_SPLIT.findall(text)
    if not directives:
        raise CronSyntaxError(f"{kind.name} field: missing directive")
    return [_entry_parse(kind, directive) for directive in directives]


def _plain_field(kind: _FieldKind, text: str) -> frozenset[int] | None:
    entries = _field_parse(kind, text)
    if any(entry.every for entry in entries):
        return None
    return frozenset().union(*(entry.values for entry in entries))


def _day_parts(dom_entries: list[_Entry], dow_entries: list[_Entry]) -> tuple[DayPart, ...]:
    """Split the two day fields into croniter expressions that each restrict one of them (Nomad's OR rule)."""
    dom_restricted = not any(entry.every for entry in dom_entries)
    dow_restricted = not any(entry.every for entry in dow_entries)
    if not dom_restricted and not dow_restricted:
        return (DayPart("*", "*"),)

    parts: list[DayPart] = []
    if dom_restricted:
        plain = sorted(frozenset().union(*(entry.values for entry in dom_entries)))
        listed = [str(day) for day in plain] + ["L" for entry in dom_entries if entry.special == "L"][:1]
        if listed:
            parts.append(DayPart(",".join(listed), "*"))
        for entry in dom_entries:
            if entry.special == "LW":
                raise CronSyntaxError("LW (last weekday of the month) is valid in Nomad but not supported by striv")
            if entry.special and entry.special.endswith("W"):
                parts.append(DayPart(entry.special, "*", weekday_nearest_to=int(entry.special[:-1])))
    if dow_restricted:
        weekdays = frozenset().union(*(entry.values for entry in dow_entries))
        if weekdays:
            parts.append(DayPart("*", _croniter_list(weekdays)))
        specials = sorted({entry.special for entry in dow_entries if entry.special})
        parts.extend(DayPart("*", special) for special in specials)
    return tuple(parts)


@lru_cache(maxsize=1024)
def parse(spec: str) -> Schedule:
    """Parse ``spec`` with Nomad's rules; returns the schedule, raises CronSyntaxError with the reason."""
    for alias, expansion in _ALIASES.items():
        spec = spec.replace(alias, expansion)
    fields = _FIELD_SPLIT.findall(spec)
    if fields and fields[0].startswith("@") and len(fields) < 5:
        if fields[0] in ("@reboot", "@every"):
            raise CronSyntaxError(f"{fields[0]} is not supported by Nomad")
        raise CronSyntaxError(f"unknown alias {fields[0]} (Nomad knows {', '.join(_ALIASES)})")
    if len(fields) < 5:
        raise CronSyntaxError("missing field(s)")
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
    schedule = Schedule(
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
            raise CronSyntaxError(f"cannot be scheduled ({exc})") from None
    return schedule
