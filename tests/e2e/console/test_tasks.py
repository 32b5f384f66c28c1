"""The offline services list, a task's details and its actions, in a real browser: every
filter, sorting and paging, each action enabled or disabled by status and rights with the
reason, bulk actions with a result per row, unpublish and delete, the details side by side."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tagport.domain.tasks import OfflineServiceSpec
from tagport.services import instances, publication, tasks
from tagport.store.tables import utcnow
from tests.e2e.api.demo import demo  # noqa: F401
from tests.e2e.console.conftest import Axe, Console, english_left, keyboard_unreachable
from tests.e2e.console.tasks_world import STATUSES, World, world  # noqa: F401

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
LIST = "/offline-services"
YESTERDAY = date.today() - timedelta(days=1)

# DESIGN §3: the statuses that offer each action; run only for manual tasks, backfill only
# for recurring ones (edit, details and instances: see ENABLED).
EVERY_STATUS = {*STATUSES.values(), "unpublishing", "unpublish_failed"}
OFFERED = {
    "Edit": EVERY_STATUS - {"publishing", "unpublishing"},
    "Details": EVERY_STATUS,
    "Instances": EVERY_STATUS,
    "Publish": {"editing", "publish_failed", "offline", "published"},
    "Unpublish": {"published", "unpublish_failed"},
    "Run": {"published"},
    "Backfill": {"published"},
    "Delete": {"offline", "publish_failed"},
}
RECURRING = {"spenders_daily"}


def shows(page: Page, *names: str) -> None:
    """The list shows exactly these tasks, in this order."""
    expect(page.locator("#task-list tbody tr[data-task]")).to_have_count(len(names))
    for number, name in enumerate(names):
        expect(page.locator("#task-list tbody tr[data-task]").nth(number)).to_have_attribute(
            "data-task", name
        )


def row(page: Page, name: str) -> Locator:
    return page.locator(f'#task-list tr[data-task="{name}"]')


def status_of(page: Page, name: str) -> Locator:
    """The task status badge of a row."""
    return row(page, name).locator(".badge").first


def action(place: Locator, label: str) -> Locator:
    return place.get_by_role("button", name=label, exact=True).or_(
        place.get_by_role("link", name=label, exact=True)
    )


def screenshot(page: Page, name: str, width: int = 1400) -> None:
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=f"docs/screenshots/{name}.png", full_page=False)
        page.set_viewport_size({"width": 1400, "height": 900})


def test_every_filter_sorting_and_paging(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
    axe: Axe,
) -> None:
    instances.run(world.db, world.operator, "seed_manual", YESTERDAY)  # waiting: executed
    console.log_in(page, path=LIST)
    everything = ("broken", "draft_mia", "pending", "retired", "seed_manual", "spenders_daily")
    shows(page, *everything)
    axe(page)
    assert keyboard_unreachable(page) == []
    target = row(page, "spenders_daily").locator(".card-host")
    target.hover()  # the target table's card: full name, data source and its type
    card = target.get_by_role("tooltip")
    expect(card).to_be_visible()
    expect(card.locator("dt")).to_have_text(["Full name", "Data source"])  # no schema here
    expect(card.locator("dd")).to_have_text(["big_spenders", "wh (Project (warehouse))"])
    screenshot(page, "offline-services", width=1680)  # every column and action in view

    def choose(label: str, value: str | None, *names: str) -> None:
        page.goto(console.url + LIST)
        if value is None:
            page.get_by_label(label).check()
        elif page.get_by_label(label).evaluate("e => e.tagName") == "SELECT":
            page.get_by_label(label).select_option(value)
        else:
            page.get_by_label(label).fill(value)
        page.get_by_role("button", name="Filter").click()
        shows(page, *names)

    choose("Only mine", None, *(n for n in everything if n != "draft_mia"))
    choose("Task name", "SPEND", "spenders_daily")
    choose("Application", "ops_app", "retired")
    choose("Entity – entity ID", "user-user_id", *everything)
    choose("Target source type", "mysql")
    choose("Target source type", "project", *everything)
    choose("Task status", "published", "seed_manual", "spenders_daily")
    choose("Execution status", "waiting", "seed_manual")
    choose("Execution status", "not_run", *(n for n in everything if n != "seed_manual"))
    choose("Schedule type", "recurring", "spenders_daily")
    expect(page.get_by_label("Schedule type")).to_have_value("recurring")  # the URL keeps it
    assert "schedule_type=recurring" in page.url
    expect(page.get_by_text("No offline service matches these filters.")).to_have_count(0)

    page.goto(console.url + LIST)
    page.get_by_role("link", name="Task status").click()  # ascending, then descending
    page.get_by_role("link", name="Task status").click()
    assert "sort=status" in page.url and "desc=1" in page.url
    expect(page.locator("#task-list tbody tr[data-task]").first).to_contain_text("Publishing")

    page.goto(console.url + LIST + "?size=4&status=")
    shows(page, *everything[:4])
    expect(page.get_by_text("Page 1 of 2 (6 in all)")).to_be_visible()
    page.get_by_role("link", name="Next").click()
    shows(page, *everything[4:])
    assert "page=2" in page.url and "size=4" in page.url


def test_each_action_is_enabled_by_status_and_rights_with_the_reason(
    page: Page,
    browser: Browser,
    console: Console,
    world: World,  # noqa: F811
) -> None:
    console.log_in(page, path=LIST)
    for name, status in STATUSES.items():
        offers_as_its_status_says(page, name, status)

    daily = row(page, "spenders_daily")
    action(daily, "Delete").hover()
    expect(daily.get_by_role("tooltip")).to_have_text(
        "Only when the task is Publish failed or Offline"
    )
    action(daily, "Run").locator("xpath=..").focus()  # on keyboard focus too (its wrapper)
    expect(daily.get_by_role("tooltip").filter(has_text="Manual")).to_have_text(
        "Only for Manual tasks"
    )
    action(row(page, "pending"), "Edit").hover()
    expect(row(page, "pending").get_by_role("tooltip").first).to_contain_text("Only when")

    console.user("mia")  # a member of demo_app: may look at the operator's tasks, not change
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    as_mia = context.new_page()
    console.log_in(as_mia, "mia", path=LIST)
    publish = action(row(as_mia, "seed_manual"), "Unpublish")
    expect(publish).to_be_disabled()
    publish.hover()
    expect(row(as_mia, "seed_manual").get_by_role("tooltip").first).to_have_text(
        "You may view this task but not change it"
    )
    expect(action(row(as_mia, "draft_mia"), "Publish")).to_be_enabled()  # her own
    context.close()


def test_bulk_publish_and_run_show_a_result_per_row(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
) -> None:
    console.log_in(page, path=LIST)
    for name in ("retired", "draft_mia"):
        row(page, name).get_by_role("checkbox").check()
    page.get_by_role("button", name="Publish checked", exact=True).click()
    expect(status_of(page, "retired")).to_have_text("Published")
    reasons = page.locator('tr[data-reasons-of="retired"]')
    expect(reasons).to_contain_text("Done: published")
    failed = page.locator('tr[data-reasons-of="draft_mia"]')
    expect(failed).to_contain_text("Refused:")
    expect(failed).to_contain_text("Publication failed:")  # its reasons, in place
    expect(failed).to_contain_text("table")

    for name in ("seed_manual", "spenders_daily"):
        row(page, name).get_by_role("checkbox").check()
    page.get_by_label("Data timestamp").fill(YESTERDAY.isoformat())
    page.get_by_role("button", name="Run checked").click()
    expect(page.locator('tr[data-reasons-of="seed_manual"]')).to_contain_text(
        re.compile(r"Done: instance #\d+ created")
    )
    expect(page.locator('tr[data-reasons-of="spenders_daily"]')).to_contain_text(
        "only manual tasks offer it"
    )
    expect(row(page, "seed_manual").locator(".badge").nth(1)).to_have_text("Waiting")


def test_a_failed_run_shows_its_reason_in_the_list(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
) -> None:
    made = instances.run(world.db, world.operator, "seed_manual", YESTERDAY)
    instances.terminate(world.db, world.operator, made)
    console.log_in(page, path=LIST + "?name=seed")
    expect(page.locator('tr[data-reasons-of="seed_manual"]')).to_contain_text(
        "Last run failed: terminated"
    )


def test_unpublish_then_delete(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
) -> None:
    console.log_in(page, path=LIST)
    action(row(page, "seed_manual"), "Unpublish").click()
    expect(status_of(page, "seed_manual")).to_have_text("Offline")
    expect(page.locator('tr[data-reasons-of="seed_manual"]')).to_contain_text("unpublished")
    page.once("dialog", lambda dialog: dialog.accept())
    action(row(page, "seed_manual"), "Delete").click()
    expect(page.get_by_text("offline service seed_manual deleted")).to_be_visible()
    expect(row(page, "seed_manual")).to_have_count(0)
    assert "seed_manual" not in [
        t.name for t in tasks.list_tasks(world.db, world.operator, tasks.TaskFilter())
    ]


def test_unpublishing_while_a_run_runs_fails_with_its_reason_then_is_tried_again(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
) -> None:
    made = instances.run(world.db, world.operator, "seed_manual", YESTERDAY)
    running = instances.claim(world.db, "w", utcnow(), timedelta(hours=1), instance_id=made)
    assert running is not None
    console.log_in(page, path=LIST + "?name=seed")
    action(row(page, "seed_manual"), "Unpublish").click()
    expect(status_of(page, "seed_manual")).to_have_text("Unpublish failed")
    reasons = page.locator('tr[data-reasons-of="seed_manual"]')
    expect(reasons).to_contain_text("Unpublish failed:")
    expect(reasons).to_contain_text(f"instance {made} is still running; terminate it first")
    offers_as_its_status_says(page, "seed_manual", "unpublish_failed")

    publication.request_unpublish(world.db, world.operator, "seed_manual")  # tried again
    page.reload()
    expect(status_of(page, "seed_manual")).to_have_text("Unpublishing")
    offers_as_its_status_says(page, "seed_manual", "unpublishing")
    instances.terminate(world.db, world.operator, made)
    publication.complete_unpublication(world.db, "seed_manual")
    page.reload()
    expect(status_of(page, "seed_manual")).to_have_text("Offline")


def offers_as_its_status_says(page: Page, name: str, status: str) -> None:
    """The task's row offers exactly the actions its status offers (it may change the task)."""
    for label, statuses in OFFERED.items():
        recurring = name in RECURRING
        wanted = status in statuses and not (
            (label == "Run" and recurring) or (label == "Backfill" and not recurring)
        )
        button = action(row(page, name), label)
        if wanted:
            expect(button, f"{label} of {name} ({status})").to_be_enabled()
        else:
            expect(button, f"{label} of {name} ({status})").to_be_disabled()


