"""When recurring tasks are due: across days, time zones, DST and the catch-up window."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tagport.domain.schedule import due_bizdates, parse_at
from tagport.domain.states import ScheduleType
from tagport.domain.tasks import Schedule

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def test_a_run_on_day_t_exports_t_minus_1_once_its_time_has_come() -> None:
    live = datetime(2026, 11, 1, tzinfo=SHANGHAI)
    before = datetime(2026, 11, 24, 1, 59, tzinfo=SHANGHAI)
    after = datetime(2026, 11, 24, 2, 0, tzinfo=SHANGHAI)
    assert due_bizdates(time(2), live, before, SHANGHAI, 0) == []
    assert due_bizdates(time(2), live, after, SHANGHAI, 0) == [date(2026, 11, 23)]


def test_nothing_before_the_task_went_live() -> None:
    live = datetime(2026, 11, 24, 15, tzinfo=SHANGHAI)  # published after today's 02:00
    now = datetime(2026, 11, 24, 16, tzinfo=SHANGHAI)
    assert due_bizdates(time(2), live, now, SHANGHAI, 5) == []
    tomorrow = now + timedelta(days=1)
    assert due_bizdates(time(2), live, tomorrow, SHANGHAI, 5) == [date(2026, 11, 24)]


def test_the_zone_decides_the_day() -> None:
    live = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)  # 02:30 on the 24th in Shanghai
    assert due_bizdates(time(2), live, now, SHANGHAI, 0) == [date(2026, 11, 23)]
    assert due_bizdates(time(2), live, now, ZoneInfo("UTC"), 0) == [date(2026, 11, 22)]


def test_a_daylight_saving_change_neither_skips_nor_repeats_a_day() -> None:
    live = datetime(2026, 1, 1, tzinfo=UTC)
    # 2026-03-08: New York springs forward at 02:00, so 02:30 does not exist that day.
    now = datetime(2026, 3, 10, 12, tzinfo=NEW_YORK)
    assert due_bizdates(time(2, 30), live, now, NEW_YORK, 3) == [
        date(2026, 3, 6),
        date(2026, 3, 7),
        date(2026, 3, 8),
        date(2026, 3, 9),
    ]


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 30),
)
def test_due_days_are_consecutive_and_bounded_by_the_window(
    local_now: datetime, hour: int, minute: int, window: int
) -> None:
    now = local_now.replace(tzinfo=SHANGHAI)
    live = now - timedelta(days=400)
    due = due_bizdates(time(hour, minute), live, now, SHANGHAI, window)
    assert window <= len(due) <= window + 1
    assert due == sorted(due) and len(set(due)) == len(due)
    assert all((b - a).days == 1 for a, b in itertools.pairwise(due))
    assert not due or due[-1] in (now.date() - timedelta(days=1), now.date() - timedelta(days=2))


def test_parse_at() -> None:
    assert parse_at("02:05") == time(2, 5)


def test_a_schedule_window_is_checked_when_saved() -> None:
    with pytest.raises(ValidationError, match="2026-11-01 is before first_bizdate 2026-11-02"):
        Schedule(type=ScheduleType.RECURRING, first_bizdate="2026-11-02", last_bizdate="2026-11-01")
    with pytest.raises(ValidationError, match="a manual schedule has no first bizdate"):
        Schedule(first_bizdate="2026-11-02")
    soon = Schedule(type=ScheduleType.RECURRING, first_bizdate="2026-12-24")
    assert soon.window_state(date(2026, 11, 29)) == "starts with data timestamp 2026-12-24"
    assert soon.window_state(date(2026, 12, 24)) is None
    ending = Schedule(type=ScheduleType.RECURRING, last_bizdate="2026-12-24")
    assert ending.window_state(date(2026, 12, 24)) is None  # the last day runs
    assert ending.window_state(date(2026, 12, 25)) == "ended with data timestamp 2026-12-24"


def test_a_task_live_at_the_very_moment_of_its_run_is_due_then() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    moment = datetime(2026, 11, 30, 2, 0, tzinfo=tz)
    assert due_bizdates(time(2, 0), moment, moment, tz, 0) == [date(2026, 11, 29)]
    assert due_bizdates(time(2, 0), moment + timedelta(seconds=1), moment, tz, 0) == []
