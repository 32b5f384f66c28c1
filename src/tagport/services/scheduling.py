"""The daily schedule: create each due instance exactly once, whoever and however often asks.

Uniqueness is the database's job (`instances.schedule_key`), not timing's: two schedulers, a
restart mid-day or a replayed tick all insert with ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from tagport.domain.schedule import due_bizdates, parse_at
from tagport.domain.states import InstanceStatus, ScheduleType, TaskStatus
from tagport.domain.tasks import OfflineServiceSpec
from tagport.services.instances import Trigger, schedule_key, target_key
from tagport.store import tables as t
from tagport.store.db import Database, insert_ignoring_duplicates

SCHEDULED_STATUSES = (TaskStatus.PUBLISHED.value, TaskStatus.PUBLISHING.value)
"""A live version is scheduled while published, and while a new version is being published."""


def create_due_instances(db: Database, now: datetime, tz: ZoneInfo, catch_up_days: int) -> int:
    """Create the scheduled instances due at `now`; return how many were new."""
    with db.uow() as uow:
        session = uow.session
        tasks = session.scalars(
            select(t.OfflineService).where(
                t.OfflineService.schedule_type == ScheduleType.RECURRING.value,
                t.OfflineService.status.in_(SCHEDULED_STATUSES),
                t.OfflineService.published_revision.is_not(None),
            )
        ).all()
        wanted: dict[str, dict[str, Any]] = {}
        for task in tasks:
            if task.published is None or task.published_at is None:
                continue
            spec = OfflineServiceSpec.model_validate(task.published)
            at = parse_at(spec.schedule.at or "00:00")
            for bizdate in due_bizdates(at, task.published_at, now, tz, catch_up_days):
                if not spec.schedule.covers(bizdate):
                    continue  # outside the schedule's first and last data timestamps
                key = schedule_key(task.id, bizdate)
                wanted[key] = {
                    "service_id": task.id,
                    "bizdate": bizdate,
                    "trigger": Trigger.SCHEDULE,
                    "schedule_key": key,
                    "status": InstanceStatus.WAITING.value,
                    "revision": task.published_revision,
                    "attempts": 0,
                    "target_key": target_key(task.published),
                    "created_at": now,
                }
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


def record_heartbeat(db: Database, role: str, now: datetime) -> None:
    """Note that `role` is alive at `now` (several schedulers share one row: any will do)."""
    with db.uow() as uow:
        session = uow.session
        insert_ignoring_duplicates(session, t.Heartbeat, "role", [{"role": role, "at": now}])
        session.execute(update(t.Heartbeat).where(t.Heartbeat.role == role).values(at=now))
        uow.commit()


def last_heartbeat(db: Database, role: str) -> datetime | None:
    """When `role` last proved alive; None if never."""
    with db.uow() as uow:
        return uow.session.scalar(select(t.Heartbeat.at).where(t.Heartbeat.role == role))
