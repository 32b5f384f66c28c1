"""Workers: claim waiting instances, run them under a renewed lease, record how they ended.

A heartbeat thread renews the lease while the instance runs; when the renewal is refused (the
instance was terminated, or its lease expired and another worker took it) the run is cancelled at
its next progress report, and its result is discarded.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tagport.config import Settings
from tagport.domain.states import InstanceStatus
from tagport.errors import TagportError, TransientError
from tagport.runtime.loops import Backoff, keep_running, report
from tagport.services import instances
from tagport.services.instances import Claim, Outcome
from tagport.store.db import Database
from tagport.store.tables import utcnow

log = logging.getLogger(__name__)


class Cancelled(TagportError):
    """The run lost its claim (terminated, or taken over after its lease expired)."""


@dataclass(frozen=True)
class WorkerConfig:
    lease: timedelta = timedelta(seconds=60)
    poll: float = 2.0
    max_attempts: int = 3
    backoff: timedelta = timedelta(seconds=30)

    @property
    def heartbeat(self) -> float:
        return self.lease.total_seconds() / 3

    @classmethod
    def of(cls, settings: Settings) -> WorkerConfig:
        return cls(
            lease=timedelta(seconds=settings.lease_seconds),
            max_attempts=settings.max_attempts,
            backoff=timedelta(seconds=settings.retry_backoff_seconds),
        )


class Run:
    """What an executing instance may do: log progress and learn it must stop."""

    def __init__(self, db: Database, claim: Claim) -> None:
        self.db, self.claim = db, claim
        self.cancelled = threading.Event()

    def log(self, message: str) -> None:
        """Add a progress line to the instance log; raise Cancelled if the claim was lost.

        A line the metadata database cannot take now is dropped, not the run with it.
        """
        self.check()
        try:
            instances.progress(self.db, self.claim, message)
        except TransientError as exc:
            log.warning("instance %s: progress not recorded: %s", self.claim.instance_id, exc)

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled("the instance was terminated or taken over")


Execute = Callable[[Run], Outcome]
"""Runs one claimed instance (the pipeline) and says how it ended."""


def worker_name(suffix: str = "") -> str:
    return f"{socket.gethostname()}:{os.getpid()}{':' + suffix if suffix else ''}"


class Worker:
    """Claims and runs instances one at a time; run several for concurrency."""

    def __init__(
        self,
        db: Database,
        execute: Execute,
        config: WorkerConfig,
        name: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.execute, self.config = db, execute, config
        self.name = name or worker_name()
        self.clock = clock

    def run_once(self, instance_id: int | None = None, backfill_id: int | None = None) -> bool:
        """Claim and run one instance (of those given, if any); False when none was runnable."""
        claim = instances.claim(
            self.db,
            self.name,
            self.clock(),
            self.config.lease,
            instance_id=instance_id,
            backfill_id=backfill_id,
        )
        if claim is None:
            return False
        run = Run(self.db, claim)
        stop_beating = threading.Event()
        beat = threading.Thread(target=self._beat, args=(run, stop_beating), daemon=True)
        beat.start()
        try:
            outcome = self._execute(run)
        finally:
            stop_beating.set()
            beat.join()
        status = self._finish(claim, outcome)
        log.info("instance %s attempt %s: %s", claim.instance_id, claim.attempt, status)
        return True

    def _finish(self, claim: Claim, outcome: Outcome) -> InstanceStatus | None:
        """Record how the run ended, retrying while the metadata database is unavailable.

        The work is done: giving up would let the lease expire and run it again. Retries stop
        after one lease, when another worker may have taken the instance over anyway.
        """
        backoff = Backoff(first=min(self.config.poll, 1.0))
        deadline = time.monotonic() + self.config.lease.total_seconds()
        while True:
            try:
                return instances.finish(
                    self.db,
                    claim,
                    self.name,
                    outcome,
                    self.clock(),
                    max_attempts=self.config.max_attempts,
                    backoff=self.config.backoff,
                )
            except TransientError as exc:
                if time.monotonic() >= deadline:
                    raise
                report(f"worker {self.name} finishing instance {claim.instance_id}", exc)
                time.sleep(backoff.failed())

    def _execute(self, run: Run) -> Outcome:
        try:
            return self.execute(run)
        except Cancelled as exc:
            return Outcome(error=str(exc))
        except TransientError as exc:
            return Outcome(error=str(exc), transient=True)
        except TagportError as exc:
            return Outcome(error=str(exc))
        except Exception as exc:  # a bug must fail the instance, not kill the worker
            log.exception("instance %s crashed", run.claim.instance_id)
            return Outcome(error=f"internal error: {type(exc).__name__}: {exc}")

    def _beat(self, run: Run, stop: threading.Event) -> None:
        while not stop.wait(self.config.heartbeat):
            try:
                alive = instances.heartbeat(
                    self.db, run.claim, self.name, self.clock(), self.config.lease
                )
            except Exception as exc:
                report(f"worker {self.name} heartbeat", exc)
                continue  # a missed beat is survivable; the lease has slack for two
            if not alive:
                run.cancelled.set()
                return

    def run_forever(self, stop: threading.Event) -> None:
        """Claim and run until `stop` is set; work in progress finishes first.

        An idle worker also returns instances of dead workers (expired leases) to the queue, so
        workers recover each other without a scheduler running. A failed step (the metadata
        database gone, say) is logged and retried after a back-off.
        """

        def step() -> float:
            if self.run_once():
                return 0.0
            instances.expire_leases(self.db, self.clock(), self.config.max_attempts)
            return self.config.poll

        keep_running(f"worker {self.name}", step, stop, Backoff(first=self.config.poll))
