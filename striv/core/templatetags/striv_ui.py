"""Template tags and filters shared by striv's pages: roles, badges, durations, JSON with secrets hidden."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from striv import secret, templating
from striv.core import roles
from striv.drivers.base import RunStatus

logger = logging.getLogger(__name__)
register = template.Library()

SECRET_SET = "secret, set"

RUN_STATUS_LABELS = dict(RunStatus.choices)
SYNC_LABELS = {
    "in_sync": "In sync",
    "out_of_sync": "Out of sync",
    "pending": "Push pending",
    "failed": "Push failed",
    "deleting": "Deleting",
}


@register.filter
def can_operate(user: Any) -> bool:
    """True when ``user`` may change jobs (operator or admin)."""
    return roles.can_operate(user)


@register.filter
def role_of(user: Any) -> str:
    return roles.user_role(user) or "no role"


@register.simple_tag
def run_status_badge(status: str) -> str:
    """A badge for a run status; a job that never ran ("") shows "No runs"."""
    label = RUN_STATUS_LABELS.get(status, status) if status else "No runs"
    return format_html('<span class="badge run-{}">{}</span>', status or "none", label)


@register.simple_tag
def sync_badge(status: str) -> str:
    return format_html('<span class="badge sync-{}">{}</span>', status, SYNC_LABELS.get(status, status))


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return parse_datetime(value)
    return None


@register.filter
def as_datetime(value: Any) -> datetime | None:
    """Parse an ISO timestamp (as runs store their tasks' times) so the date filters can format it."""
    return _as_datetime(value)


def duration_text(delta: timedelta) -> str:
    """Return a short human duration: "45 s", "3 min 12 s", "2 h 5 min", "3 d 4 h"."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.simple_tag
def duration(start: Any, end: Any = None) -> str:
    """The time from ``start`` to ``end`` (or to now for something still running); "" without a start."""
    start_at = _as_datetime(start)
    if start_at is None:
        return ""
    end_at = _as_datetime(end) or timezone.now()
    return duration_text(end_at - start_at)


def secrets_hidden(value: Any) -> Any:
    """Return ``value`` with every secret object replaced by the words "secret, set"."""
    if isinstance(value, dict):
        if secret.is_secret(value):
            return SECRET_SET
        return {key: secrets_hidden(item) for key, item in value.items()}
    if isinstance(value, list):
        return [secrets_hidden(item) for item in value]
    return value


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON with secrets shown only as "secret, set"."""
    return json.dumps(secrets_hidden(value), indent=2, sort_keys=False, ensure_ascii=False)


@register.filter
def compact_json(value: Any) -> str:
    """A param value on one line: strings as they are, anything else as JSON; secrets as "secret, set"."""
    value = secrets_hidden(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@register.filter
def is_secret(value: Any) -> bool:
    return secret.is_secret(value)


@register.simple_tag
def layer_badge(layer: str) -> str:
    """A tag naming a param layer: "job", "execution greeter", "customer = acme"."""
    if isinstance(layer, templating.LayerName):
        kind, text = layer.kind, layer.label
    else:  # a name from elsewhere than a rendering: shown as it is
        kind, text = "job", str(layer)
    return format_html('<span class="layer layer-{}" title="set by {}">{}</span>', kind, layer, text)


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    """``mapping[key]`` for keys a template cannot spell (``errors.fields|get_item:name``); "" when absent."""
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""


@register.filter
def is_redacted(value: Any) -> bool:
    """True for a secret as the renderer shows it ("<redacted>")."""
    return value == templating.REDACTED


@register.filter
def short_id(value: Any) -> str:
    """The first block of an id, enough to tell runs apart on screen."""
    text = str(value)
    return text[:8] if len(text) > 12 else text
