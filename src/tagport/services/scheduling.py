"""The daily schedule: create each due instance exactly once, whoever and however often asks.

Uniqueness is the database's job (`instances.schedule_key`), not timing's: two schedulers, a
restart mid-day or a replayed tick all insert with ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tagport.domain.schedule import due_bizdates, parse_at
from tagport.domain.states import InstanceStatus, ScheduleType, TaskStatus
from tagport.domain.tasks import Schedule, Target
from tagport.services.instances import Trigger, schedule_key
from tagport.store import tables as t
from tagport.store.db import Database, insert_ignoring_duplicates

SCHEDULED_STATUSES = (TaskStatus.PUBLISHED.value, TaskStatus.PUBLISHING.value)
"""A live version is scheduled while published, and while a new version is being published."""


def create_due_instances(db: Database, now: datetime, tz: ZoneInfo, catch_up_days: int) -> int:
    """Create the scheduled instances due at `now`; return how many were new."""
    with db.uow() as uow:
        session = uow.session
        wanted = _due(session, now, tz, catch_up_days)
        existing: set[str] = set()
        keys = list(wanted)
        for start in range(0, len(keys), 1000):
            existing.update(
                session.scalars(
                    select(t.Instance.schedule_key).where(
                        t.Instance.schedule_key.in_(keys[start : start + 1000])
                    )
                )
            )
        created = insert_ignoring_duplicates(
            session,
            t.Instance,
            "schedule_key",
            [row for key, row in wanted.items() if key not in existing],
        )
        uow.commit()
        return created


def _due(
    session: Session, now: datetime, tz: ZoneInfo, catch_up_days: int
) -> dict[str, dict[str, Any]]:
    """The instance rows due at `now`, by schedule key.

    Reads plain rows, not ORM objects, and of each published configuration only its schedule and
    target (validated in full when it was published): a tick over 10,000 tasks is bound by this.
    """
    rows = session.execute(
        select(
            t.OfflineService.id,
            t.OfflineService.published,
            t.OfflineService.published_at,
            t.OfflineService.published_revision,
        ).where(
            t.OfflineService.schedule_type == ScheduleType.RECURRING.value,
            t.OfflineService.status.in_(SCHEDULED_STATUSES),
            t.OfflineService.published_revision.is_not(None),
        )
    )
    wanted: dict[str, dict[str, Any]] = {}
    for task_id, published, published_at, revision in rows:
        if published is None or published_at is None:
            continue
        schedule = Schedule.model_validate(published.get("schedule") or {})
        at = parse_at(schedule.at or "00:00")
        target: str | None = None
        for bizdate in due_bizdates(at, published_at, now, tz, catch_up_days):
            if not schedule.covers(bizdate):
                continue  # outside the schedule's first and last data timestamps
            target = target or Target.model_validate(published["target"]).key
            key = schedule_key(task_id, bizdate)
            wanted[key] = {
                "service_id": task_id,
                "bizdate": bizdate,
                "trigger": Trigger.SCHEDULE,
                "schedule_key": key,
                "status": InstanceStatus.WAITING.value,
                "revision": revision,
                "attempts": 0,
                "target_key": target,
                "created_at": now,
            }
    return wanted


def lead(db: Database, role: str, holder: str, now: datetime, lease: timedelta) -> str | None:
    """Take or keep `role` for `holder` at `now`; returns who holds it afterwards (`holder` when
    it leads, else the leader it stands by for).

    The role is a lease in the metadata database, the rule instance claims follow: kept while
    its holder renews it within `lease`, taken by whoever asks first after that. A holder that
    dies (its host gone, its connection never closed) loses it in one lease at most, where an
    advisory lock would stay with its dead session until TCP gives up. One conditional UPDATE:
    of two asking at once, the database lets one match.
    """
    with db.uow() as uow:
        session = uow.session
        insert_ignoring_duplicates(
            session, t.Heartbeat, "role", [{"role": role, "at": now, "holder": None}]
        )
        row = t.Heartbeat
        session.execute(
            update(row)
            .where(
                row.role == role,
                or_(row.holder == holder, row.holder.is_(None), row.at < now - lease),
            )
            .values(holder=holder, at=now)
        )
        leader = session.scalar(select(row.holder).where(row.role == role))
        uow.commit()
        return leader


def resign(db: Database, role: str, holder: str) -> None:
    """Give `role` up if `holder` holds it: whoever asks next takes it (`lead`)."""
    with db.uow() as uow:
        row = t.Heartbeat
        uow.session.execute(
            update(row).where(row.role == role, row.holder == holder).values(holder=None)
        )
        uow.commit()


def last_heartbeat(db: Database, role: str) -> datetime | None:
    """When `role` last proved alive; None if never."""
    with db.uow() as uow:
        return uow.session.scalar(select(t.Heartbeat.at).where(t.Heartbeat.role == role))
