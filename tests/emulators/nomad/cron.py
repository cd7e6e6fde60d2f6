"""Nomad's hashicorp/cronexpr semantics, computed with croniter."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

logger = logging.getLogger(__name__)


_CRON_ALIASES = {
    "@yearly": "0 0 0 1 1 * *",
    "@annually": "0 0 0 1 1 * *",
    "@monthly": "0 0 0 1 * * *",
    "@weekly": "0 0 0 * * 0 *",
    "@daily": "0 0 0 * * * *",
    "@midnight": "0 0 0 * * * *",
    "@hourly": "0 0 * * * * *",
}
_CRON_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
    ("year", 1970, 2099),
)
_MONTH_NAMES = {
    name: i + 1
    for i, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
_DOW_NAMES = {
    name: i for i, name in enumerate(["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"])
}


def _cron_value(token: str, field_index: int) -> int | None:
    """Return the number a cron token names (digits or a month/day name), or None when it names nothing."""
    if token.isdigit():
        return int(token)
    lowered = token.lower()
    names = _MONTH_NAMES if field_index == 4 else _DOW_NAMES if field_index == 5 else None
    if names:
        for name, number in names.items():
            if lowered in (name, name[:3]):
                return number
    return None


def _cron_check_item(item: str, field_index: int) -> str:
    """Validate one comma-separated cron item; returns it rewritten for croniter, raises ValueError."""
    name, low, high = _CRON_FIELDS[field_index]
    bad = ValueError(f"syntax error in {name} field: '{item}'")
    if field_index == 3 and (item.upper() in ("L", "LW") or re.fullmatch(r"\d{1,2}W", item, re.I)):
        if item.upper() not in ("L", "LW") and not 1 <= int(item[:-1]) <= 31:
            raise bad
        return item.upper()
    if field_index == 5:
        last = re.fullmatch(r"([0-7])L", item, re.I)
        if last:
            return f"L{int(last.group(1)) % 7}"  # croniter spells "last Friday" as L5, Nomad as 5L
        nth = re.fullmatch(r"([0-7])#([1-5])", item)
        if nth:
            return item
    base, slash, step = item.partition("/")
    if slash:
        if not step.isdigit():
            raise bad
        if int(step) == 0:
            raise ValueError(f"invalid interval {item}")
    if base in ("*", "?"):
        return "*" + (f"/{step}" if slash else "")
    start, dash, end = base.partition("-")
    values = [_cron_value(start, field_index)] + ([_cron_value(end, field_index)] if dash else [])
    if any(v is None or not low <= v <= high for v in values):
        raise bad
    rewritten = "-".join(str(v) for v in values)
    return rewritten + (f"/{step}" if slash else "")


def cron_normalize(spec: str) -> str:
    """Turn a Nomad cron spec into a 7-field croniter spec (seconds first, year last); raises ValueError.

    5 fields are ``min hour dom month dow``; 6 fields add the YEAR (not seconds, unlike crontab); 7 fields are
    ``sec min hour dom month dow year``; fields after the 7th are ignored, as in Nomad.
    """
    text = spec.strip()
    if text.lower() in _CRON_ALIASES:
        return _CRON_ALIASES[text.lower()]
    fields = text.split()
    if len(fields) < 5:
        raise ValueError("missing field(s)")
    if len(fields) == 5:
        fields = ["0", *fields, "*"]
    elif len(fields) == 6:
        fields = ["0", *fields]
    fields = fields[:7]
    return " ".join(",".join(_cron_check_item(item, i) for item in f.split(",")) for i, f in enumerate(fields))


def cron_next(spec: str, after: datetime, tz_name: str = "UTC") -> datetime | None:
    """Return the first instant strictly after `after` matching `spec` in `tz_name`, or None if none can be found.

    Raises ValueError for an invalid spec (see `cron_normalize`).
    """
    normalized = cron_normalize(spec)
    tz = ZoneInfo(tz_name or "UTC")
    try:
        return croniter(normalized, after.astimezone(tz), second_at_beginning=True).get_next(datetime)
    except Exception:  # croniter lacks a few cronexpr forms (LW); Nomad would launch, we cannot say when
        logger.debug("croniter cannot evaluate %r", normalized)
        return None


def periodic_next(periodic: Mapping[str, Any], after: datetime) -> datetime | None:
    """Return the next launch of a job's Periodic block after `after` (the minimum over Spec/Specs), or None."""
    specs = [periodic.get("Spec")] if periodic.get("Spec") else list(periodic.get("Specs") or [])
    candidates = [n for n in (cron_next(s, after, periodic.get("TimeZone") or "UTC") for s in specs) if n]
    return min(candidates) if candidates else None
