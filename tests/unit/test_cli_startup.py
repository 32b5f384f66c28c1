"""The collector paused while a command starts (`cli.startup`), and back on for long work."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tagport.cli import runtime, startup


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, whatever the test did to it."""
    yield
    gc.unfreeze()
    gc.enable()


def test_a_paused_collector_resumes_with_what_exists_frozen(collector: None) -> None:
    startup.pause()
    assert not gc.isenabled()
    startup.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_resuming_a_collector_never_paused_changes_nothing(collector: None) -> None:
    """The CLI run in-process (as tests run it) keeps its process's collector as it is."""
    startup.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_long_running_role_starts_with_the_collector_back_on(collector: None) -> None:
    """`serve`, `api`, `scheduler` and `worker` run for weeks: garbage must be collected."""
    startup.pause()
    runtime._long_running()
    assert gc.isenabled()
