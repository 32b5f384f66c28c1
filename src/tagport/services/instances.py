"""Instances: runs for a data timestamp, backfills, reruns, termination, and the worker protocol.

Workers claim waiting instances under a lease they renew by heartbeats; an instance whose lease
expired goes back to waiting (its attempt recorded), so a dead worker's run is retried and never
runs twice at once. The database admits one running instance per target table
(`instances.running_target` is unique).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from tagport.domain.dates import bizdate_problem, date_range
from tagport.domain.states import (
    TERMINATED_REASON,
    InstanceEvent,
    InstanceStatus,
    ScheduleType,
    TaskAction,
    TaskStatus,
    backfill_status,
    next_instance_status,
    require_task_action,
)
from tagport.domain.tasks import OfflineServiceSpec
from tagport.errors import InvalidInput, InvalidTransition, NotFound
from tagport.services.permissions import Actor
from tagport.services.publication import authorize_task, find_task
from tagport.services.tasks import OfflineServiceKind, visible_task_ids
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.store.paging import Page, PageRequest, fetch_page

UTC = ZoneInfo("UTC")
MAX_BACKFILL_GROUPS = 12
MAX_BACKFILL_DAYS = 3660


class Trigger:
    SCHEDULE = "schedule"
    RUN = "run"
    BACKFILL = "backfill"


def target_key(config: dict[str, Any]) -> str:
    """`<data source>/<schema>/<table>`: what at most one running instance may write."""
    return OfflineServiceSpec.model_validate(config).target.key


def schedule_key(service_id: int, bizdate: date) -> str:
    return f"{service_id}:{bizdate.isoformat()}"


def new_instance(
    task: t.OfflineService, bizdate: date, trigger: str, created_by: int | None = None
) -> t.Instance:
    """A waiting instance of the task's live (published) version, run or backfilled by a
    person. The scheduler inserts its own in bulk, keyed by `schedule_key` (`scheduling.py`)."""
    assert task.published is not None and task.published_revision is not None
    return t.Instance(
        service_id=task.id,
        bizdate=bizdate,
        trigger=trigger,
        status=InstanceStatus.WAITING.value,
        revision=task.published_revision,
        target_key=target_key(task.published),
        created_by_id=created_by,
    )


def log(session: Session, instance: t.Instance, message: str, level: str = "info") -> None:
    session.add(
        t.InstanceLog(
            instance_id=instance.id, attempt=instance.attempts, level=level, message=message
        )
    )


def _check_bizdates(name: str, field: str, days: list[date], tz: ZoneInfo) -> None:
    today = t.utcnow().astimezone(tz).date()
    for day in days:
        problem = bizdate_problem(day, today)
        if problem is not None:
            raise InvalidInput.one(f"task {name}", field, problem)


def run(db: Database, actor: Actor, name: str, bizdate: date, tz: ZoneInfo = UTC) -> int:
    """Run a published manual task for `bizdate` (up to today in `tz`); return the new
    instance's id."""
    _check_bizdates(name, "bizdate", [bizdate], tz)
    with db.uow() as uow:
        task = find_task(uow.session, name)
        authorize_task(uow.session, actor, task, "run")
        require_task_action(
            TaskStatus(task.status), ScheduleType(task.schedule_type), TaskAction.RUN
        )
        instance = new_instance(task, bizdate, Trigger.RUN, actor.id)
        uow.session.add(instance)
        uow.session.flush()
        log(uow.session, instance, f"run requested by {actor.login} for {bizdate}")
        uow.commit()
        return instance.id


def split_groups(days: list[date], groups: int) -> list[list[date]]:
    """Consecutive runs of days, as even as possible: each group runs in date order."""
    size, extra = divmod(len(days), groups)
    chunks, start = [], 0
    for index in range(groups):
        end = start + size + (1 if index < extra else 0)
        if end > start:
            chunks.append(days[start:end])
        start = end
    return chunks


