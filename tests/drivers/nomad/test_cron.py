"""Nomad's periodic cron semantics: field layouts, aliases, day rules, time zones and Periodic blocks."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from striv.drivers.nomad.cron import CronError, cron_next, cron_validate, periodic_next_launches, periodic_validate

START = datetime(2025, 1, 1, tzinfo=UTC)  # a Wednesday
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def launches(spec: str, *, after: datetime = START, tz: str = "UTC", count: int = 3) -> list[datetime]:
    return cron_next(spec, after=after, tz=tz, count=count)


def test_five_fields_are_minute_hour_dom_month_dow():
    assert launches("30 3 * * *") == [utc(2025, 1, 1, 3, 30), utc(2025, 1, 2, 3, 30), utc(2025, 1, 3, 3, 30)]


def test_six_fields_end_with_the_year_not_seconds():
    # Nomad's docs example: every 15 minutes, not every 15 seconds.
    assert launches("*/15 * * * * *") == [utc(2025, 1, 1, 0, 15), utc(2025, 1, 1, 0, 30), utc(2025, 1, 1, 0, 45)]


def test_six_field_year_delays_first_launch_to_that_year():
    assert launches("0 3 * * * 2030", count=2) == [utc(2030, 1, 1, 3), utc(2030, 1, 2, 3)]


def test_seven_fields_start_with_seconds_and_end_with_the_year():
    assert launches("15 30 9 * * * 2030", count=2) == [utc(2030, 1, 1, 9, 30, 15), utc(2030, 1, 2, 9, 30, 15)]


def test_fields_after_the_seventh_are_ignored():
    assert launches("0 0 3 * * * * whatever", count=1) == [utc(2025, 1, 1, 3)]


@pytest.mark.parametrize(
    ("alias", "first"),
    [
        ("@yearly", utc(2026, 1, 1)),
        ("@annually", utc(2026, 1, 1)),
        ("@monthly", utc(2025, 2, 1)),
        ("@weekly", utc(2025, 1, 5)),  # Sunday
        ("@daily", utc(2025, 1, 2)),
        ("@hourly", utc(2025, 1, 1, 1)),
    ],
)
def test_aliases_expand_like_nomad(alias, first):
    assert launches(alias, count=1) == [first]


def test_launches_are_strictly_after_the_start_time():
    assert launches("0 3 * * *", after=utc(2025, 1, 1, 3), count=1) == [utc(2025, 1, 2, 3)]
    assert launches("0 3 * * *", after=utc(2025, 1, 1, 2, 59, 59, 500000), count=1) == [utc(2025, 1, 1, 3)]


def test_naive_start_time_is_taken_as_utc():
    assert launches("0 3 * * *", after=datetime(2025, 1, 1), count=1) == [utc(2025, 1, 1, 3)]


def test_day_of_month_and_day_of_week_match_either_when_both_restricted():
    # The 1st of the month or any Monday.
    got = launches("0 0 1 * mon", after=utc(2025, 1, 25), count=4)
    assert got == [utc(2025, 1, 27), utc(2025, 2, 1), utc(2025, 2, 3), utc(2025, 2, 10)]


def test_only_the_restricted_day_field_counts():
    assert launches("0 0 * * 1", count=2) == [utc(2025, 1, 6), utc(2025, 1, 13)]
    assert launches("0 0 15 * ?", count=2) == [utc(2025, 1, 15), utc(2025, 2, 15)]


def test_nth_weekday_also_follows_the_or_rule():
    # Friday the 13th or the third Friday: croniter alone would require both.
    assert launches("0 0 13 * 5#3", count=3) == [utc(2025, 1, 13), utc(2025, 1, 17), utc(2025, 2, 13)]


def test_last_weekday_of_month_uses_nomad_spelling():
    # Nomad's "5L" is the last Friday of the month.
    assert launches("0 0 * * 5L", count=2) == [utc(2025, 1, 31), utc(2025, 2, 28)]


def test_last_day_and_nearest_weekday_in_day_of_month():
    assert launches("0 0 L * *", count=2) == [utc(2025, 1, 31), utc(2025, 2, 28)]
    # 2025-02-15 is a Saturday, so "15W" is Friday the 14th; lists may mix plain days and W days.
    assert launches("0 0 1,15W * *", count=4) == [utc(2025, 1, 15), utc(2025, 2, 1), utc(2025, 2, 14), utc(2025, 3, 1)]


def test_nearest_weekday_skips_months_shorter_than_its_day():
    # 2025-05-31 is a Saturday: Friday the 30th. February and April have no 31st and no launch.
    assert launches("0 0 31W * *", count=3) == [utc(2025, 1, 31), utc(2025, 3, 31), utc(2025, 5, 30)]


def test_names_are_case_insensitive_and_may_be_full():
    assert launches("0 0 * * MONDAY", count=1) == [utc(2025, 1, 6)]
    assert launches("0 0 1 February *", count=1) == [utc(2025, 2, 1)]
    assert launches("0 0 * * 7", count=1) == [utc(2025, 1, 5)]  # 7 is Sunday


def test_step_from_a_start_value_runs_to_the_field_maximum():
    assert launches("50/5 * * * *", count=3) == [utc(2025, 1, 1, 0, 50), utc(2025, 1, 1, 0, 55), utc(2025, 1, 1, 1, 50)]


def test_schedule_ends_after_2099():
    assert launches("0 0 1 1 * 2099", count=3) == [utc(2099, 1, 1)]
    assert launches("0 0 30 2 *") == []


def test_launches_are_computed_in_the_time_zone():
    got = launches("0 3 * * *", tz="Europe/Stockholm", count=2)
    assert got == [datetime(2025, 1, 1, 3, tzinfo=STOCKHOLM), datetime(2025, 1, 2, 3, tzinfo=STOCKHOLM)]
    assert got[0] == utc(2025, 1, 1, 2)
    assert got[0].tzinfo == STOCKHOLM


def test_summer_time_shifts_the_utc_launch_time():
    got = launches("0 3 * * *", after=utc(2025, 6, 30), tz="Europe/Stockholm", count=1)
    assert got == [utc(2025, 6, 30, 1)]


def test_spring_forward_skips_times_in_the_missing_hour():
    got = launches("30 2 * * *", after=utc(2025, 3, 29), tz="Europe/Stockholm", count=2)
    assert [moment.date().isoformat() for moment in got] == ["2025-03-29", "2025-03-31"]


def test_fall_back_runs_times_in_the_repeated_hour_twice():
    got = launches("30 2 * * *", after=utc(2025, 10, 25, 12), tz="Europe/Stockholm", count=3)
    assert [moment.timestamp() for moment in got] == [
        utc(2025, 10, 26, 0, 30).timestamp(),
        utc(2025, 10, 26, 1, 30).timestamp(),
        utc(2025, 10, 27, 1, 30).timestamp(),
    ]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("* * * *", "missing field(s)"),
        ("", "missing field(s)"),
        ("61 * * * *", "syntax error in minute field: '61'"),
        ("0 24 * * *", "syntax error in hour field: '24'"),
        ("0 0 0 * *", "syntax error in day-of-month field: '0'"),
        ("0 0 * 13 *", "syntax error in month field: '13'"),
        ("0 0 * * 8", "syntax error in day-of-week field: '8'"),
        ("0 0 * * * 1969", "syntax error in year field: '1969'"),
        ("*/0 * * * *", "invalid interval */0"),
        ("*/60 * * * *", "invalid interval */60"),
        (", * * * *", "minute field: missing directive"),
        ("0 0 * * 5#6", "syntax error in day-of-week field: '5#6'"),
        ("0 0 * * L", "syntax error in day-of-week field: 'L'"),
        ("H * * * *", "syntax error in minute field: 'H'"),
        ("@reboot", "@reboot is not supported by Nomad"),
        ("@every 5m", "@every is not supported by Nomad"),
        ("@DAILY", "unknown alias @DAILY"),
        ("0 0 LW * *", "LW (last weekday of the month) is valid in Nomad but not supported"),
        ("30-10 * * * *", "the range runs backwards"),
        ("0 0 * * 1-7", "Nomad ends a range that ends on Sunday at Saturday"),
        ("0 0 * * 0-0", "Nomad ends a range that ends on Sunday at Saturday"),
        ("0 0 * * 01", "Nomad reads the zero-padded weekday 01 as Sunday"),
    ],
)
def test_invalid_specs_are_rejected_with_nomad_style_messages(spec, reason):
    with pytest.raises(CronError) as excinfo:
        cron_validate(spec)
    assert excinfo.value.field == "Periodic.Spec"
    assert excinfo.value.message.startswith(f'Invalid cron spec "{spec}": ')
    assert reason in excinfo.value.message


def test_first_invalid_field_in_nomad_order_is_reported():
    with pytest.raises(CronError, match="syntax error in day-of-week field: '2030'"):
        cron_validate("0 0 * * 1 2030 extra junk")


@pytest.mark.parametrize("spec", ["0 0 * * 0-7", "0 0 * * mon-sat", "0 0 * * */2", "0 0 ? * ?", "0 0 1 JAN-mar 1"])
def test_valid_specs_pass(spec):
    cron_validate(spec)


def test_cron_validate_names_the_given_field():
    with pytest.raises(CronError) as excinfo:
        cron_validate("nope", field="Periodic.Specs[1]")
    assert excinfo.value.field == "Periodic.Specs[1]"
    assert str(excinfo.value) == 'Periodic.Specs[1]: Invalid cron spec "nope": missing field(s)'


def test_cron_next_rejects_unknown_time_zone():
    with pytest.raises(CronError) as excinfo:
        launches("0 3 * * *", tz="Mars/Base")
    assert excinfo.value.field == "Periodic.TimeZone"
    assert excinfo.value.message == 'Invalid time zone "Mars/Base": unknown time zone Mars/Base'


def test_periodic_block_gives_launches_in_its_time_zone():
    periodic = {"Enabled": True, "Spec": "0 3 * * *", "SpecType": "cron", "TimeZone": "Europe/Stockholm"}
    got = periodic_next_launches(periodic, now=START, count=2)
    assert got == [utc(2025, 1, 1, 2), utc(2025, 1, 2, 2)]
    assert got[0].tzinfo == STOCKHOLM


def test_periodic_defaults_are_enabled_cron_and_utc():
    assert periodic_next_launches({"Spec": "0 3 * * *"}, now=START, count=1) == [utc(2025, 1, 1, 3)]
    assert periodic_next_launches({"Spec": "0 3 * * *", "TimeZone": ""}, now=START, count=1)[0].tzinfo == ZoneInfo(
        "UTC"
    )


def test_periodic_specs_are_merged_sorted_and_deduplicated():
    periodic = {"Specs": ["0 12 * * *", "0 6,12 * * *", "30 6 1 1 *"]}
    got = periodic_next_launches(periodic, now=START, count=5)
    assert got == [
        utc(2025, 1, 1, 6),
        utc(2025, 1, 1, 6, 30),
        utc(2025, 1, 1, 12),
        utc(2025, 1, 2, 6),
        utc(2025, 1, 2, 12),
    ]


def test_periodic_keys_match_case_insensitively_like_go_json():
    assert periodic_next_launches({"spec": "0 3 * * *", "timezone": "UTC"}, now=START, count=1) == [utc(2025, 1, 1, 3)]


def test_disabled_or_missing_periodic_has_no_launches():
    assert periodic_next_launches({"Enabled": False, "Spec": "0 3 * * *"}, now=START) == []
    assert periodic_next_launches(None, now=START) == []


def test_disabled_periodic_is_not_validated_like_nomad():
    periodic_validate({"Enabled": False, "Spec": "not a cron", "TimeZone": "Mars/Base"})
    periodic_validate(None)


def test_periodic_next_launches_defaults_to_now():
    got = periodic_next_launches({"Spec": "* * * * *"}, count=1)
    assert 0 < (got[0] - datetime.now(UTC)).total_seconds() <= 60


@pytest.mark.parametrize(
    ("periodic", "field", "message"),
    [
        ({"Spec": "0 3 * * *", "Specs": ["0 4 * * *"]}, "Periodic", "Only cron or crons may be used"),
        ({}, "Periodic.Spec", "Must specify a spec"),
        ({"Spec": "", "Specs": []}, "Periodic.Spec", "Must specify a spec"),
        ({"Spec": "0 3 * *"}, "Periodic.Spec", 'Invalid cron spec "0 3 * *": missing field(s)'),
        ({"Specs": ["0 3 * * *", "@reboot"]}, "Periodic.Specs[1]", 'Invalid cron spec "@reboot": @reboot is not'),
        ({"Specs": ["0 3 * * *", ""]}, "Periodic.Specs[1]", 'Invalid cron spec "": missing field(s)'),
        ({"Specs": "0 3 * * *"}, "Periodic.Specs", "must be a list of strings"),
        ({"Specs": [3]}, "Periodic.Specs[0]", "must be a string"),
        ({"Spec": 3}, "Periodic.Spec", "must be a string"),
        ({"Spec": "0 3 * * *", "TimeZone": "Mars/Base"}, "Periodic.TimeZone", 'Invalid time zone "Mars/Base"'),
        ({"Spec": "0 3 * * *", "TimeZone": "Local"}, "Periodic.TimeZone", 'Invalid time zone "Local"'),
        ({"Spec": "0 3 * * *", "SpecType": ""}, "Periodic.SpecType", 'Unknown periodic specification type ""'),
        ({"Spec": "0 3 * * *", "SpecType": "rate"}, "Periodic.SpecType", "Unknown periodic specification type"),
        ({"Spec": "0 3 * * *", "Enabled": "yes"}, "Periodic.Enabled", "must be true or false"),
        ("0 3 * * *", "Periodic", "must be an object"),
    ],
)
def test_invalid_periodic_blocks_raise_cron_error_naming_the_field(periodic, field, message):
    for check in (periodic_validate, lambda block: periodic_next_launches(block, now=START)):
        with pytest.raises(CronError) as excinfo:
            check(periodic)
        assert excinfo.value.field == field
        assert excinfo.value.message.startswith(message)
