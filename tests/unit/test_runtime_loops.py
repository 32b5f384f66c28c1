"""The long-running loops survive any error in their body; `serve` fails loudly if one dies."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import OperationalError

from tagport.errors import TerminalError, TransientError
from tagport.runtime import server
from tagport.runtime.loops import Backoff, keep_running
from tagport.runtime.scheduler import Scheduler, Tick
from tagport.runtime.worker import Run, Worker, WorkerConfig
from tagport.services import instances
from tagport.services.instances import Claim, Outcome
from tagport.store.db import Database

NO_DB = cast(Database, None)
"""The loops under test never reach the database: their steps are replaced."""
LOST = OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
ERRORS: list[Exception] = [RuntimeError("a bug"), LOST, TransientError("metadata database gone")]


def failing_then(errors: list[Exception], then: Callable[[], Any]) -> Callable[..., Any]:
    """A step that raises each of `errors` in turn, then calls `then` on every later call."""
    calls = iter(errors)

    def step(*_: object, **__: object) -> Any:
        error = next(calls, None)
        if error is not None:
            raise error
        return then()

    return step


def test_backoff_doubles_to_its_limit_and_resets_after_a_success() -> None:
    backoff = Backoff(first=0.5, limit=3.0)
    assert [backoff.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.succeeded()
    assert backoff.failed() == 0.5


def test_keep_running_logs_every_error_and_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    stop, calls = threading.Event(), []

    def done() -> float:
        calls.append("ok")
        stop.set()
        return 0.0

    with caplog.at_level(logging.WARNING):
        keep_running("role", failing_then(ERRORS, done), stop, Backoff(first=0.0))
    assert calls == ["ok"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "role: unexpected RuntimeError",
        "role: unexpected OperationalError",
        "role: metadata database gone",
    ]
    assert caplog.records[0].exc_info is not None  # a bug keeps its traceback in the log


def test_the_scheduler_survives_failed_ticks(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    scheduler = Scheduler(NO_DB, ZoneInfo("UTC"), describe=cast(Any, None))

    def ticked() -> Tick:
        stop.set()
        return Tick(1, [], [])

    monkeypatch.setattr(scheduler, "tick", failing_then(list(ERRORS), ticked))
    scheduler.run_forever(stop, interval=0.001)
    assert stop.is_set()
    assert len([r for r in caplog.records if r.name == "tagport.runtime.loops"]) == 3


def test_a_worker_survives_failed_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    worker = Worker(NO_DB, execute=cast(Any, None), config=WorkerConfig(poll=0.001))

    def worked() -> bool:
        stop.set()
        return True

    monkeypatch.setattr(worker, "run_once", failing_then(list(ERRORS), worked))
    worker.run_forever(stop)
    assert stop.is_set()


CLAIM = Claim(7, "task", date(2026, 1, 1), 1, {})


def test_a_heartbeat_survives_errors_until_the_claim_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    beats: list[str] = []
    monkeypatch.setattr(
        instances, "heartbeat", failing_then(list(ERRORS), lambda: beats.append("beat") or False)
    )
    worker = Worker(NO_DB, cast(Any, None), WorkerConfig(lease=timedelta(milliseconds=3)))
    run = Run(NO_DB, CLAIM)
    worker._beat(run, threading.Event())  # returns once the renewal is refused
    assert beats == ["beat"] and run.cancelled.is_set()


def test_a_finished_run_is_recorded_once_the_metadata_database_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finished: list[Outcome] = []

    def finish(
        _db: object, _claim: Claim, _worker: str, outcome: Outcome, *_: Any, **__: Any
    ) -> str:
        finished.append(outcome)
        return "succeeded"

    monkeypatch.setattr(instances, "claim", lambda *_, **__: CLAIM)
    monkeypatch.setattr(instances, "finish", _after(2, finish))
    monkeypatch.setattr(instances, "progress", failing_then([LOST_T], lambda: None))

    def execute(run: Run) -> Outcome:
        run.log("a line the database cannot take")  # dropped, the run goes on
        return Outcome(rows=5)

    worker = Worker(NO_DB, execute, WorkerConfig(poll=0.001))
    assert worker.run_once()
    assert finished == [Outcome(rows=5)]


LOST_T = TransientError("metadata database unavailable (retry may help): connection lost")


def _after(failures: int, then: Callable[..., Any]) -> Callable[..., Any]:
    """`then`, after raising LOST_T `failures` times."""
    left = [failures]

    def call(*args: Any, **kwargs: Any) -> Any:
        if left[0]:
            left[0] -= 1
            raise LOST_T
        return then(*args, **kwargs)

    return call


def test_serve_exits_with_an_error_when_a_role_thread_dies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = threading.Thread(target=lambda: None, name="worker-0")
    alive_until_stopped: list[threading.Thread] = []

    def threads(_settings: object, _db: object, stop: threading.Event, **_: object) -> list[Any]:
        role = threading.Thread(target=stop.wait, name="scheduler")
        alive_until_stopped.append(role)
        for thread in (dead, role):
            thread.start()
        return [dead, role]

    monkeypatch.setattr(server, "threads", threads)
    monkeypatch.setattr(server, "stop_on_signals", lambda stop: None)
    raised: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(cast(Any, None), NO_DB)
        except BaseException as exc:
            raised.append(exc)

    main = threading.Thread(target=serve, daemon=True)
    main.start()
    main.join(timeout=30)
    assert not main.is_alive(), "serve kept running without one of its roles"
    assert [str(e) for e in raised] == [
        "thread worker-0 stopped unexpectedly; exiting so that a supervisor restarts tagport"
    ]
    assert isinstance(raised[0], TerminalError)
    assert not alive_until_stopped[0].is_alive()  # the other roles were stopped and joined
