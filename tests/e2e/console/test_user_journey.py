"""The console from end to end, as its users would go through it, in English and in Chinese.

A data source admin adds the PostgreSQL data source and tests it; the operator builds a rule
audience and sees its size, creates a recurring task with tags and code names, creates its table
in one click after editing the table's comment, and publishes. A member makes a manual task on
that table: publishing is refused for want of write permission; she requests it, the data source
owner approves, she publishes again, runs it for a chosen date and watches the progress bar reach
the end, then opens the log. The operator backfills three days in two groups and sees the overall
status, unpublishes, deletes. Then PostgreSQL holds the rows.

Every label is found through the message catalogue of the language under test (`Labels`), so
the same journey runs in both languages; in Chinese, no page may show an English label.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tagport.config import Settings
from tagport.domain.catalog import ApplicationSpec, Role, ServiceKind
from tagport.runtime.pipeline import executor
from tagport.runtime.worker import Worker, WorkerConfig
from tagport.services import catalog, warehouse
from tagport.services.permissions import Actor
from tagport.services.warehouse import build_demo, open_warehouse
from tagport.store.db import Database
from tagport.warehouse import demo as demo_data
from tagport.web.i18n import catalogue
from tests.conftest import PG_URL
from tests.e2e.console.conftest import Axe, Console, choose, english_left, tick
from tests.e2e.console.test_task_form import table_comment
from tests.threads import Threads

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
TODAY = date.today()
DAYS = [TODAY - timedelta(days=n) for n in (3, 2, 1)]
DS, AUDIENCE = "crm_pg", "hz_spenders"
DAILY, MANUAL = "hz_daily", "hz_for_mia"
CRM_TABLE = "hz_crm"
"""A table the CRM team made in PostgreSQL, where mia's task is to write."""


class Labels:
    """`labels("Task name")`: that English label in the language under test. The English text
    names the message: the first key with that text within `where` (a page's file), else
    anywhere (the common labels)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def __call__(self, english: str, where: str = "", **params: object) -> str:
        same = [key for key, text in catalogue("en").items() if text == english]
        keys = [key for key in same if key.startswith(where)] or same
        assert keys, f"no English message {english!r}"
        text = catalogue(self.language)[keys[0]]
        return text.format(**params) if params else text


@pytest.fixture(params=["en", "zh"])
def journey(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[Page, Labels]]:
    locale = {"en": "en-US", "zh": "zh-CN"}[request.param]
    context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 900})
    yield context.new_page(), Labels(request.param)
    context.close()


@pytest.fixture
def world(
    console: Console, settings: Settings, db: Database, operator: Actor, pg_schema: str
) -> str:
    """The demo warehouse (three days of data), application demo_app with member mia, and the
    data source admin dsa; returns the test's own PostgreSQL schema."""
    console.user("mia")
    console.user("dsa", (Role.DATASOURCE_ADMIN,))
    settings.ensure_home()
    build_demo(settings, db, operator, 2000, TODAY)
    demo_data.build_demo_data(open_warehouse(settings), 2000, DAYS)
    app = ApplicationSpec(
        name="demo_app",
        project="tag_prod",
        services=[ServiceKind.AUDIENCE_OFFLINE],
        admins=["operator"],
        members=["mia"],
    )
    catalog.create(db, operator, app)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{pg_schema}".{CRM_TABLE} (user_id bigint PRIMARY KEY, city text)'
        )
    return pg_schema


@pytest.fixture
def workers(world: str, db: Database, settings: Settings) -> Iterator[None]:
    """A worker running instances on a thread, as `tagport serve` has."""
    stop, threads = threading.Event(), Threads()
    worker = Worker(db, executor(settings, db), WorkerConfig(poll=0.1), name="journey")
    threads.start(worker.run_forever, stop, name="worker")
    yield
    stop.set()
    threads.join()


def check_page(page: Page, labels: Labels, axe: Axe) -> None:
    """What every page of the journey must be: accessible, and all in the user's language."""
    axe(page)
    if labels.language == "zh":
        assert english_left(page) == [], page.url


def switch_user(page: Page, console: Console, labels: Labels, login: str, path: str) -> None:
    page.get_by_role("button", name=labels("Log out"), exact=True).click()
    expect(page).to_have_url(re.compile("/login"))
    console.log_in(page, login, path)


