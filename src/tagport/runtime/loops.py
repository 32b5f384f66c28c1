"""What keeps the long-running roles alive: a failed step is logged, backed off and retried.

The scheduler, the workers and their heartbeats run for days; a metadata database restart, a
network blip or a bug in one step must cost that step, never the thread (a dead thread in a live
process is the worst outcome: nothing runs and nothing says so).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from tagport.errors import TagportError

log = logging.getLogger(__name__)


@dataclass
class Backoff:
    """Seconds to wait after consecutive failures: `first`, doubling, at most `limit`."""

    first: float = 1.0
    limit: float = 30.0
    failures: int = 0

    def failed(self) -> float:
        self.failures += 1
        return float(min(self.first * 2.0 ** (self.failures - 1), self.limit))

    def succeeded(self) -> None:
        self.failures = 0


def report(role: str, error: Exception) -> None:
    """Log a failed step: a tagport error in one line, anything else with its traceback."""
    if isinstance(error, TagportError):
        log.warning("%s: %s", role, error)
    else:
        log.exception("%s: unexpected %s", role, type(error).__name__)


def keep_running(
    role: str, step: Callable[[], float], stop: threading.Event, backoff: Backoff
) -> None:
    """Run `step` until `stop` is set; `step` returns the seconds to wait before the next one.

    Any exception ends only that step: it is reported, and the next step waits `backoff`.
    """
    while not stop.is_set():
        try:
            wait = step()
        except Exception as exc:
            report(role, exc)
            wait = backoff.failed()
        else:
            backoff.succeeded()
        if wait > 0:
            stop.wait(wait)
