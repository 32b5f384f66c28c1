"""Workers and the scheduler loop, with the pipeline replaced by a function of the test's own."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from tagport.errors import TransientError
from tagport.runtime.scheduler import Scheduler
from tagport.runtime.worker import Run, Worker, WorkerConfig
from tagport.services import instances, publication
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database
from tests.integration.support import HZ_VIP, describe_as, publish
from tests.threads import Clock, Threads

FAST = WorkerConfig(lease=timedelta(seconds=0.6), poll=0.05, backoff=timedelta(0))
"""Heartbeats every 0.2 s of real time; leases end by the test's clock, which stands still
unless the test moves it, so a busy machine never expires a lease behind the test's back."""
LONG = WorkerConfig(lease=timedelta(hours=1), poll=0.05, backoff=timedelta(0))
"""No heartbeat within a test; for runs that move the clock themselves."""


def clock() -> Clock:
    return Clock(t.utcnow())


def backfilled(db: Database, operator: Actor, days: int = 1) -> list[int]:
    publish(db, operator, "hz_vip_to_crm")
    instances.backfill(
        db, operator, "hz_vip_to_crm", date(2026, 11, 1), date(2026, 11, days), groups=1
    )
    return [v.id for v in instances.list_instances(db, "hz_vip_to_crm")]


def test_a_worker_runs_instances_and_keeps_their_log(catalogued: Database, operator: Actor) -> None:
    (instance_id,) = backfilled(catalogued, operator)

    def execute(run: Run) -> instances.Outcome:
        run.log(f"exporting {run.claim.task} for {run.claim.bizdate}")
        return instances.Outcome(rows=42, bytes=1000)

    worker = Worker(catalogued, execute, FAST, name="w1", clock=clock())
    assert worker.run_once() is True
    assert worker.run_once() is False
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.rows, view.attempts) == ("succeeded", 42, 1)
    messages = [m for *_, m in instances.log_lines(catalogued, instance_id)]
    assert messages == [
        "attempt 1 started by w1",
        "exporting hz_vip_to_crm for 2026-11-01",
        "succeeded: 42 rows",
    ]


def test_transient_errors_are_retried_then_succeed(catalogued: Database, operator: Actor) -> None:
    (instance_id,) = backfilled(catalogued, operator)
    calls = []

    def flaky(run: Run) -> instances.Outcome:
        calls.append(run.claim.attempt)
        if len(calls) < 3:
            raise TransientError("connection reset by peer")
        return instances.Outcome(rows=1)

    worker = Worker(catalogued, flaky, FAST, name="w1", clock=clock())
    while worker.run_once():
        pass
    assert calls == [1, 2, 3]
    assert instances.show(catalogued, instance_id).status == "succeeded"


def test_a_bug_in_the_pipeline_fails_the_instance_not_the_worker(
    catalogued: Database, operator: Actor
) -> None:
    (instance_id,) = backfilled(catalogued, operator)

    def broken(run: Run) -> instances.Outcome:
        raise KeyError("oops")

    assert Worker(catalogued, broken, FAST, clock=clock()).run_once() is True
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.error) == ("failed", "internal error: KeyError: 'oops'")


def test_terminating_a_running_instance_stops_its_run(
    catalogued: Database, operator: Actor, threads: Threads
) -> None:
    (instance_id,) = backfilled(catalogued, operator)
    started = threading.Event()

    def until_cancelled(run: Run) -> instances.Outcome:
        started.set()
        assert run.cancelled.wait(60), "the heartbeat never learnt of the termination"
        run.check()  # raises Cancelled
        return instances.Outcome(rows=1)

    worker = Worker(catalogued, until_cancelled, FAST, name="w1", clock=clock())
    threads.start(worker.run_once)
    assert started.wait(60)
    instances.terminate(catalogued, operator, instance_id)
    threads.join()
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.error) == ("failed", "terminated")


def test_workers_in_parallel_run_a_backfill_in_group_order(
    catalogued: Database, operator: Actor, threads: Threads
) -> None:
    backfilled(catalogued, operator, days=6)
    ran: list[date] = []
    all_ran, stop = threading.Event(), threading.Event()

    def record(run: Run) -> instances.Outcome:
        ran.append(run.claim.bizdate)
        if len(ran) >= 6:
            all_ran.set()
        return instances.Outcome(rows=1)

    now = clock()
    for i in range(3):
        threads.start(Worker(catalogued, record, FAST, name=f"w{i}", clock=now).run_forever, stop)
    assert all_ran.wait(60), f"ran only {ran}"
    stop.set()
    threads.join()
    assert ran == [date(2026, 11, d) for d in range(1, 7)]  # one target table: one at a time
    assert {v.status for v in instances.list_instances(catalogued)} == {"succeeded"}


def test_the_scheduler_completes_publication_requests(
    catalogued: Database, operator: Actor
) -> None:
    publication.request_publish(catalogued, operator, "hz_vip_to_crm")
    scheduler = Scheduler(catalogued, ZoneInfo("UTC"), describe_as(HZ_VIP))
    tick = scheduler.tick()
    assert tick.published == ["hz_vip_to_crm"]
    assert scheduler.tick().published == []


def test_a_ten_day_backfill_in_three_groups_runs_each_group_in_date_order(
    catalogued: Database, operator: Actor, threads: Threads
) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    backfill_id = instances.backfill(
        catalogued, operator, "hz_vip_to_crm", date(2026, 11, 1), date(2026, 11, 10), groups=3
    )
    groups = {1: [1, 2, 3, 4], 2: [5, 6, 7], 3: [8, 9, 10]}
    group_of = {day: group for group, days in groups.items() for day in days}
    now, runs, ended, too_early = clock(), [], set(), []
    all_ran, stop = threading.Event(), threading.Event()

    def work(run: Run) -> instances.Outcome:
        day = run.claim.bizdate.day
        # A day may start once every earlier day of its group has ended (its work returned:
        # the worker records the end only after that, and the next day is claimed after it).
        if any(d < day and d not in ended for d in groups[group_of[day]]):
            too_early.append(day)
        now.advance(timedelta(seconds=1))  # each run takes a second of the test's clock
        runs.append(day)
        ended.add(day)
        if len(runs) >= 10:
            all_ran.set()
        return instances.Outcome(rows=1)

    for i in range(3):
        threads.start(Worker(catalogued, work, LONG, name=f"w{i}", clock=now).run_forever, stop)
    assert all_ran.wait(60), f"ran only {runs}"
    stop.set()
    threads.join()  # run_forever finishes the work in progress before returning
    assert instances.backfill_state(catalogued, backfill_id) == "succeeded"
    views = [v for v in instances.list_instances(catalogued) if v.backfill_id == backfill_id]
    stored: dict[int, list[int]] = {}
    for view in sorted(views, key=lambda v: v.bizdate):
        stored.setdefault(view.backfill_group or 0, []).append(view.bizdate.day)
    assert stored == groups
    assert too_early == []  # a group's days ran one after the other, in date order
    assert [[d for d in runs if group_of[d] == g] for g in groups] == list(groups.values())
