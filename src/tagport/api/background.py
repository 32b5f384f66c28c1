"""Work started by a request that no request waits for: refreshing what a cache keeps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Background:
    """Tasks held until they end (the event loop keeps only weak references to them); a
    failure is logged as `failed: reason`, since no one is there to be told."""

    def __init__(self, failed: str) -> None:
        self.failed = failed
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("%s: %s", self.failed, exc)
