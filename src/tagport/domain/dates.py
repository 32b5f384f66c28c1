"""Data timestamps (bizdates) and the date formats of partition values."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class PartitionFormat(StrEnum):
    """How a bizdate is rendered into a partition value."""

    YYYYMMDD = "yyyyMMdd"
    DASHED = "yyyy-MM-dd"
    SLASHED = "yyyy/MM/dd"
    DOTTED = "yyyy.MM.dd"

    @property
    def strftime(self) -> str:
        return _STRFTIME[self]

    def render(self, day: date) -> str:
        return day.strftime(self.strftime)

    def parse(self, text: str) -> date:
        return datetime.strptime(text, self.strftime).date()

    @classmethod
    def lenient(cls, text: str) -> PartitionFormat:
        """Accept the four formats case-insensitively (`yyyymmdd` too, as the spec spells it)."""
        for fmt in cls:
            if fmt.value.lower() == str(text).strip().lower():
                return fmt
        allowed = ", ".join(f.value for f in cls)
        raise ValueError(f"unknown partition format {text!r}; use one of {allowed}")


_STRFTIME = {
    PartitionFormat.YYYYMMDD: "%Y%m%d",
    PartitionFormat.DASHED: "%Y-%m-%d",
    PartitionFormat.SLASHED: "%Y/%m/%d",
    PartitionFormat.DOTTED: "%Y.%m.%d",
}

_DATE_INPUT = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def parse_date(text: str) -> date:
    """Parse a date typed by a person: `yyyy-MM-dd` or `yyyyMMdd`."""
    match = _DATE_INPUT.fullmatch(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a date; use yyyy-MM-dd or yyyyMMdd")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date: {exc}") from None


def bizdate_for_run_day(run_day: date) -> date:
    """A daily run on day T exports the data of T-1."""
    return run_day - timedelta(days=1)


def default_bizdate(now: datetime, tz: ZoneInfo) -> date:
    """T-1 in the configured time zone: the default data timestamp of runs and backfills."""
    return bizdate_for_run_day(now.astimezone(tz).date())


EARLIEST_BIZDATE = date(1900, 1, 1)
"""No warehouse holds data older than this: an earlier data timestamp is a typing mistake."""


def bizdate_problem(day: date, today: date) -> str | None:
    """Why `day` cannot be a data timestamp to run for on `today`, or None when it can."""
    if day > today:
        return f"{day} is in the future (today is {today}); data timestamps run up to today"
    if day < EARLIEST_BIZDATE:
        return f"{day} is before {EARLIEST_BIZDATE}; check the year"
    return None


def date_range(first: date, last: date) -> Iterator[date]:
    """Every day from `first` to `last`, both included; empty when `last` precedes `first`."""
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
