"""What a worker runs for an instance: wait for the sources, export, load, report progress."""

from __future__ import annotations

import time
from collections.abc import Callable

from tagport.config import Settings
from tagport.domain.tasks import OfflineServiceSpec
from tagport.errors import TerminalError
from tagport.runtime.worker import Execute, Run
from tagport.services import instances, targets, warehouse
from tagport.store.db import Database
from tagport.targets import LoadProgress

PROGRESS_EVERY = 5.0
"""Seconds between progress lines in the instance log."""
WAITING_EVERY = 300.0
"""Seconds between the lines saying what a waiting instance still waits for."""


def wait_for_sources(
    settings: Settings,
    db: Database,
    config: OfflineServiceSpec,
    run: Run,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Wait (bounded by the readiness timeout) until the bizdate's source partitions exist,
    saying in the log what is missing and how long is left, every `WAITING_EVERY` seconds."""
    tags = [o.tag for o in config.tags]
    deadline = clock() + settings.readiness_timeout_seconds
    said_at: float | None = None
    while True:
        ready = warehouse.readiness(settings, db, config.audience, run.claim.bizdate, tags)
        if ready.ready:
            if said_at is not None:
                run.log("source partitions arrived")
            return
        missing = ", ".join(str(p) for p in ready.missing)
        now = clock()
        if now >= deadline:
            raise TerminalError(f"source partitions never arrived: {missing}")
        if said_at is None or now - said_at >= WAITING_EVERY:
            left = _duration(deadline - now)
            run.log(f"waiting for source partitions: {missing}; giving up in {left}")
            said_at = now
        sleep(min(poll, max(deadline - now, 0.0)))
        run.check()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def executor(settings: Settings, db: Database) -> Execute:
    """The pipeline as a worker's Execute: published snapshot -> readiness -> export -> load."""

    def execute(run: Run) -> instances.Outcome:
        config = OfflineServiceSpec.model_validate(run.claim.config)
        targets.require_write(db, run.claim.task, config)
        wait_for_sources(settings, db, config, run)
        run.log(
            f"exporting audience {config.audience} for {run.claim.bizdate} "
            f"to {config.target.datasource}:{config.target.table}"
        )
        last = [0.0]

        def progress(p: LoadProgress) -> None:
            run.check()
            if p.seconds - last[0] >= PROGRESS_EVERY:
                last[0] = p.seconds
                run.log(f"{p.rows:,} rows written, {p.rate:,.0f} rows/s")

        result = targets.load(db, settings, config, run.claim.bizdate, progress)
        run.log(
            f"replaced {result.table} ({result.mode}): {result.rows:,} rows in "
            f"{result.seconds:.1f} s, {result.streams} load stream(s)"
        )
        return instances.Outcome(rows=result.rows, bytes=result.bytes)

    return execute
