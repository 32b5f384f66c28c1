"""A reader that counts a table in a loop on its own connection while swaps happen."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CountingReader:
    """Runs `count()` until stopped; records every count, and every error with the time its
    query was sent (`time.monotonic()`)."""

    def __init__(self, count: Callable[[], int]) -> None:
        self.count = count
        self.counts: list[int] = []
        self.errors: list[BaseException] = []
        self.error_times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                self.counts.append(self.count())
            except BaseException as exc:
                self.error_times.append(sent)
                self.errors.append(exc)
                time.sleep(0.001)  # the table is missing: keep asking, without spinning

    def __enter__(self) -> CountingReader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
