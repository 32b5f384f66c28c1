"""Rendered pages of a list, kept a moment: 50 clients polling the task list cost one page
build per second, not fifty thousand.

A page is kept under its caller and its query, and dropped
- after any write through this process (`Database.generation`: an edit, a publish, a run,
  an instance's progress in `tagport serve`'s own workers), so that no one sees a page older
  than a change made through this process;
- when a time-dependent value on it may change (`TaskList.changes_at`: a permission's expiry
  or its warning, the schedule windows at midnight), so that such values stay right;
- after `seconds` (the `api_cache_seconds` setting), which bounds how long a change made by
  another process (another API worker, `tagport worker`, the CLI) stays unseen here.

Identical requests arriving while their page is being built wait for that build instead of
building it again (50 clients would otherwise build 50 copies each time a page is dropped),
unless a write happened since the build began: then they build their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tagport.store.tables import utcnow


class HasGeneration(Protocol):
    """A metadata database (`tagport.store.db.Database`), as far as a cache needs it."""

    @property
    def generation(self) -> int: ...


@dataclass(frozen=True)
class _Kept:
    body: bytes
    generation: int
    fresh_until: float
    """`time.monotonic()` deadline."""
    changes_at: datetime


class PageCache:
    """Response bodies by key (caller and query); bounded in count and age."""

    def __init__(
        self,
        seconds: float,
        capacity: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self.clock = clock
        self._kept: dict[Hashable, _Kept] = {}
        self._building: dict[Hashable, tuple[int, asyncio.Future[bytes]]] = {}

    async def answer(
        self,
        db: HasGeneration,
        key: Hashable,
        build: Callable[[], Awaitable[tuple[bytes, datetime]]],
    ) -> bytes:
        """The body for `key`: kept, being built for an identical request since the last write
        (awaited), or built now by `build` (body, and when its time-dependent values change)."""
        if self.seconds <= 0:
            return (await build())[0]
        body = self.get(db, key)
        if body is not None:
            return body
        generation = db.generation  # before reading: a write meanwhile makes the page stale
        building = self._building.get(key)
        if building is not None and building[0] == generation:
            shared = await _shared(building[1])
            if shared is not None:
                return shared
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._building[key] = (generation, done)
        try:
            body, changes_at = await build()
        except Exception as exc:
            done.set_exception(exc)
            done.exception()  # retrieved: no "never retrieved" warning when no one waited
            raise
        except BaseException:
            done.cancel()  # this request was cancelled: those waiting build their own
            raise
        finally:
            if self._building.get(key, (0, None))[1] is done:
                del self._building[key]
        self.put(key, generation, changes_at, body)
        done.set_result(body)
        return body

    def get(self, db: HasGeneration, key: Hashable) -> bytes | None:
        """The kept body, if still good; None: build the page (and `put` it)."""
        kept = self._kept.get(key)
        if (
            kept is None
            or kept.generation != db.generation
            or kept.fresh_until <= self.clock()
            or kept.changes_at <= utcnow()
        ):
            return None
        return kept.body

    def put(self, key: Hashable, generation: int, changes_at: datetime, body: bytes) -> None:
        """Keep `body`, built from data read after `db.generation` was `generation`."""
        if self.seconds <= 0:
            return
        kept = self._kept.get(key)
        if kept is not None and kept.generation > generation:
            return  # a page read after a later write is kept already
        if len(self._kept) >= self.capacity:
            self._kept.clear()  # many distinct queries at once: start again
        fresh_until = self.clock() + self.seconds
        self._kept[key] = _Kept(body, generation, fresh_until, changes_at)


async def _shared(build: asyncio.Future[bytes]) -> bytes | None:
    """The body another request is building; None when that request was cancelled before."""
    try:
        return await asyncio.shield(build)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if build.cancelled() and (task is None or not task.cancelling()):
            return None
        raise
