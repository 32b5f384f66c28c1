"""The offline services list, a task's details and its actions, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.api.demo import demo  # noqa: F401
from tests.e2e.console.conftest import Axe, Console, english_left
from tests.e2e.console.tasks_world import World, world  # noqa: F401

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_smoke(page: Page, console: Console, world: World) -> None:
    console.log_in(page, path="/offline-services")
    expect(page.get_by_role("heading", level=1)).to_have_text("Offline services")
    page.screenshot(path="/tmp/h12a-list.png", full_page=True)
    page.goto(console.url + "/offline-services/spenders_daily")
    page.screenshot(path="/tmp/h12a-details.png", full_page=True)
    page.goto(console.url + "/instances")
    page.screenshot(path="/tmp/h12a-instances.png", full_page=True)
