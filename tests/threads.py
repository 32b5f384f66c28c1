"""Threads a test starts, watched: every exception is kept and every thread must return.

A thread that raises is otherwise only a warning printed after the test; a thread that hangs
only a slow suite. `Threads.join` turns both into the test's failure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

JOIN_TIMEOUT = 60.0
"""A bound for a hung thread, not a speed expectation: healthy threads return long before."""


class Threads:
    """Start threads with `start`; `join` waits for all, then re-raises the first failure."""

    def __init__(self) -> None:
        self.started: list[threading.Thread] = []
        self.failures: list[tuple[str, BaseException]] = []
        self._lock = threading.Lock()

    def start(self, target: Callable[..., Any], *args: Any, name: str | None = None) -> None:
        def watched() -> None:
            try:
                target(*args)
            except BaseException as exc:  # kept for the test, whatever it is
                with self._lock:
                    self.failures.append((threading.current_thread().name, exc))

        thread = threading.Thread(target=watched, name=name, daemon=True)
        self.started.append(thread)
        thread.start()

    def join(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Wait for every thread; fail if one is still running or one raised."""
        for thread in self.started:
            thread.join(timeout)
        hung = [t.name for t in self.started if t.is_alive()]
        assert not hung, f"threads did not return: {hung}"
        if self.failures:
            name, first = self.failures[0]
            names = [n for n, _ in self.failures]
            raise AssertionError(f"threads raised: {names}; first ({name}): {first!r}") from first


class Clock:
    """A controllable clock for Worker and Scheduler (`clock=`): time moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            self.now += by
            return self.now
