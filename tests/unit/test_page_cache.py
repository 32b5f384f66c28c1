"""The task list's kept pages (api/page_cache.py): never older than a write through the
process, than a time-dependent value's next change, or than their bound; built once for
identical requests at once."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from tagport.api.page_cache import PageCache
from tagport.store.tables import utcnow

LATER = utcnow() + timedelta(days=1)
T = TypeVar("T")


@dataclass
class Store:
    """A database as the cache sees it: a generation that a write moves."""

    generation: int = 0
    data: str = "v0"
    builds: list[str] = field(default_factory=list)

    def write(self, data: str) -> None:
        self.data = data
        self.generation += 1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def builder(store: Store, changes_at: datetime = LATER, pause: asyncio.Event | None = None):  # type: ignore[no-untyped-def]
    async def build() -> tuple[bytes, datetime]:
        read = store.data  # what the page shows: read when the build starts
        store.builds.append(read)
        if pause is not None:
            await pause.wait()
        return read.encode(), changes_at

    return build


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a thread of its own: a browser test earlier in the same process (the
    Playwright session) leaves an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, main).result()


def answer(cache: PageCache, store: Store, **kwargs: object) -> bytes:
    return run(cache.answer(store, "page", builder(store, **kwargs)))  # type: ignore[arg-type]


def test_a_kept_page_is_answered_until_a_write_through_the_process() -> None:
    cache, store = PageCache(2.0, clock=Clock()), Store()
    assert answer(cache, store) == answer(cache, store) == b"v0"
    assert store.builds == ["v0"]
    store.write("v1")
    assert answer(cache, store) == b"v1"


def test_a_kept_page_is_built_again_after_its_bound() -> None:
    clock = Clock()
    cache, store = PageCache(2.0, clock=clock), Store()
    answer(cache, store)
    store.data = "changed by another process"  # no generation: this process did not see it
    clock.now += 1.9
    assert answer(cache, store) == b"v0"
    clock.now += 0.2
    assert answer(cache, store) == b"changed by another process"


def test_a_page_in_the_second_half_of_its_bound_is_answered_while_one_build_replaces_it() -> None:
    clock = Clock()
    cache, store = PageCache(2.0, clock=clock), Store()

    async def polling() -> list[bytes]:
        await cache.answer(store, "page", builder(store))
        store.data = "changed by another process"
        clock.now += 0.9
        assert await cache.answer(store, "page", builder(store)) == b"v0"
        assert store.builds == ["v0"]  # first half: kept, nothing built
        clock.now += 0.2
        pause = asyncio.Event()
        during = [await cache.answer(store, "page", builder(store, pause=pause)) for _ in range(50)]
        await asyncio.sleep(0)  # the one background build has started and waits
        pause.set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return [*during, await cache.answer(store, "page", builder(store))]

    answers = run(polling())
    assert answers == [b"v0"] * 50 + [b"changed by another process"]
    assert store.builds == ["v0", "changed by another process"]


def test_a_failed_background_build_leaves_the_kept_page_to_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    cache, store = PageCache(2.0, clock=clock), Store()

    async def failing() -> tuple[bytes, datetime]:
        raise ValueError("the database went away")

    async def polling() -> bytes:
        await cache.answer(store, "page", builder(store))
        clock.now += 1.5
        kept = await cache.answer(store, "page", failing)
        for _ in range(3):
            await asyncio.sleep(0)
        assert await cache.answer(store, "page", failing) == kept  # no second attempt yet
        clock.now += 0.5
        return kept

    assert run(polling()) == b"v0"
    assert "a kept page could not be built again: the database went away" in caplog.text
    with pytest.raises(ValueError, match="went away"):
        run(cache.answer(store, "page", failing))


def test_a_page_whose_time_dependent_values_change_is_not_kept_past_that_moment() -> None:
    cache, store = PageCache(60.0, clock=Clock()), Store()
    answer(cache, store, changes_at=utcnow() - timedelta(microseconds=1))
    answer(cache, store)
    assert len(store.builds) == 2


def test_no_page_is_kept_when_the_bound_is_zero() -> None:
    cache, store = PageCache(0, clock=Clock()), Store()
    answer(cache, store)
    answer(cache, store)
    assert len(store.builds) == 2


def test_identical_requests_at_once_build_the_page_once() -> None:
    cache, store = PageCache(2.0, clock=Clock()), Store()

    async def fifty() -> list[bytes]:
        pause = asyncio.Event()
        waiting = [
            asyncio.create_task(cache.answer(store, "page", builder(store, pause=pause)))
            for _ in range(50)
        ]
        await asyncio.sleep(0)
        pause.set()
        return await asyncio.gather(*waiting)

    assert run(fifty()) == [b"v0"] * 50
    assert store.builds == ["v0"]


def test_a_request_after_a_write_does_not_take_the_page_being_built_before_it() -> None:
    cache, store = PageCache(2.0, clock=Clock()), Store()

    async def around_a_write() -> tuple[bytes, bytes]:
        pause = asyncio.Event()
        first = asyncio.create_task(cache.answer(store, "page", builder(store, pause=pause)))
        await asyncio.sleep(0)  # the first build has read "v0" and waits
        store.write("v1")
        second = asyncio.create_task(cache.answer(store, "page", builder(store)))
        await asyncio.sleep(0)
        pause.set()
        return await first, await second

    assert run(around_a_write()) == (b"v0", b"v1")
    assert answer(cache, store) == b"v1"  # and the older page was not kept over it


def test_a_failed_build_fails_its_waiters_and_is_tried_again_next_time() -> None:
    cache, store = PageCache(2.0, clock=Clock()), Store()
    calls = []

    async def failing() -> tuple[bytes, datetime]:
        calls.append(1)
        await asyncio.sleep(0)
        raise ValueError("the database went away")

    async def two() -> list[object]:
        tasks = [asyncio.create_task(cache.answer(store, "page", failing)) for _ in range(2)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    failures = run(two())
    assert [str(f) for f in failures] == ["the database went away"] * 2
    assert len(calls) == 1
    with pytest.raises(ValueError, match="went away"):
        run(cache.answer(store, "page", failing))
    assert answer(cache, store) == b"v0"


def test_those_waiting_for_a_cancelled_build_build_their_own() -> None:
    cache, store = PageCache(2.0, clock=Clock()), Store()

    async def cancelled_first() -> bytes:
        pause = asyncio.Event()
        first = asyncio.create_task(cache.answer(store, "page", builder(store, pause=pause)))
        await asyncio.sleep(0)
        second = asyncio.create_task(cache.answer(store, "page", builder(store)))
        await asyncio.sleep(0)
        first.cancel()
        return await second

    assert run(cancelled_first()) == b"v0"
    assert store.builds == ["v0", "v0"]
