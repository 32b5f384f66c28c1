"""Value types, lookup codes, partition formats and bizdates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagport.domain.dates import (
    EARLIEST_BIZDATE,
    PartitionFormat,
    bizdate_problem,
    date_range,
    default_bizdate,
    parse_date,
)
from tagport.domain.rules import RelativeDays, coerce_value
from tagport.domain.values import ValueKind, ValueType, parse_code


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("string", "string"),
        ("LONG", "long"),
        ("decimal", "decimal(38,18)"),
        ("decimal(10)", "decimal(10,0)"),
        ("Decimal( 18 , 2 )", "decimal(18,2)"),
        ("datetime", "datetime"),
    ],
)
def test_value_types_parse_to_their_canonical_spelling(text: str, spelled: str) -> None:
    assert str(ValueType.parse(text)) == spelled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("decimal(39,2)", "precision must be 1-38"),
        ("decimal(5,6)", "scale 6 exceeds precision 5"),
        ("varchar", "unknown value type"),
    ],
)
def test_bad_value_types_are_explained(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ValueType.parse(text)


@given(st.integers(1, 38).flatmap(lambda p: st.tuples(st.just(p), st.integers(0, p))))
def test_decimal_round_trips(ps: tuple[int, int]) -> None:
    value_type = ValueType(ValueKind.DECIMAL, *ps)
    assert ValueType.parse(str(value_type)) == value_type


def test_lookup_codes_must_be_values_of_the_tag_type() -> None:
    assert parse_code(ValueKind.LONG, " 0571") == "571"
    assert parse_code(ValueKind.BOOLEAN, "1") == "true"
    with pytest.raises(ValueError, match="not a whole number"):
        parse_code(ValueKind.LONG, "HZ")
    with pytest.raises(ValueError, match="not true or false"):
        parse_code(ValueKind.BOOLEAN, "yes")


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31)),
    st.sampled_from(PartitionFormat),
)
def test_partition_formats_round_trip(day: date, fmt: PartitionFormat) -> None:
    assert fmt.parse(fmt.render(day)) == day
    assert parse_date(PartitionFormat.DASHED.render(day)) == day
    assert parse_date(PartitionFormat.YYYYMMDD.render(day)) == day


def test_partition_format_spellings() -> None:
    day = date(2026, 3, 9)
    assert [f.render(day) for f in PartitionFormat] == [
        "20260309",
        "2026-03-09",
        "2026/03/09",
        "2026.03.09",
    ]
    assert PartitionFormat.lenient("yyyymmdd") is PartitionFormat.YYYYMMDD
    with pytest.raises(ValueError, match="unknown partition format"):
        PartitionFormat.lenient("dd/MM/yyyy")


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "26-01-01", "yesterday"])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        parse_date(text)


def test_default_bizdate_is_yesterday_in_the_configured_zone() -> None:
    # 2026-11-24 17:30 UTC is already the 25th in Shanghai.
    now = datetime(2026, 11, 24, 17, 30, tzinfo=UTC)
    assert default_bizdate(now, ZoneInfo("UTC")) == date(2026, 11, 23)
    assert default_bizdate(now, ZoneInfo("Asia/Shanghai")) == date(2026, 11, 24)


def test_date_range_is_inclusive() -> None:
    assert list(date_range(date(2026, 2, 27), date(2026, 3, 1))) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]
    assert list(date_range(date(2026, 3, 2), date(2026, 3, 1))) == []


@pytest.mark.parametrize(
    ("code", "normal"),
    [("true", "true"), ("TRUE", "true"), (" False ", "false"), ("1", "true"), ("0", "false")],
)
def test_a_boolean_code_is_spelled_one_way(code: str, normal: str) -> None:
    assert parse_code(ValueKind.BOOLEAN, code) == normal


def test_a_boolean_code_that_is_no_boolean_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^code 'yes' is not true or false$"):
        parse_code(ValueKind.BOOLEAN, "yes")


def test_an_unknown_value_type_lists_the_known_ones() -> None:
    known = "string, long, double, boolean, date, datetime"
    with pytest.raises(
        ValueError, match=rf"^unknown value type 'int'; use {known} or decimal\(p,s\)$"
    ):
        ValueType.parse("int")


def test_an_unknown_partition_format_lists_the_four() -> None:
    four = "yyyyMMdd, yyyy-MM-dd, yyyy/MM/dd, yyyy.MM.dd"
    with pytest.raises(
        ValueError, match=rf"^unknown partition format 'ddMMyyyy'; use one of {four}$"
    ):
        PartitionFormat.lenient("ddMMyyyy")


def test_today_and_the_earliest_day_are_data_timestamps_one_day_beyond_are_not() -> None:
    today = date(2026, 11, 30)
    assert bizdate_problem(today, today) is None
    assert bizdate_problem(EARLIEST_BIZDATE, today) is None
    assert bizdate_problem(date(2026, 12, 1), today) == (
        "2026-12-01 is in the future (today is 2026-11-30); data timestamps run up to today"
    )
    assert (
        bizdate_problem(date(1899, 12, 31), today)
        == "1899-12-31 is before 1900-01-01; check the year"
    )


@pytest.mark.parametrize(
    ("value_type", "expected"),
    [("date", date(2024, 3, 9)), ("datetime", datetime(2024, 3, 9, 0, 0))],
)
def test_relative_days_are_a_day_for_a_date_tag_and_its_midnight_for_a_datetime_tag(
    value_type: str, expected: date
) -> None:
    got = coerce_value(
        ValueType.parse(value_type), RelativeDays(relative_days=-1), date(2024, 3, 10)
    )
    assert (type(got), got) == (type(expected), expected)
