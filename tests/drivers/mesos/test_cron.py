"""Rhythm's cron dialect (robfig/cron v1.1) as the Mesos driver reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from striv.drivers.mesos import cron

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)  # a Monday


def launches(spec, count=3, zone="UTC", after=NOW):
    return [m.isoformat() for m in cron.next_launches(cron.parse(spec), after=after, zone=ZoneInfo(zone), count=count)]


def test_five_fields_steps_ranges_and_names():
    assert launches("*/20 9-10 * * *") == [
        "2025-06-02T09:40:00+00:00",
        "2025-06-02T10:00:00+00:00",
        "2025-06-02T10:20:00+00:00",
    ]
    assert launches("0 3 * JAN,jun sun", count=1) == ["2025-06-08T03:00:00+00:00"]
    assert launches("5/30 * * * *", count=2) == ["2025-06-02T09:35:00+00:00", "2025-06-02T10:05:00+00:00"]


def test_either_day_field_matches_only_when_both_are_restricted():
    assert launches("0 0 3 * 1", count=2) == ["2025-06-03T00:00:00+00:00", "2025-06-09T00:00:00+00:00"]
    assert launches("0 0 3 * ?", count=2) == ["2025-06-03T00:00:00+00:00", "2025-07-03T00:00:00+00:00"]
    assert launches("0 0 */2 * 1", count=1) == ["2025-06-09T00:00:00+00:00"]  # */2 counts as * in v1.1


def test_launches_follow_the_servers_zone():
    assert launches("0 2 * * *", count=1, zone="Europe/Warsaw") == ["2025-06-03T02:00:00+02:00"]
    spring = datetime(2025, 3, 29, 12, tzinfo=UTC)
    assert launches("30 2 * * *", count=2, zone="Europe/Warsaw", after=spring) == ["2025-03-31T02:30:00+02:00"] + [
        "2025-04-01T02:30:00+02:00"
    ]  # 02:30 on 30 March does not exist there


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("@daily", "Expected exactly 5 fields, found 1: @daily"),
        ("* * * * * *", "Expected exactly 5 fields, found 6"),
        ("0 0 * * 7", "End of range (7) above maximum (6) in the day of week field"),
        ("*/0 * * * *", "Step of range should be a positive number"),
        ("0 0 jan * *", "Failed to parse int from jan"),
        ("10-5 * * * *", "Beginning of range (10) beyond end of range (5)"),
        ("0 0 30 2 *", "never matches"),
    ],
)
def test_what_rhythm_refuses_or_never_runs(spec, message):
    with pytest.raises(cron.CronError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        cron.validate(spec, ZoneInfo("UTC"), now=NOW)


def test_star_with_a_range_is_accepted_and_means_star():
    assert launches("*-5 * * * *", count=2) == ["2025-06-02T09:31:00+00:00", "2025-06-02T09:32:00+00:00"]