def backfill(
    db: Database,
    actor: Actor,
    name: str,
    first: date,
    last: date,
    groups: int = 1,
    tz: ZoneInfo = UTC,
) -> int:
    """Backfill a published recurring task over [first, last] (up to today in `tz`) in `groups`
    parallel groups."""
    _check_bizdates(name, "from", [first], tz)
    _check_bizdates(name, "to", [last], tz)
    if last < first:
        raise InvalidInput.one(f"backfill {name}", "to", f"{last} is before {first}")
    if not 1 <= groups <= MAX_BACKFILL_GROUPS:
        raise InvalidInput.one(f"backfill {name}", "groups", f"must be 1-{MAX_BACKFILL_GROUPS}")
    days = list(date_range(first, last))
    if len(days) > MAX_BACKFILL_DAYS:
        raise InvalidInput.one(f"backfill {name}", "from", f"at most {MAX_BACKFILL_DAYS} days")
    with db.uow() as uow:
        task = find_task(uow.session, name)
        authorize_task(uow.session, actor, task, "backfill")
        require_task_action(
            TaskStatus(task.status), ScheduleType(task.schedule_type), TaskAction.BACKFILL
        )
        record = t.Backfill(
            service_id=task.id,
            first_bizdate=first,
            last_bizdate=last,
            groups=groups,
            created_by_id=actor.id,
        )
        uow.session.add(record)
        uow.session.flush()
        for number, chunk in enumerate(split_groups(days, min(groups, len(days))), start=1):
            for day in chunk:
                instance = new_instance(task, day, Trigger.BACKFILL, actor.id)
                instance.backfill_id, instance.backfill_group = record.id, number
                uow.session.add(instance)
        uow.commit()
        return record.id


def backfill_state(db: Database, backfill_id: int) -> str:
    with db.uow() as uow:
        statuses = uow.session.scalars(
            select(t.Instance.status).where(t.Instance.backfill_id == backfill_id)
        )
        return backfill_status(InstanceStatus(s) for s in statuses).value


def _find(session: Session, instance_id: int) -> t.Instance:
    instance = session.get(t.Instance, instance_id)
    if instance is None:
        raise NotFound("instance", str(instance_id))
    return instance


def rerun(db: Database, actor: Actor, instance_id: int) -> None:
    """Queue a succeeded or failed instance again."""
    with db.uow() as uow:
        instance = _find(uow.session, instance_id)
        task = instance.service
        authorize_task(uow.session, actor, task, "rerun an instance of")
        if task.published is None:
            raise InvalidTransition(
                f"cannot rerun instance {instance_id}: task {task.name} is {task.status} "
                "(only tasks with a published version run)"
            )
        status = next_instance_status(InstanceStatus(instance.status), InstanceEvent.RERUN)
        instance.status, instance.error, instance.not_before = status.value, None, None
        instance.ended_at = None
        log(uow.session, instance, f"rerun requested by {actor.login}")
        uow.commit()


def terminate(db: Database, actor: Actor, instance_id: int) -> None:
    """Fail a waiting or running instance with reason "terminated" (a worker stops at its
    next heartbeat)."""
    with db.uow() as uow:
        instance = _find(uow.session, instance_id)
        authorize_task(uow.session, actor, instance.service, "terminate an instance of")
        status = next_instance_status(InstanceStatus(instance.status), InstanceEvent.TERMINATE)
        instance.status, instance.error = status.value, TERMINATED_REASON
        instance.ended_at, instance.running_target = t.utcnow(), None
        log(uow.session, instance, f"terminated by {actor.login}", "warning")
        uow.commit()


@dataclass(frozen=True)
class Claim:
    """An instance a worker now runs: what to run and under which lease."""

    instance_id: int
    task: str
    bizdate: date
    attempt: int
    config: dict[str, Any]