def add_data_source(page: Page, console: Console, labels: Labels, axe: Axe) -> None:
    server = urlsplit(PG_URL)
    console.log_in(page, "dsa", "/datasources/new")
    page.get_by_label(labels("Name", "datasources"), exact=True).fill(DS)
    page.get_by_label(labels("Type", "datasources")).select_option("postgresql")
    page.get_by_label(labels("Host", "datasources")).fill(server.hostname or "127.0.0.1")
    page.get_by_label(labels("Port", "datasources")).fill(str(server.port or 5432))
    page.get_by_label(labels("Database", "datasources")).fill(server.path.lstrip("/"))
    page.get_by_label(labels("User", "datasources"), exact=True).fill(server.username or "postgres")
    page.get_by_label(labels("Password", "datasources")).fill("journey-password")
    check_page(page, labels, axe)
    page.get_by_role("button", name=labels("Save", "datasources"), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/datasources/{DS}\?saved=1$"))
    page.get_by_role("button", name=labels("Test connection", "datasources"), exact=True).click()
    expect(page.locator("#test-result")).to_contain_text(re.compile(r"\d+\.\d+"))
    check_page(page, labels, axe)


def build_audience(page: Page, console: Console, labels: Labels, axe: Axe) -> int:
    switch_user(page, console, labels, "operator", "/audience-groups/new")
    where = "audience_groups"
    page.get_by_label(labels("Code", where)).fill(AUDIENCE)
    page.get_by_label(labels("Name", where), exact=True).fill("Hangzhou spenders")
    page.get_by_label(labels("Tag of condition {n}", where, n=1)).select_option("city")
    page.get_by_label(labels("Value of condition {n}", where, n=1)).fill("571")
    page.get_by_role("button", name=labels("Estimate", where), exact=True).click()
    estimate = page.locator("#estimate [role=status]")
    expect(estimate).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d\D+[\d,]+$"))
    size = int(re.split(r"\D+", estimate.inner_text().rsplit(" ", 1)[-1].replace(",", ""))[-1])
    assert size > 0
    check_page(page, labels, axe)
    page.get_by_role("button", name=labels("Save", where), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/audience-groups/{AUDIENCE}\?created=1$"))
    return size


def choose_target(page: Page, labels: Labels, schema: str, table: str | None = None) -> None:
    where = "task_form"
    choose(page, page.get_by_label(labels("Target data source type", where)), "postgresql")
    choose(page, page.get_by_label(labels("Target data source", where), exact=True), DS)
    choose(page, page.get_by_label(labels("Schema", where), exact=True), schema)
    if table is not None:
        expect(page.get_by_label(labels("Target table", where))).to_contain_text(table)
        choose(page, page.get_by_label(labels("Target table", where)), table)


def fill_basics(page: Page, labels: Labels, name: str, schedule: str) -> None:
    where = "task_form"
    page.get_by_label(labels("Task name", where)).fill(name)
    expect(page.locator("#name-check")).to_have_text(labels("{name} is available.", name=name))
    choose(page, page.get_by_label(labels("Application", where)), "demo_app")
    choose(page, page.get_by_label(labels("Schedule type", where)), schedule)
    choose(page, page.get_by_label(labels("Audience group", where)), AUDIENCE)


def create_daily_task(page: Page, labels: Labels, schema: str, axe: Axe) -> str:
    """The operator's recurring task, its table created in one click; returns the table."""
    where = "task_form"
    page.goto(page.url.split("/audience-groups")[0] + "/offline-services/new")
    fill_basics(page, labels, DAILY, "recurring")
    tick(page, page.get_by_label(labels("Sync tags", where)))
    for box in ("#tag-city", "#out-city-codename", "#tag-total_spend"):
        tick(page, page.locator(box))
    choose_target(page, labels, schema)
    check_page(page, labels, axe)
    page.get_by_role("button", name=labels("One-click table creation", where), exact=True).click()
    statement = page.get_by_label(labels("CREATE TABLE statement", where))
    sql = statement.input_value()
    statement.fill(re.sub(r"(COMMENT ON TABLE .*? IS ')[^']*'", r"\1Hangzhou spenders'", sql))
    check_page(page, labels, axe)
    page.get_by_role("button", name=labels("Create table", where), exact=True).click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    table = page.get_by_label(labels("Target table", where)).input_value()
    assert table_comment(schema, table) == "Hangzhou spenders"
    page.get_by_role("button", name=labels("Publish", where), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/offline-services/{DAILY}$"))
    expect(page.locator("body")).to_contain_text(labels("Published", "status"))
    return table


def refused_then_granted(
    page: Page, console: Console, labels: Labels, schema: str, axe: Axe
) -> None:
    """mia's manual task into the CRM's table: refused, requested, approved, published."""
    where = "task_form"
    table = CRM_TABLE
    switch_user(page, console, labels, "mia", "/offline-services/new")
    fill_basics(page, labels, MANUAL, "manual")
    tick(page, page.get_by_label(labels("Sync tags", where)))
    tick(page, page.locator("#tag-city"))
    choose_target(page, labels, schema, table)
    page.get_by_role("button", name=labels("Publish", where), exact=True).click()
    expect(page.locator("#publish-failures")).to_contain_text(
        f"mia has no write permission on {DS}:{schema}.{table}"
    )
    page.get_by_role("button", name=labels("Request permission", where), exact=True).click()
    dialog = page.get_by_role("dialog", name=labels("Request write permission", where))
    dialog.get_by_label(labels("Reason", where)).fill("daily CRM sync")
    dialog.get_by_role("button", name=labels("Send request", where), exact=True).click()
    expect(dialog.get_by_role("status")).to_be_visible()
    check_page(page, labels, axe)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    switch_user(page, console, labels, "dsa", "/permissions?tab=approve")
    row = page.get_by_role("row", name=re.compile(re.escape(f"{schema}.{table}")))
    check_page(page, labels, axe)
    row.get_by_role("button", name=labels("Approve", "permissions"), exact=True).click()
    expect(page.get_by_role("status").first).to_have_text(labels("Request approved."))

    switch_user(page, console, labels, "mia", f"/offline-services/{MANUAL}/edit")
    page.get_by_role("button", name=labels("Publish", where), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/offline-services/{MANUAL}$"))


def run_and_watch(page: Page, console: Console, labels: Labels, axe: Axe) -> None:
    page.goto(console.url + "/offline-services")
    check_page(page, labels, axe)
    row = page.locator(f'#task-list tr[data-task="{MANUAL}"]')
    row.get_by_role("button", name=labels("Run", "tasks"), exact=True).click()
    dialog = page.get_by_role("dialog", name=labels("Run {name}", "tasks", name=MANUAL))
    dialog.get_by_label(labels("Data timestamp", "tasks")).fill(DAYS[1].isoformat())
    dialog.get_by_role("button", name=labels("Run", "tasks"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/instances/\d+$"))
    expect(page.locator("#progress-bar")).to_have_attribute("value", "100", timeout=60_000)
    expect(page.locator("#progress .badge")).to_have_text(labels("Succeeded", "status"))
    expect(page.locator("#log")).to_contain_text("succeeded:")
    check_page(page, labels, axe)


def backfill_unpublish_delete(page: Page, console: Console, labels: Labels, axe: Axe) -> None:
    switch_user(page, console, labels, "operator", "/offline-services")
    row = page.locator(f'#task-list tr[data-task="{DAILY}"]')
    row.get_by_role("button", name=labels("Backfill", "tasks"), exact=True).click()
    dialog = page.get_by_role("dialog", name=labels("Backfill {name}", "tasks", name=DAILY))
    dialog.get_by_label(labels("From data timestamp", "tasks")).fill(DAYS[0].isoformat())
    dialog.get_by_label(labels("To data timestamp", "tasks")).fill(DAYS[-1].isoformat())
    dialog.get_by_label(labels("Parallel groups", "tasks")).fill("2")
    dialog.get_by_role("button", name=labels("Start backfill", "tasks"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/backfills/\d+$"))
    expect(page.locator("#backfill-status")).to_have_text(
        labels("Succeeded", "status"), timeout=90_000
    )
    expect(page.locator("#backfill tbody tr")).to_have_count(3)
    check_page(page, labels, axe)

    page.goto(console.url + "/offline-services")
    row = page.locator(f'#task-list tr[data-task="{DAILY}"]')
    row.get_by_role("button", name=labels("Unpublish", "tasks"), exact=True).click()
    expect(row).to_contain_text(labels("Offline", "status"))
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=labels("Delete", "tasks"), exact=True).click()
    expect(page.locator(f'#task-list tr[data-task="{DAILY}"]')).to_have_count(0)


def test_from_a_new_data_source_to_rows_in_postgresql(
    journey: tuple[Page, Labels],
    console: Console,
    world: str,
    workers: None,
    axe: Axe,
    db: Database,
    settings: Settings,
) -> None:
    page, labels = journey
    add_data_source(page, console, labels, axe)
    size = build_audience(page, console, labels, axe)
    table = create_daily_task(page, labels, world, axe)
    refused_then_granted(page, console, labels, world, axe)
    run_and_watch(page, console, labels, axe)
    backfill_unpublish_delete(page, console, labels, axe)

    members = {
        day: warehouse.estimate(settings, db, console.operator, AUDIENCE, day) for day in DAYS
    }
    assert members[DAYS[-1]] == size  # the size the page showed: yesterday's
    with psycopg.connect(PG_URL) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (world, table),
            )
        ]
        hangzhou = "SELECT count(*), count(*) FILTER (WHERE city = '571') FROM "
        daily = conn.execute(hangzhou + f'"{world}"."{table}"').fetchone()
        names = conn.execute(f'SELECT DISTINCT city_codename FROM "{world}"."{table}"').fetchall()
        crm = conn.execute(hangzhou + f'"{world}".{CRM_TABLE}').fetchone()
    assert {"user_id", "city", "city_codename", "total_spend"} <= set(columns)
    # The daily table holds one backfilled day (the group that finished last), all of Hangzhou.
    assert daily is not None and daily[0] == daily[1] and daily[0] in members.values()
    assert names == [("Hangzhou",)]
    assert crm == (members[DAYS[1]], members[DAYS[1]])  # mia's run, for the day she chose
