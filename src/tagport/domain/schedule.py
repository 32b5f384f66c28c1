"""When a recurring task is due: run times, time zones and a catch-up window; no I/O."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tagport.domain.dates import bizdate_for_run_day


def parse_at(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def due_bizdates(
    at: time, live_since: datetime, now: datetime, tz: ZoneInfo, catch_up_days: int
) -> list[date]:
    """Bizdates whose daily run moment (run day at `at`, local time) has come.

    Only moments since the task went live count, and only run days within the last
    `catch_up_days` days (today included), so a scheduler that was down catches up on what it
    missed without replaying history. A run on day T exports T-1.
    """
    today = now.astimezone(tz).date()
    due = []
    for offset in range(catch_up_days, -1, -1):
        run_day = today - timedelta(days=offset)
        moment = datetime.combine(run_day, at, tzinfo=tz)
        if live_since <= moment <= now:
            due.append(bizdate_for_run_day(run_day))
    return due
