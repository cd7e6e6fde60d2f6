"""The dashboard's chart: run outcomes per day as stacked bars, drawn as SVG on the server."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import reverse
from django.utils.http import urlencode

from striv.drivers.base import RunStatus
from striv.runs.selectors import DayOutcomes

logger = logging.getLogger(__name__)
register = template.Library()

# Bottom to top: the outcomes that matter most sit on the baseline where they are easiest to compare.
STACK_ORDER = [
    RunStatus.FAILED,
    RunStatus.LOST,
    RunStatus.STOPPED,
    RunStatus.SUCCESSFUL,
    RunStatus.DISCONNECTED,
    RunStatus.RUNNING,
    RunStatus.PENDING,
]
BAR_WIDTH = 28
BAR_GAP = 14
PLOT_HEIGHT = 160
LEFT = 36
TOP = 10
BOTTOM = 34


@dataclass(frozen=True)
class Segment:
    status: str
    label: str
    count: int
    y: float
    height: float
    url: str


@dataclass(frozen=True)
class Bar:
    day: Any
    x: float
    label_x: float
    total: int
    segments: list[Segment]
    url: str
    weekday: str
    label: str


def nice_max(value: int) -> int:
    """The smallest round number (1, 2, 5 x 10^n) at or above ``value``, so gridlines fall on round counts."""
    if value <= 4:
        return 4
    magnitude = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return int(step * magnitude)
    return value


@register.inclusion_tag("runs/partials/outcome_chart.html")
def outcome_chart(days: list[DayOutcomes]) -> dict[str, Any]:
    """Lay out one bar per day, stacked by outcome, each segment linking to the runs of that day and outcome."""
    labels = dict(RunStatus.choices)
    top = nice_max(max((day.total for day in days), default=0))
    scale = PLOT_HEIGHT / top
    runs_url = reverse("runs:list")
    bars = []
    for index, day in enumerate(days):
        x = LEFT + BAR_GAP / 2 + index * (BAR_WIDTH + BAR_GAP)
        y: float = TOP + PLOT_HEIGHT
        segments = []
        for status in STACK_ORDER:
            count = day.counts.get(status, 0)
            if not count:
                continue
            height = count * scale
            y -= height
            url = runs_url + "?" + urlencode({"day": day.day.isoformat(), "status": status})
            segments.append(Segment(status, labels[status], count, round(y, 2), round(height, 2), url))
        bars.append(
            Bar(
                day=day.day,
                x=x,
                label_x=x + BAR_WIDTH / 2,
                total=day.total,
                segments=segments,
                url=runs_url + "?" + urlencode({"day": day.day.isoformat()}),
                weekday=day.day.strftime("%a"),
                label=f"{day.day.day}",
            )
        )
    gridlines = [{"value": value, "y": round(TOP + PLOT_HEIGHT - value * scale, 2)} for value in (0, top // 2, top)]
    width = LEFT + len(days) * (BAR_WIDTH + BAR_GAP) + 4
    return {
        "bars": bars,
        "gridlines": gridlines,
        "width": width,
        "height": TOP + PLOT_HEIGHT + BOTTOM,
        "bar_width": BAR_WIDTH,
        "plot_left": LEFT,
        "plot_bottom": TOP + PLOT_HEIGHT,
        "legend": [(status, labels[status]) for status in STACK_ORDER],
        "days": days,
        "statuses": [(status, labels[status]) for status in STACK_ORDER],
        "first": days[0].day if days else None,
        "last": days[-1].day if days else None,
    }
