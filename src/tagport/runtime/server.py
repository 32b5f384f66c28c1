"""`tagport serve`: the HTTP API, the scheduler and a pool of workers in one process, stopped
gracefully. The API may be served by several processes instead (`--workers`): this one binds
the socket, announces it, and supervises them.

SIGTERM or SIGINT stop claiming new work (and close the listening socket); instances already
running finish first. Every role's
loop survives its errors (`runtime.loops`); should a thread end anyway, the others finish their
work and the process exits non-zero, so that its supervisor (systemd, Kubernetes) restarts it.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType

from tagport.config import Settings
from tagport.errors import ConfigError, TerminalError
from tagport.runtime.pipeline import executor
from tagport.runtime.scheduler import Scheduler
from tagport.runtime.worker import Worker, WorkerConfig, worker_name
from tagport.services.targets import TargetAccess
from tagport.store.db import Database

log = logging.getLogger(__name__)


def _serve_http(
    settings: Settings,
    db: Database,
    sock: socket.socket,
    running: list[threading.Thread],
    stop: threading.Event,
) -> list[str]:
    """Serve the API in this thread (uvicorn owns SIGTERM/SIGINT) while another thread watches
    the roles: a dead one stops the server too. Returns the names of dead roles."""
    import uvicorn

    from tagport.api.app import create_app

    config = uvicorn.Config(
        create_app(settings, db),
        log_config=None,
        access_log=False,  # the API logs each request itself, with its request id
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    server = uvicorn.Server(config)
    dead: list[str] = []

    def watch() -> None:
        dead.extend(supervise(running, stop))
        server.should_exit = True

    watcher = threading.Thread(target=watch, name="supervisor", daemon=True)
    watcher.start()
    log.info("serving the API on http://%s:%d/api/docs", *sock.getsockname()[:2])
    server.run(sockets=[sock])
    stop.set()
    watcher.join()
    return dead


def _serve_processes(
    sock: socket.socket, processes: int, running: list[threading.Thread], stop: threading.Event
) -> list[str]:
    """Serve the API from `processes` child processes accepting on the one socket (uvicorn's
    supervisor: it restarts a child that dies, and SIGTERM/SIGINT stop them all gracefully),
    while another thread watches this process's roles. Returns the names of dead roles."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "tagport.api.app:app_from_settings",  # each child builds its app and its pool
        factory=True,
        workers=processes,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    supervisor = Multiprocess(config, sockets=[sock])  # takes SIGTERM/SIGINT from here on
    dead: list[str] = []

    def watch() -> None:
        dead.extend(supervise(running, stop))
        supervisor.should_exit.set()

    watcher = threading.Thread(target=watch, name="supervisor", daemon=True)
    watcher.start()
    host, port = sock.getsockname()[:2]
    log.info("serving the API on http://%s:%d/api/docs with %d processes", host, port, processes)
    supervisor.run()
    stop.set()
    watcher.join()
    return dead


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
            lease=timedelta(seconds=settings.lease_seconds),
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


@dataclass(frozen=True)
class Listen:
    """Where the HTTP API listens, and how many processes serve it (1: this one)."""

    host: str = "127.0.0.1"
    port: int = 8080
    processes: int = 1

    def bind(self) -> socket.socket:
        """The listening socket, bound now so that a taken port is a clear error (and listening,
        so that a client that read the announced address is never refused)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(2048)  # connections queue from now on, before uvicorn's loop accepts
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        return sock


def run(
    settings: Settings,
    db: Database,
    *,
    scheduler: bool = True,
    workers: int = 1,
    http: Listen | None = None,
) -> None:
    """Run the roles (and the API when `http` is given) until SIGTERM/SIGINT; TerminalError if a
    role's thread died."""
    stop = threading.Event()
    # With the API, uvicorn takes the signals while it serves and passes them on to these
    # handlers once it has shut down.
    stop_on_signals(stop)
    sock = http.bind() if http is not None else None
    running = threads(settings, db, stop, scheduler=scheduler, workers=workers)
    try:
        if sock is None:
            dead = supervise(running, stop)
        elif http is not None and http.processes > 1:
            dead = _serve_processes(sock, http.processes, running, stop)
        else:
            dead = _serve_http(settings, db, sock, running, stop)
    finally:
        stop.set()
        for thread in running:
            thread.join()
    if dead:
        raise TerminalError(
            f"thread {', '.join(dead)} stopped unexpectedly; exiting so that a supervisor "
            "restarts tagport"
        )