def claim(
    db: Database,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int = 20,
    *,
    instance_id: int | None = None,
    backfill_id: int | None = None,
) -> Claim | None:
    """Take the oldest runnable waiting instance, or None.

    Runnable: its task has a live published version, its retry delay has passed, no instance
    runs on its target table, and (in a backfill) no earlier day of its group is unfinished.
    `instance_id` / `backfill_id` restrict the claim (the CLI's --wait runs just its own work).
    """
    earlier = aliased(t.Instance)
    writer = aliased(t.Instance)
    unfinished = [InstanceStatus.WAITING.value, InstanceStatus.RUNNING.value]
    query = (
        select(t.Instance)
        .join(t.OfflineService, t.OfflineService.id == t.Instance.service_id)
        .where(
            t.Instance.status == InstanceStatus.WAITING.value,
            t.OfflineService.published_revision.is_not(None),
            (t.Instance.not_before.is_(None)) | (t.Instance.not_before <= now),
            ~exists().where(writer.running_target == t.Instance.target_key),
            ~exists().where(
                and_(
                    earlier.backfill_id == t.Instance.backfill_id,
                    earlier.backfill_group == t.Instance.backfill_group,
                    earlier.bizdate < t.Instance.bizdate,
                    earlier.status.in_(unfinished),
                )
            ),
        )
        .order_by(t.Instance.created_at, t.Instance.id)
        .limit(limit)
    )
    if instance_id is not None:
        query = query.where(t.Instance.id == instance_id)
    if backfill_id is not None:
        query = query.where(t.Instance.backfill_id == backfill_id)
    # SKIP LOCKED lets workers on PostgreSQL pass each other's candidates; SQLite (one writer at
    # a time) gets no locking clause, SQLAlchemy leaves it out.
    query = query.with_for_update(skip_locked=True, of=t.Instance)
    with db.uow() as uow:
        session = uow.session
        for instance in session.scalars(query).all():
            running = next_instance_status(InstanceStatus.WAITING, InstanceEvent.CLAIM)
            try:
                with session.begin_nested():
                    changed = session.execute(
                        update(t.Instance)
                        .where(
                            t.Instance.id == instance.id,
                            t.Instance.status == InstanceStatus.WAITING.value,
                        )
                        .values(
                            status=running.value,
                            attempts=t.Instance.attempts + 1,
                            lease_owner=worker,
                            lease_expires_at=now + lease,
                            running_target=instance.target_key,
                            started_at=now,
                            ended_at=None,
                            error=None,
                        )
                        .execution_options(synchronize_session=False)
                    )
            except IntegrityError:  # another worker took this target table first
                continue
            if not getattr(changed, "rowcount", 0):
                continue
            session.refresh(instance)
            log(session, instance, f"attempt {instance.attempts} started by {worker}")
            task = instance.service
            result = Claim(
                instance.id,
                task.name,
                instance.bizdate,
                instance.attempts,
                dict(task.published or {}),
            )
            uow.commit()
            return result
    return None


def _owned(session: Session, instance_id: int, worker: str, attempt: int) -> t.Instance | None:
    """The instance if this worker's attempt still holds it (not terminated, lease not lost)."""
    instance = session.get(t.Instance, instance_id, with_for_update=True)
    if (
        instance is None
        or instance.status != InstanceStatus.RUNNING.value
        or instance.lease_owner != worker
        or instance.attempts != attempt
    ):
        return None
    return instance


def heartbeat(db: Database, claim: Claim, worker: str, now: datetime, lease: timedelta) -> bool:
    """Renew the lease; False when the instance was terminated or taken over (stop work)."""
    with db.uow() as uow:
        instance = _owned(uow.session, claim.instance_id, worker, claim.attempt)
        if instance is None:
            return False
        instance.lease_expires_at = now + lease
        uow.commit()
        return True


