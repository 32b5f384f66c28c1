"""The scheduler: each tick creates due instances, recovers expired leases and completes
requested publications. Several schedulers may run (one per host): one leads and ticks, the
others stand by and take over within a lease of its last tick (`scheduling.lead`). Ticks are
idempotent besides, so two that overlap (a leader paused past its lease) create nothing twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tagport.domain.states import TaskStatus
from tagport.runtime.loops import Backoff, keep_running, report
from tagport.runtime.worker import worker_name
from tagport.services import instances, publication, scheduling
from tagport.store import tables as t
from tagport.store.db import Database

log = logging.getLogger(__name__)


SCHEDULER = "scheduler"
"""The scheduler's heartbeat role: /readyz wants a recent one."""


@dataclass(frozen=True)
class Tick:
    created: int
    expired: list[int]
    published: list[str]
    leader: str | None = None
    """The scheduler that leads: this one when it ticked, else the one it stood by for."""


class Scheduler:
    def __init__(
        self,
        db: Database,
        tz: ZoneInfo,
        describe: publication.DescribeTarget,
        catch_up_days: int = 3,
        max_attempts: int = 3,
        clock: Callable[[], datetime] = t.utcnow,
        *,
        name: str | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        """`name`: who this scheduler is to the others (`host:pid:scheduler`); `lease`: how long
        the others wait for a silent leader before one takes over."""
        self.db, self.tz, self.describe = db, tz, describe
        self.catch_up_days, self.max_attempts, self.clock = catch_up_days, max_attempts, clock
        self.name, self.lease = name or worker_name("scheduler"), lease
        self.leader: str | None = None

    def tick(self) -> Tick:
        now = self.clock()
        leader = scheduling.lead(self.db, SCHEDULER, self.name, now, self.lease)
        if leader != self.leader:  # say so when the leadership changes hands, not every tick
            if leader == self.name:
                log.info("scheduler %s leads", self.name)
            else:
                log.info("scheduler %s stands by: %s leads", self.name, leader)
            self.leader = leader
        if leader != self.name:
            return Tick(0, [], [], leader)
        created = scheduling.create_due_instances(self.db, now, self.tz, self.catch_up_days)
        expired = instances.expire_leases(self.db, now, self.max_attempts)
        return Tick(created, expired, self._advance_publications(), leader)

    def _advance_publications(self) -> list[str]:
        """Finish publish and unpublish requests (the CLI's --wait may have done it already)."""
        with self.db.uow() as uow:
            pending = uow.session.execute(
                select(t.OfflineService.name, t.OfflineService.status).where(
                    t.OfflineService.status.in_(
                        [TaskStatus.PUBLISHING.value, TaskStatus.UNPUBLISHING.value]
                    )
                )
            ).all()
        done = []
        for name, status in pending:
            # Each request on its own: one task's failure never delays another's.
            try:
                if status == TaskStatus.PUBLISHING.value:
                    publication.complete_publication(self.db, name, self.describe)
                else:
                    publication.complete_unpublication(self.db, name)
            except Exception:
                log.exception(
                    "scheduler: completing %s of %s failed; next tick retries", status, name
                )
                continue
            done.append(name)
        return done

    def run_forever(self, stop: threading.Event, interval: float | None = None) -> None:
        """Tick every `interval` seconds (15, or a third of the lease if shorter, so that a
        leader renews it in time) until `stop` is set; a failed tick is logged and the next
        one backs off (up to 30 s), so a metadata database outage ends no thread."""
        if interval is None:
            interval = min(15.0, self.lease.total_seconds() / 3)

        def step() -> float:
            tick = self.tick()
            if tick.created or tick.expired or tick.published:
                log.info("scheduler: %s", tick)
            return interval

        keep_running("scheduler", step, stop, Backoff(first=min(interval, 1.0)))
        self.stand_down()

    def stand_down(self) -> None:
        """Give the leadership up when stopping (SIGTERM): a standby takes over at its next
        tick instead of a lease later. Best effort: a database that cannot take it leaves the
        lease to run out."""
        if self.leader != self.name:
            return
        try:
            scheduling.resign(self.db, SCHEDULER, self.name)
        except Exception as exc:
            report("scheduler", exc)
        self.leader = None
