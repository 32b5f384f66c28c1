"""Runs in a real browser: the run dialog and the live progress and log of the instance it
made, the backfill dialog and the backfill's overall status, the instance lists' filters, jump
to a date, rerun and terminate enabled by status."""

from __future__ import annotations

import os
import re
import threading
from datetime import date, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import update

from tagport.runtime.pipeline import executor
from tagport.runtime.worker import Worker, WorkerConfig
from tagport.services import instances
from tagport.services.users import actor_for
from tagport.store import tables as t
from tests.e2e.api.demo import demo  # noqa: F401
from tests.e2e.console.conftest import Axe, Console, english_left, keyboard_unreachable
from tests.e2e.console.tasks_world import World, workers, world  # noqa: F401
from tests.threads import Threads

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
TODAY = date.today()
LIST = "/offline-services"


def days_ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.screenshot(path=f"docs/screenshots/{name}.png", full_page=False)


def tab_to(page: Page, field: Locator, most: int = 4) -> None:
    """Press Tab until `field` has the focus (a date field takes a stop per part)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if field.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{most} presses of Tab did not reach {field}")


def task_row(page: Page, name: str) -> Locator:
    return page.locator(f'#task-list tr[data-task="{name}"]')


def test_run_for_a_chosen_date_then_watch_the_progress_and_the_log(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
    axe: Axe,
) -> None:
    console.log_in(page, path=LIST)
    task_row(page, "seed_manual").get_by_role("button", name="Run", exact=True).click()
    dialog = page.get_by_role("dialog", name="Run seed_manual")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Data timestamp")).to_have_value(days_ago(1))  # T-1
    dialog.get_by_label("Data timestamp").fill(days_ago(3))
    dialog.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"/instances/\d+$"))
    expect(page.locator("#progress-bar")).to_have_attribute("value", "0")  # nobody works yet
    expect(page.locator("dl.facts")).to_contain_text(days_ago(3))
    axe(page)
    assert keyboard_unreachable(page) == []

    # A worker starts now: the page, following the instance over SSE, sees it to the end.
    stop, threads = threading.Event(), Threads()
    worker = Worker(world.db, executor(world.settings, world.db), WorkerConfig(poll=0.1))
    threads.start(worker.run_forever, stop)
    try:
        expect(page.locator("#progress-bar")).to_have_attribute("value", "100", timeout=30_000)
        expect(page.locator("#progress .badge")).to_have_text("Succeeded")
        expect(page.locator("#progress")).to_contain_text("rows written")
        log = page.get_by_role("region", name="Log").or_(page.locator("#log"))
        expect(log).to_contain_text("run requested by operator")
        expect(log).to_contain_text("succeeded:")  # the last lines came over the stream
        facts = page.locator("#instance-facts")  # and the facts and actions came again
        expect(facts.get_by_role("button", name="Rerun")).to_be_enabled()
        expect(facts.get_by_role("button", name="Terminate")).to_be_disabled()
        screenshot(page, "instance")
    finally:
        stop.set()
        threads.join()
    page.reload()  # an ended instance: no stream, the whole masked log
    expect(page.locator("#progress")).not_to_have_attribute("data-sse", re.compile("."))
    expect(page.locator("#log")).to_contain_text("replaced")


def test_a_refused_run_keeps_the_date_and_says_why_next_to_it(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
) -> None:
    console.log_in(page, path=LIST)
    task_row(page, "seed_manual").get_by_role("button", name="Run", exact=True).click()
    dialog = page.get_by_role("dialog", name="Run seed_manual")
    later = (TODAY + timedelta(days=5)).isoformat()
    dialog.get_by_label("Data timestamp").fill(later)
    dialog.get_by_role("button", name="Run", exact=True).click()
    dialog = page.get_by_role("dialog", name="Run seed_manual")
    expect(dialog.locator("#bizdate-error")).to_contain_text("future")
    expect(dialog.get_by_label("Data timestamp")).to_have_value(later)
    expect(dialog.get_by_label("Data timestamp")).to_have_attribute("aria-invalid", "true")
    page.keyboard.press("Escape")  # a <dialog>: Esc closes it
    expect(dialog).to_be_hidden()


def test_backfill_three_days_in_two_groups_and_see_the_overall_status(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
    workers: threading.Event,  # noqa: F811
    axe: Axe,
) -> None:
    console.log_in(page, path=LIST)
    # By keyboard alone: Enter opens the dialog, whose first field takes the focus; Tab moves
    # on to the next field, Enter in a field starts the backfill.
    task_row(page, "spenders_daily").get_by_role("button", name="Backfill").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Backfill spenders_daily")
    expect(dialog.get_by_label("From data timestamp")).to_be_focused()
    for field, value, following in [
        ("From", days_ago(3), "To data timestamp"),
        ("To", days_ago(1), "Parallel groups"),
    ]:
        year, month, day = value.split("-")
        page.keyboard.type(month + day + year)  # a date field's parts, in the locale's order
        expect(dialog.get_by_label(f"{field} data timestamp")).to_have_value(value)
        tab_to(page, dialog.get_by_label(following))
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/backfills/\d+$"))
    expect(page.locator("#backfill-status")).to_have_text("Succeeded", timeout=60_000)
    days = page.locator("#backfill tbody tr")
    expect(days).to_have_count(3)
    expect(days.locator("td:nth-child(2)")).to_have_text(["1", "1", "2"])  # groups
    expect(days.locator(".badge")).to_have_text(["Succeeded"] * 3)
    axe(page)
    assert keyboard_unreachable(page) == []
    screenshot(page, "backfill")


def test_instance_lists_filters_jump_to_a_date_rerun_and_terminate(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
    axe: Axe,
) -> None:
    db, operator = world.db, world.operator
    made = {
        n: instances.run(db, operator, "seed_manual", TODAY - timedelta(days=n)) for n in (1, 2, 3)
    }
    instances.terminate(db, operator, made[3])
    first, last = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
    instances.backfill(db, operator, "spenders_daily", first, last, 1)

    console.log_in(page, path="/instances")
    rows = page.locator("#instance-list tbody tr[data-instance]")
    expect(rows).to_have_count(5)
    axe(page)
    assert keyboard_unreachable(page) == []
    screenshot(page, "instances")

    def filtered(label: str, value: str, count: int) -> None:
        page.goto(console.url + "/instances")
        field = page.get_by_label(label)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(count)

    filtered("Task", "seed_manual", 3)
    filtered("Status", "failed", 1)
    filtered("Trigger", "backfill", 2)
    filtered("Data timestamp from", days_ago(2), 4)
    filtered("Data timestamp to", days_ago(2), 3)
    page.get_by_label("Jump to a data timestamp").fill(days_ago(3))
    page.get_by_role("button", name="Go").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Failed")
    assert f"on={days_ago(3)}" in page.url

    page.goto(console.url + LIST + "/seed_manual/instances")
    expect(rows).to_have_count(3)
    waiting, failed = rows.filter(has_text=days_ago(1)), rows.filter(has_text=days_ago(3))
    rerun = waiting.get_by_role("button", name="Rerun")
    expect(rerun).to_be_disabled()
    rerun.locator("xpath=..").focus()  # the reason on keyboard focus (its wrapper)
    expect(waiting.get_by_role("tooltip")).to_have_text(
        "Only when the instance is Succeeded or Failed"
    )
    expect(failed.get_by_role("button", name="Terminate")).to_be_disabled()
    failed.get_by_role("button", name="Rerun").click()
    expect(failed.locator(".badge")).to_have_text("Waiting")
    waiting.get_by_role("button", name="Terminate").click()
    expect(waiting.locator(".badge")).to_have_text("Failed")
    expect(waiting).to_contain_text("terminated")


def test_who_may_only_look_sees_rerun_and_terminate_disabled_with_the_reason(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
) -> None:
    db, operator = world.db, world.operator
    waiting = instances.run(db, operator, "seed_manual", TODAY - timedelta(days=1))
    ended = instances.run(db, operator, "seed_manual", TODAY - timedelta(days=2))
    instances.terminate(db, operator, ended)
    console.user("mia")  # a member of demo_app: may look at the operator's tasks, not change
    console.log_in(page, "mia", path=f"/instances/{waiting}")
    facts = page.locator("#instance-facts")
    expect(facts.get_by_role("button", name="Terminate")).to_be_disabled()
    facts.get_by_role("button", name="Terminate").hover()
    expect(facts.get_by_role("tooltip")).to_have_text("You may view this task but not change it")

    page.goto(console.url + LIST + "/seed_manual/instances")
    row = page.locator(f'#instance-list tr[data-instance="{ended}"]')
    expect(row.get_by_role("button", name="Rerun")).to_be_disabled()
    row.get_by_role("button", name="Rerun").locator("xpath=..").focus()
    expect(row.get_by_role("tooltip")).to_have_text("You may view this task but not change it")
    with db.uow() as uow:  # the task handed over to her: its instances are hers to act on
        uow.session.execute(
            update(t.OfflineService)
            .where(t.OfflineService.name == "seed_manual")
            .values(owner_id=actor_for(db, "mia").id)
        )
        uow.commit()
    page.reload()
    expect(row.get_by_role("button", name="Rerun")).to_be_enabled()
    page.goto(console.url + f"/instances/{waiting}")
    expect(facts.get_by_role("button", name="Terminate")).to_be_enabled()


def test_the_instance_pages_in_chinese(
    zh_page: Page,
    console: Console,
    world: World,  # noqa: F811
    axe: Axe,
) -> None:
    made = instances.run(world.db, world.operator, "seed_manual", TODAY - timedelta(days=1))
    instances.terminate(world.db, world.operator, made)
    backfill = instances.backfill(
        world.db, world.operator, "spenders_daily", TODAY - timedelta(days=1), TODAY, 1
    )
    console.log_in(zh_page, path="/instances")
    expect(zh_page.get_by_role("heading", level=1)).to_have_text("实例")
    for path in ("/instances", f"/instances/{made}", f"/backfills/{backfill}"):
        zh_page.goto(console.url + path)
        assert english_left(zh_page) == [], path
        axe(zh_page)
    zh_page.goto(console.url + LIST + "/seed_manual/run")  # the run form as a page of its own
    expect(zh_page.get_by_label("数据时间")).to_be_visible()
    assert english_left(zh_page) == []
