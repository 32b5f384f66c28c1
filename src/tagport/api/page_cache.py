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

A page asked for in the second half of its bound is answered as kept while one build in the
background replaces it: clients polling a page never wait for its rebuild (which, with 50 of
them queued behind it, was the API's slowest 1%), and the bound still holds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from tagport.api.background import Background
from tagport.store.tables import utcnow

Build = Callable[[], Awaitable[tuple[bytes, datetime]]]


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
    refresh_from: float
    """From this moment on (`time.monotonic()`), a request starts a build in the background."""
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
        self._background = Background("a kept page could not be built again")

    async def answer(self, db: HasGeneration, key: Hashable, build: Build) -> bytes:
        """The body for `key`: kept, being built for an identical request since the last write
        (awaited), or built now by `build` (body, and when its time-dependent values change)."""
        if self.seconds <= 0:
            return (await build())[0]
        body = self.get(db, key)
        if body is not None:
            if self._refresh_due(key):
                self._build_in_background(db, key, build)
            return body
        generation = db.generation  # before reading: a write meanwhile makes the page stale
        building = self._building.get(key)
        if building is not None and building[0] == generation:
            shared = await _shared(building[1])
            if shared is not None:
                return shared
        return await self._build(generation, key, build)

    async def _build(self, generation: int, key: Hashable, build: Build) -> bytes:
        """Build the page, letting identical requests meanwhile wait for it; keep it."""
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

    def _refresh_due(self, key: Hashable) -> bool:
        """True once for a kept page in the second half of its bound (claimed here, before
        the build's task first runs, so that requests meanwhile start no other)."""
        kept = self._kept[key]
        if kept.refresh_from > self.clock() or key in self._building:
            return False
        self._kept[key] = replace(kept, refresh_from=math.inf)
        return True

    def _build_in_background(self, db: HasGeneration, key: Hashable, build: Build) -> None:
        """Replace a kept page without anyone waiting; a failure leaves the kept page to its
        bound, after which a request builds it and meets the failure itself."""
        self._background.start(self._build(db.generation, key, build))

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
        now = self.clock()
        self._kept[key] = _Kept(
            body, generation, now + self.seconds, now + self.seconds / 2, changes_at
        )


async def _shared(build: asyncio.Future[bytes]) -> bytes | None:
    """The body another request is building; None when that request was cancelled before."""
    try:
        return await asyncio.shield(build)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if build.cancelled() and (task is None or not task.cancelling()):
            return None
        raise