def test_details_show_both_versions_with_the_differences(
    page: Page,
    console: Console,
    world: World,  # noqa: F811
    axe: Axe,
) -> None:
    draft = tasks.task_detail(world.db, world.operator, "spenders_daily").draft
    changed = OfflineServiceSpec.model_validate({**draft, "description": "new wording"})
    tasks.edit_task(world.db, world.operator, changed)
    console.log_in(page, path=LIST)
    row(page, "spenders_daily").get_by_role("link", name="spenders_daily").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("spenders_daily")
    expect(page.get_by_text("The draft changes 1 field(s)")).to_be_visible()
    differs = page.locator("table.versions tr.differs")
    expect(differs).to_have_count(1)
    expect(differs).to_contain_text("description")
    expect(differs.locator("td.diff-new")).to_have_text("new wording")
    expect(page.locator("table.versions tr", has_text="target.table")).not_to_have_class("differs")
    axe(page)
    assert keyboard_unreachable(page) == []
    screenshot(page, "offline-service-details")
    action(page.locator("main"), "Unpublish").click()  # the page shows the new status
    expect(page.locator("dl.facts")).to_contain_text("Offline")


def test_the_list_and_details_in_chinese(
    zh_page: Page,
    console: Console,
    world: World,  # noqa: F811
    axe: Axe,
) -> None:
    console.log_in(zh_page, path=LIST)
    expect(zh_page.get_by_role("heading", level=1)).to_have_text("离线服务")
    assert english_left(zh_page) == []
    axe(zh_page)
    zh_page.goto(console.url + LIST + "/spenders_daily")
    expect(zh_page.get_by_role("heading", level=2).first).to_have_text("发布版本与草稿")
    assert english_left(zh_page) == []
    axe(zh_page)
