"""`tagport serve`: the scheduler and a pool of workers in one process, stopped gracefully.

SIGTERM or SIGINT stop claiming new work; instances already running finish first. Every role's
loop survives its errors (`runtime.loops`); should a thread end anyway, the others finish their
work and the process exits non-zero, so that its supervisor (systemd, Kubernetes) restarts it.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from tagport.config import Settings
from tagport.errors import TerminalError
from tagport.runtime.pipeline import executor
from tagport.runtime.scheduler import Scheduler
from tagport.runtime.worker import Worker, WorkerConfig, worker_name
from tagport.services.targets import TargetAccess
from tagport.store.db import Database

log = logging.getLogger(__name__)


def stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing running work, claiming none", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def threads(
    settings: Settings,
    db: Database,
    stop: threading.Event,
    *,
    scheduler: bool = True,
    workers: int = 1,
) -> list[threading.Thread]:
    """Started threads of the requested roles; join them after setting `stop`."""
    started = []
    if scheduler:
        role = Scheduler(
            db,
            settings.tz,
            TargetAccess(settings).describe,
            settings.catch_up_days,
            settings.max_attempts,
        )
        started.append(threading.Thread(target=role.run_forever, args=(stop,), name="scheduler"))
    execute, config = executor(settings, db), WorkerConfig.of(settings)
    for number in range(workers):
        worker = Worker(db, execute, config, worker_name(str(number)))
        started.append(
            threading.Thread(target=worker.run_forever, args=(stop,), name=f"worker-{number}")
        )
    for thread in started:
        thread.start()
    return started


def supervise(
    running: list[threading.Thread], stop: threading.Event, every: float = 1.0
) -> list[str]:
    """Wait until `stop` is set or a thread ends on its own; return the names of the dead."""
    while not stop.wait(every):
        dead = [thread.name for thread in running if not thread.is_alive()]
        if dead:
            log.error("%s stopped unexpectedly: stopping the other roles", ", ".join(dead))
            return dead
    return []


def run(settings: Settings, db: Database, *, scheduler: bool = True, workers: int = 1) -> None:
    """Run the roles until SIGTERM/SIGINT; TerminalError if a role's thread died."""
    stop = threading.Event()
    stop_on_signals(stop)
    running = threads(settings, db, stop, scheduler=scheduler, workers=workers)
    try:
        dead = supervise(running, stop)
    finally:
        stop.set()
        for thread in running:
            thread.join()
    if dead:
        raise TerminalError(
            f"thread {', '.join(dead)} stopped unexpectedly; exiting so that a supervisor "
            "restarts tagport"
        )
