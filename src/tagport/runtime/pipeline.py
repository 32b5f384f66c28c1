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


def wait_for_sources(
    settings: Settings,
    db: Database,
    config: OfflineServiceSpec,
    run: Run,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = 30.0,
) -> None:
    """Wait (bounded by the readiness timeout) until the bizdate's source partitions exist."""
    tags = [o.tag for o in config.tags]
    deadline = time.monotonic() + settings.readiness_timeout_seconds
    announced = False
    while True:
        ready = warehouse.readiness(settings, db, config.audience, run.claim.bizdate, tags)
        if ready.ready:
            return
        missing = ", ".join(str(p) for p in ready.missing)
        if time.monotonic() >= deadline:
            raise TerminalError(f"source partitions never arrived: {missing}")
        if not announced:
            run.log(f"waiting for source partitions: {missing}")
            announced = True
        sleep(min(poll, max(deadline - time.monotonic(), 0.0)))
        run.check()


def executor(settings: Settings, db: Database) -> Execute:
    """The pipeline as a worker's Execute: published snapshot -> readiness -> export -> load."""

    def execute(run: Run) -> instances.Outcome:
        config = OfflineServiceSpec.model_validate(run.claim.config)
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
            f"{result.seconds:.1f} s"
        )
        return instances.Outcome(rows=result.rows, bytes=result.bytes)

    return execute