def progress(db: Database, claim: Claim, message: str) -> None:
    """Add a log line to a running attempt."""
    with db.uow() as uow:
        instance = uow.session.get(t.Instance, claim.instance_id)
        if instance is not None:
            log(uow.session, instance, message)
            uow.commit()


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended."""

    rows: int | None = None
    bytes: int | None = None
    error: str | None = None
    transient: bool = False


def finish(
    db: Database,
    claim: Claim,
    worker: str,
    outcome: Outcome,
    now: datetime,
    max_attempts: int = 3,
    backoff: timedelta = timedelta(seconds=30),
) -> InstanceStatus | None:
    """Record an attempt's end: succeeded, failed, or (transient, attempts left) waiting again
    after a backoff that doubles per attempt. None if the attempt no longer held the instance."""
    with db.uow() as uow:
        session = uow.session
        instance = _owned(session, claim.instance_id, worker, claim.attempt)
        if instance is None:
            return None
        instance.running_target, instance.lease_owner, instance.lease_expires_at = None, None, None
        instance.rows, instance.bytes = outcome.rows, outcome.bytes
        if outcome.error is None:
            event = InstanceEvent.SUCCEED
            log(session, instance, f"succeeded: {outcome.rows or 0:,} rows")
        elif outcome.transient and instance.attempts < max_attempts:
            event = InstanceEvent.RETRY
            delay = backoff * 2 ** (instance.attempts - 1)
            instance.not_before = now + delay
            log(
                session,
                instance,
                f"attempt {instance.attempts} failed, retrying in "
                f"{delay.total_seconds():.0f} s: {outcome.error}",
                "warning",
            )
        else:
            event = InstanceEvent.FAIL
            log(session, instance, f"failed: {outcome.error}", "error")
        status = next_instance_status(InstanceStatus.RUNNING, event)
        instance.status, instance.error = status.value, outcome.error
        if status is not InstanceStatus.WAITING:
            instance.ended_at = now
        uow.commit()
        return status


def expire_leases(db: Database, now: datetime, max_attempts: int = 3) -> list[int]:
    """Put running instances whose lease expired back to waiting (or fail them when out of
    attempts); return their ids. Their worker is presumed dead."""
    expired = []
    with db.uow() as uow:
        session = uow.session
        query = (
            select(t.Instance)
            .where(
                t.Instance.status == InstanceStatus.RUNNING.value,
                t.Instance.lease_expires_at < now,
            )
            .with_for_update(skip_locked=True)
        )
        for instance in session.scalars(query):
            lost = f"attempt {instance.attempts} lost: lease of {instance.lease_owner} expired"
            event = InstanceEvent.RETRY if instance.attempts < max_attempts else InstanceEvent.FAIL
            status = next_instance_status(InstanceStatus.RUNNING, event)
            instance.status, instance.running_target = status.value, None
            instance.lease_owner = instance.lease_expires_at = None
            if status is InstanceStatus.FAILED:
                instance.error, instance.ended_at = lost, now
            log(session, instance, lost, "warning")
            expired.append(instance.id)
        uow.commit()
    return expired


@dataclass(frozen=True)
class InstanceView:
    id: int
    task: str
    bizdate: date
    trigger: str
    status: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    seconds: float | None
    """Duration of the last attempt."""
    rows: int | None
    bytes: int | None
    error: str | None
    backfill_id: int | None
    backfill_group: int | None

    @classmethod
    def of(cls, row: t.Instance) -> InstanceView:
        seconds = (
            (row.ended_at - row.started_at).total_seconds()
            if row.ended_at is not None and row.started_at is not None
            else None
        )
        return cls(
            row.id,
            row.service.name,
            row.bizdate,
            row.trigger,
            row.status,
            row.attempts,
            row.created_at,
            row.started_at,
            row.ended_at,
            seconds,
            row.rows,
            row.bytes,
            row.error,
            row.backfill_id,
            row.backfill_group,
        )


def _visible_task_ids(session: Session, actor: Actor) -> list[int]:
    """The tasks whose instances `actor` may see (the task's view rule)."""
    kind = OfflineServiceKind()
    return [task.id for task in kind.all(session) if kind.visible(session, actor, task)]


def viewable_instance(session: Session, instance_id: int, actor: Actor | None) -> t.Instance:
    """The instance, if `actor` may see its task (None: an internal caller)."""
    instance = _find(session, instance_id)
    if actor is not None:
        OfflineServiceKind().authorize_view(session, actor, instance.service)
    return instance


def list_instances(
    db: Database,
    task: str | None = None,
    limit: int = 200,
    backfill_id: int | None = None,
    *,
    actor: Actor | None = None,
) -> list[InstanceView]:
    """Instances, newest first: of one task, of one backfill, or all; only those of tasks
    `actor` may see, when given (None: an internal caller)."""
    query = select(t.Instance).order_by(t.Instance.id.desc()).limit(limit)
    if backfill_id is not None:
        query = query.where(t.Instance.backfill_id == backfill_id)
    with db.uow() as uow:
        session = uow.session
        if task is not None:
            found = find_task(session, task)
            if actor is not None:
                OfflineServiceKind().authorize_view(session, actor, found)
            query = query.where(t.Instance.service_id == found.id)
        elif actor is not None and not actor.is_super_admin:
            query = query.where(t.Instance.service_id.in_(_visible_task_ids(session, actor)))
        return [InstanceView.of(row) for row in session.scalars(query)]


def show(db: Database, instance_id: int, *, actor: Actor | None = None) -> InstanceView:
    with db.uow() as uow:
        return InstanceView.of(viewable_instance(uow.session, instance_id, actor))


def log_lines(
    db: Database, instance_id: int, *, actor: Actor | None = None
) -> list[tuple[datetime, int, str, str]]:
    """(time, attempt, level, message) of every log line, oldest first."""
    with db.uow() as uow:
        viewable_instance(uow.session, instance_id, actor)
        rows = uow.session.scalars(
            select(t.InstanceLog)
            .where(t.InstanceLog.instance_id == instance_id)
            .order_by(t.InstanceLog.id)
        )
        return [(r.at, r.attempt, r.level, r.message) for r in rows]


@dataclass(frozen=True)
class InstanceFilter:
    """The instance list's filters; None means any."""

    task: str | None = None
    status: str | None = None
    trigger: str | None = None
    bizdate_from: date | None = None
    bizdate_to: date | None = None
    backfill_id: int | None = None

    def __post_init__(self) -> None:
        """Refuse a value no instance can have: an empty list would hide the typo."""
        if self.status is not None and self.status not in set(InstanceStatus):
            statuses = ", ".join(InstanceStatus)
            raise InvalidInput.one("instance list", "status", f"one of {statuses}")
        triggers = (Trigger.SCHEDULE, Trigger.RUN, Trigger.BACKFILL)
        if self.trigger is not None and self.trigger not in triggers:
            raise InvalidInput.one("instance list", "trigger", f"one of {', '.join(triggers)}")


INSTANCE_SORTS = {
    "bizdate": t.Instance.bizdate,
    "status": t.Instance.status,
    "created_at": t.Instance.created_at,
    "started_at": t.Instance.started_at,
}


def instance_page(
    db: Database, actor: Actor, where: InstanceFilter, request: PageRequest
) -> Page[InstanceView]:
    """One page of instances (default: newest first), filtered and paged in SQL; only those
    of tasks `actor` may see."""
    query = select(t.Instance)
    with db.uow() as uow:
        session = uow.session
        if where.task is not None:
            found = find_task(session, where.task)
            OfflineServiceKind().authorize_view(session, actor, found)
            query = query.where(t.Instance.service_id == found.id)
        elif not actor.is_super_admin:
            query = query.where(t.Instance.service_id.in_(visible_task_ids(actor)))
        for column, value in (
            (t.Instance.status, where.status),
            (t.Instance.trigger, where.trigger),
            (t.Instance.backfill_id, where.backfill_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.bizdate_from is not None:
            query = query.where(t.Instance.bizdate >= where.bizdate_from)
        if where.bizdate_to is not None:
            query = query.where(t.Instance.bizdate <= where.bizdate_to)
        ordered = request if request.sort else replace(request, sort="-id")
        page = fetch_page(session, query, t.Instance.id, INSTANCE_SORTS, ordered)
        items = [InstanceView.of(row) for row in page.items]
        return Page(items, page.total, page.page, page.size, page.next_cursor)


@dataclass(frozen=True)
class BackfillView:
    """A backfill: its range, groups, overall status and every instance."""

    id: int
    task: str
    first_bizdate: date
    last_bizdate: date
    groups: int
    status: str
    instances: list[InstanceView]


def backfill_view(db: Database, actor: Actor, backfill_id: int) -> BackfillView:
    with db.uow() as uow:
        record = uow.session.get(t.Backfill, backfill_id)
        if record is None:
            raise NotFound("backfill", str(backfill_id))
        task = uow.session.get(t.OfflineService, record.service_id)
        assert task is not None
        OfflineServiceKind().authorize_view(uow.session, actor, task)
        rows = list(
            uow.session.scalars(
                select(t.Instance)
                .where(t.Instance.backfill_id == backfill_id)
                .order_by(t.Instance.bizdate, t.Instance.id)
            )
        )
        status = backfill_status(InstanceStatus(r.status) for r in rows).value
        return BackfillView(
            record.id,
            task.name,
            record.first_bizdate,
            record.last_bizdate,
            record.groups,
            status,
            [InstanceView.of(r) for r in rows],
        )
