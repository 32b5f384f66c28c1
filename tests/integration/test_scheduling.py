"""The daily schedule with a controllable clock: one instance per task and day, whatever happens."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select, update

from tagport.runtime.scheduler import Scheduler, Tick
from tagport.services import instances, scheduling, tasks
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef, grant
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.targets.base import ColumnInfo, TableInfo
from tests.integration.support import HZ_VIP, describe_as, publish
from tests.threads import Threads

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def published_at(db: Database, moment: datetime) -> None:
    with db.uow() as uow:
        uow.session.execute(update(t.OfflineService).values(published_at=moment))
        uow.commit()


def bizdates(db: Database) -> list[date]:
    with db.uow() as uow:
        return sorted(uow.session.scalars(select(t.Instance.bizdate)))


def test_three_days_give_three_instances_and_restarts_add_none(
    catalogued: Database, operator: Actor
) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    published_at(catalogued, at(10, 1))
    tick = scheduling.create_due_instances
    assert tick(catalogued, at(10, 1, 59), SHANGHAI, 3) == 0  # before 02:00
    for day in (10, 11, 12):
        assert tick(catalogued, at(day, 2, 0), SHANGHAI, 3) == 1
        assert tick(catalogued, at(day, 9), SHANGHAI, 3) == 0  # a restart mid-day
    second = Database(catalogued.url, b"test-secret-key")  # another scheduler process
    assert tick(second, at(12, 23), SHANGHAI, 3) == 0
    assert bizdates(catalogued) == [date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11)]
    views = instances.list_instances(catalogued, "hz_vip_to_crm")
    assert {v.trigger for v in views} == {"schedule"}


def test_missed_days_are_caught_up_within_the_window_only(
    catalogued: Database, operator: Actor
) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    published_at(catalogued, at(1, 0))
    created = scheduling.create_due_instances(catalogued, at(20, 3), SHANGHAI, 3)
    assert created == 4  # run days 17..20 -> bizdates 16..19
    assert bizdates(catalogued) == [date(2026, 11, d) for d in (16, 17, 18, 19)]


def test_two_schedulers_at_once_create_each_instance_once(
    catalogued: Database, operator: Actor
) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    published_at(catalogued, at(1, 0))
    databases = [Database(catalogued.url, b"test-secret-key") for _ in range(4)]
    start = threading.Barrier(len(databases))

    def tick(db: Database) -> int:
        start.wait()  # all four at once, not one after the other
        return scheduling.create_due_instances(db, at(20, 3), SHANGHAI, 5)

    # Every scheduler must return (an exception in one is a failure, not a smaller sum) …
    with ThreadPoolExecutor(len(databases)) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(tick, db) for db in databases]]
    # … and together they created each instance exactly once.
    assert sum(results) == 6
    assert len(bizdates(catalogued)) == 6


def test_a_scheduler_overtaken_between_its_check_and_its_insert_skips_the_duplicates(
    catalogued: Database, operator: Actor
) -> None:
    """The race made deterministic: another scheduler commits the same day's instances after
    this one looked for existing ones and before it inserts. The insert must skip them (ON
    CONFLICT DO NOTHING), not fail the tick on the unique key."""
    publish(catalogued, operator, "hz_vip_to_crm")
    published_at(catalogued, at(1, 0))
    slow, fast = (Database(catalogued.url, b"test-secret-key") for _ in range(2))
    overtaken: list[int] = []

    def overtake(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        looked = statement.lstrip().upper().startswith("SELECT") and "schedule_key" in statement
        if looked and "service_id" not in statement and not overtaken:
            overtaken.append(scheduling.create_due_instances(fast, at(20, 3), SHANGHAI, 5))

    event.listen(slow.engine, "after_cursor_execute", overtake)
    try:
        assert scheduling.create_due_instances(slow, at(20, 3), SHANGHAI, 5) == 0
    finally:
        event.remove(slow.engine, "after_cursor_execute", overtake)
        slow.dispose()
        fast.dispose()
    assert overtaken == [6]
    assert len(bizdates(catalogued)) == 6


def test_manual_and_unpublished_tasks_are_not_scheduled(
    catalogued: Database, operator: Actor
) -> None:
    assert scheduling.create_due_instances(catalogued, at(20, 3), SHANGHAI, 3) == 0
    publish(catalogued, operator, "hz_vip_to_crm")
    published_at(catalogued, at(1, 0))  # days are due at the moment below …
    for status, due in (("unpublishing", 0), ("offline", 0), ("published", 4)):
        with catalogued.uow() as uow:  # … while the published version is live, only
            uow.session.execute(update(t.OfflineService).values(status=status))
            uow.commit()
        assert scheduling.create_due_instances(catalogued, at(20, 3), SHANGHAI, 3) == due, status


def test_a_schedule_runs_only_within_its_first_and_last_data_timestamps(
    catalogued: Database, operator: Actor
) -> None:
    with catalogued.uow() as uow:
        task = uow.session.scalars(select(t.OfflineService)).first()
        assert task is not None and task.name == "hz_vip_to_crm"
        window = {"first_bizdate": "2026-11-17", "last_bizdate": "2026-11-18"}
        task.draft = task.draft | {"schedule": task.draft["schedule"] | window}
        uow.commit()
    publish(catalogued, operator, "hz_vip_to_crm")
    published_at(catalogued, at(1, 0))
    assert scheduling.create_due_instances(catalogued, at(20, 3), SHANGHAI, 5) == 2
    assert bizdates(catalogued) == [date(2026, 11, 17), date(2026, 11, 18)]
    rows = tasks.list_tasks(catalogued, operator, tasks.TaskFilter(), SHANGHAI)
    assert [r.schedule_state for r in rows if r.name == "hz_vip_to_crm"] == [
        "ended with data timestamp 2026-11-18"
    ]


MANUAL = "杭州会员导出"  # bob's manual task of the examples, writing crm_mysql:seed_users
SEED = TableInfo(None, "seed_users", (ColumnInfo("uid", "bigint", False),), ("uid",))


def publish_manual(db: Database, operator: Actor) -> None:
    grant(db, operator, "bob", TableRef("crm_mysql", "", "seed_users"))
    assert publish(db, operator, MANUAL, SEED).status.value == "published"


def test_a_published_manual_task_is_never_scheduled(catalogued: Database, operator: Actor) -> None:
    publish_manual(catalogued, operator)
    with catalogued.uow() as uow:  # even with a time of day in its published schedule
        task = uow.session.scalars(select(t.OfflineService).filter_by(name=MANUAL)).one()
        assert task.published is not None
        task.published = task.published | {"schedule": {"type": "manual", "at": "02:00"}}
        uow.commit()
    published_at(catalogued, at(1, 0))
    assert scheduling.create_due_instances(catalogued, at(20, 3), SHANGHAI, 3) == 0


def test_two_tasks_due_the_same_day_get_an_instance_each(
    catalogued: Database, operator: Actor
) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    publish_manual(catalogued, operator)
    with catalogued.uow() as uow:  # the second task made recurring, at the first one's time
        task = uow.session.scalars(select(t.OfflineService).filter_by(name=MANUAL)).one()
        assert task.published is not None
        task.schedule_type = "recurring"
        task.published = task.published | {"schedule": {"type": "recurring", "at": "02:00"}}
        uow.commit()
    published_at(catalogued, at(10, 1))
    assert scheduling.create_due_instances(catalogued, at(10, 2), SHANGHAI, 3) == 2
    for name in ("hz_vip_to_crm", MANUAL):
        [view] = instances.list_instances(catalogued, name)
        assert (view.bizdate, view.trigger) == (date(2026, 11, 9), "schedule")
        assert view.created_at == at(10, 2)  # the tick's moment, not the machine's clock


def test_each_role_keeps_its_own_heartbeat(catalogued: Database) -> None:
    lease = timedelta(seconds=60)
    assert scheduling.last_heartbeat(catalogued, "scheduler") is None
    assert scheduling.lead(catalogued, "scheduler", "a", at(1, 1), lease) == "a"
    assert scheduling.lead(catalogued, "other", "b", at(1, 2), lease) == "b"
    assert scheduling.lead(catalogued, "scheduler", "a", at(1, 3), lease) == "a"
    assert scheduling.last_heartbeat(catalogued, "scheduler") == at(1, 3)
    assert scheduling.last_heartbeat(catalogued, "other") == at(1, 2)


def two_schedulers(
    db: Database, operator: Actor, now: list[datetime]
) -> tuple[Scheduler, Scheduler]:
    """host-a's and host-b's schedulers (lease 60 s) on a task due daily, at the clock `now[0]`."""
    publish(db, operator, "hz_vip_to_crm")
    published_at(db, at(10, 1))
    a, b = (
        Scheduler(db, SHANGHAI, describe_as(HZ_VIP), clock=lambda: now[0], name=name)
        for name in ("host-a:1:scheduler", "host-b:2:scheduler")
    )
    return a, b


def test_one_scheduler_leads_and_another_takes_over_once_it_is_silent_for_a_lease(
    catalogued: Database, operator: Actor
) -> None:
    now = [at(10, 2)]
    a, b = two_schedulers(catalogued, operator, now)
    assert (a.tick().created, a.leader) == (1, "host-a:1:scheduler")
    now[0] = at(10, 2) + timedelta(seconds=59)  # another host starts within a's lease
    standing = b.tick()
    assert (standing.created, standing.leader) == (0, "host-a:1:scheduler")
    now[0] = at(11, 2)  # a fell silent a day ago (the day's instance is due): b takes over
    taking = b.tick()
    assert (taking.created, taking.leader) == (1, "host-b:2:scheduler")
    now[0] = at(11, 2) + timedelta(seconds=30)  # a is back, within b's lease: it stands by
    assert (a.tick().created, a.leader) == (0, "host-b:2:scheduler")
    assert bizdates(catalogued) == [date(2026, 11, 9), date(2026, 11, 10)]
    assert scheduling.last_heartbeat(catalogued, "scheduler") == at(11, 2)


def test_a_leader_that_stops_hands_over_at_the_next_tick_not_a_lease_later(
    catalogued: Database, operator: Actor
) -> None:
    now = [at(10, 2)]
    a, b = two_schedulers(catalogued, operator, now)
    a.tick()
    b.stand_down()  # a standby has nothing to give up: a keeps leading
    now[0] = at(10, 2) + timedelta(seconds=5)
    assert b.tick().leader == "host-a:1:scheduler"
    stop = threading.Event()
    stop.set()
    a.run_forever(stop)  # stopped at once: a SIGTERM'd serve ends its loop so
    assert b.tick().leader == "host-b:2:scheduler"  # 5 s after a's last tick, lease 60 s


def test_of_schedulers_starting_at_once_exactly_one_leads(
    catalogued: Database, operator: Actor, threads: Threads
) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    published_at(catalogued, at(1, 0))
    names = [f"host-{n}:{n}:scheduler" for n in range(4)]
    start = threading.Barrier(len(names))
    ticks: dict[str, Tick] = {}

    def tick(name: str) -> None:
        db = Database(catalogued.url, b"test-secret-key")
        try:
            scheduler = Scheduler(
                db, SHANGHAI, describe_as(HZ_VIP), 5, clock=lambda: at(20, 3), name=name
            )
            start.wait()  # all four ask at once
            ticks[name] = scheduler.tick()
        finally:
            db.dispose()

    for name in names:
        threads.start(tick, name)
    threads.join()
    leaders = {t.leader for t in ticks.values()}
    assert len(leaders) == 1 and leaders <= set(names)
    (leader,) = leaders
    assert ticks[leader].created == 6  # the leader ticked; the others created nothing
    assert sum(t.created for t in ticks.values()) == 6
    assert len(bizdates(catalogued)) == 6
