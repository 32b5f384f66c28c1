"""The offline service form in the browser: create a task with tags and code names into
PostgreSQL, create its table in one click from an edited statement, publish; a member without
write permission sees the refusal and requests the permission; the name is checked as it is
typed; a refused save keeps the input; editing a published task shows what differs."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tagport.config import Settings
from tagport.domain.catalog import ApplicationSpec, DataSourceSpec, ServiceKind
from tagport.domain.states import TaskStatus
from tagport.domain.tasks import OfflineServiceSpec
from tagport.services import catalog, permission_requests, publication, targets, tasks
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef
from tagport.services.users import actor_for
from tagport.services.warehouse import build_demo
from tagport.store.db import Database
from tests.conftest import PG_URL
from tests.e2e.console.conftest import (
    Axe,
    Console,
    choose,
    english_left,
    keyboard_unreachable,
    rerendered,
    tick,
)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
SHOTS = Path(__file__).parents[3] / "docs" / "screenshots"
DS = "pg_crm"
NEW = "/offline-services/new"


def screenshot(page: Page, name: str) -> None:
    """The page as docs/screenshots/<name>.png, when TAGPORT_SCREENSHOTS=1."""
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


@pytest.fixture
def world(
    console: Console, settings: Settings, db: Database, operator: Actor, pg_schema: str
) -> str:
    """The demo warehouse (2,000 users, audiences estimated), application demo_app with member
    mia, and the PostgreSQL test database as data source pg_crm; returns the test's schema."""
    console.user("mia")
    settings.ensure_home()
    build_demo(settings, db, operator, 2000, date.today())
    app = ApplicationSpec(
        name="demo_app",
        project="tag_prod",
        services=[ServiceKind.AUDIENCE_OFFLINE],
        admins=["operator"],
        members=["mia"],
    )
    source = DataSourceSpec(
        name=DS,
        type="postgresql",
        host="127.0.0.1",
        port=5432,
        database=PG_URL.rsplit("/", 1)[-1],
        username="postgres",
        owner="operator",
    )
    for spec in (app, source):
        catalog.create(db, operator, spec)
    return pg_schema


def open_form(page: Page, console: Console, login: str = "operator", path: str = NEW) -> None:
    """Log in to the form and wait for its scripts (typing before them would not be seen)."""
    console.log_in(page, login, path=path)
    page.wait_for_load_state("load")


def pick(page: Page, label: str, value: str) -> None:
    """Choose `value` in the select labelled `label` (and let the form re-render)."""
    choose(page, page.get_by_label(label, exact=True), value)


def check(page: Page, selector: str) -> None:
    tick(page, page.locator(selector))


def choose_target(page: Page, schema: str, table: str | None = None) -> None:
    """Pick the PostgreSQL data source by its type, the test's schema and (maybe) a table."""
    pick(page, "Target data source type", "postgresql")
    pick(page, "Target data source", DS)
    pick(page, "Schema", schema)
    if table is not None:
        expect(page.get_by_label("Target table")).to_contain_text(table)
        pick(page, "Target table", table)


def fill_basics(page: Page, name: str) -> None:
    page.get_by_label("Task name").fill(name)
    expect(page.locator("#name-check")).to_have_text(f"{name} is available.")
    pick(page, "Application", "demo_app")
    pick(page, "Audience group", "big_spenders")
    expect(page.locator("#audience-facts")).to_contain_text("Entity user, entity ID user_id")


def table_comment(schema: str, table: str) -> str | None:
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        ).fetchone()
    return row[0] if row else None


def test_create_with_tags_and_code_names_create_the_table_in_one_click_and_publish(
    page: Page, console: Console, world: str, db: Database, axe: Axe
) -> None:
    open_form(page, console)
    fill_basics(page, "vip_to_pg")
    for box in ("#sync_tags", "#tag-city", "#out-city-codename", "#tag-total_spend"):
        check(page, box)
    choose_target(page, world)
    axe(page)
    assert keyboard_unreachable(page) == []
    page.get_by_role("button", name="One-click table creation").click()
    dialog = page.get_by_role("dialog", name="One-click table creation")
    expect(dialog).to_be_visible()
    statement = page.get_by_label("CREATE TABLE statement")
    sql = statement.input_value()
    assert "city_codename" in sql and "total_spend" in sql and "COMMENT ON TABLE" in sql, sql
    screenshot(page, "task-form-create-table")
    statement.fill(sql + ";\nDROP TABLE other")  # checked before it runs: refused
    page.get_by_role("button", name="Create table").click()
    expect(dialog.locator("#sql-error")).to_be_visible()
    expect(statement).to_have_value(sql + ";\nDROP TABLE other")  # kept, to be corrected
    edited = re.sub(r"(COMMENT ON TABLE .*? IS ')[^']*'", r"\1Big spenders for the CRM'", sql)
    assert edited != sql
    statement.fill(edited)
    page.get_by_role("button", name="Create table").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text("created and the fields mapped by same name")
    table = page.get_by_label("Target table").input_value()
    assert table_comment(world, table) == "Big spenders for the CRM"
    grid = page.locator("#mapping-grid")
    expect(grid).to_contain_text("No explicit mapping")
    expect(grid.get_by_role("row", name="city_codename")).to_contain_text("city_codename")
    page.locator("#mapping-grid").scroll_into_view_if_needed()
    screenshot(page, "task-form-mapping")
    page.locator("#main").evaluate("main => window.scrollTo(0, 0)")
    screenshot(page, "task-form")
    with rerendered(page):
        grid.get_by_role("button", name="Same-name mapping").click()
    expect(page.locator("#map-city_codename")).to_have_value("city_codename")
    expect(grid).to_contain_text("Fields are mapped as chosen below")
    with rerendered(page):
        grid.get_by_role("button", name="Purge mapping").click()
    expect(page.locator("#map-city_codename")).to_have_value("")
    with rerendered(page):
        grid.get_by_role("button", name="Same-name mapping").click()
    expect(page.locator("#map-total_spend")).to_have_value("total_spend")
    page.locator("#map-total_spend").select_option("")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#publish-failures")).to_contain_text(
        "exported field total_spend is not mapped to a column of vip_to_pg"
    )
    page.locator("#map-total_spend").select_option("total_spend")
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(console.url + "/offline-services/vip_to_pg")
    detail = tasks.task_detail(db, console.operator, "vip_to_pg")
    assert detail.status == TaskStatus.PUBLISHED, detail.failure_reasons
    published = OfflineServiceSpec.model_validate(detail.published)
    assert [(t.tag, [o.value for o in t.outputs]) for t in published.tags] == [
        ("city", ["value", "codename"]),
        ("total_spend", ["value"]),
    ]
    assert published.target.table == table and published.target.schema_ == world
    assert isinstance(published.mapping, list)
    assert [(m.source, m.target) for m in published.mapping] == [
        ("user_id", "user_id"),
        ("city", "city"),
        ("city_codename", "city_codename"),
        ("total_spend", "total_spend"),
    ]


def test_a_member_without_write_permission_sees_the_refusal_and_requests_it(
    page: Page, console: Console, world: str, db: Database
) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{world}".vip_list (user_id bigint, ds text, '
            "PRIMARY KEY (user_id, ds)) PARTITION BY LIST (ds)"
        )
    open_form(page, console, "mia")
    fill_basics(page, "mia_vips")
    choose_target(page, world, "vip_list")
    expect(page.get_by_label("Date partition field")).to_have_value("ds")  # its partition column
    page.get_by_label("Partition field format").select_option("yyyy-MM-dd")
    refusal = f"mia has no write permission on {DS}:{world}.vip_list; request it"
    expect(page.locator("#permission")).to_contain_text(refusal)
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#publish-failures")).to_contain_text(refusal)
    expect(page).to_have_url(console.url + "/offline-services/mia_vips/edit")
    page.get_by_role("button", name="Request permission").click()
    dialog = page.get_by_role("dialog", name="Request write permission")
    dialog.get_by_role("button", name="Send request").click()  # no reason given
    expect(dialog.locator("#reason-error")).to_contain_text("say why")
    dialog.get_by_label("Reason").fill("daily CRM sync of the VIPs")
    dialog.get_by_label("Period").select_option("90")
    dialog.get_by_role("button", name="Send request").click()
    expect(dialog.get_by_role("status")).to_contain_text("waits for the data source owner")
    mia = actor_for(db, "mia")
    [asked] = permission_requests.list_requests(db, mia, status="pending")
    assert asked.table == TableRef(DS, world, "vip_list")
    assert (asked.days, asked.reason) == (90, "daily CRM sync of the VIPs")
    target = tasks.task_detail(db, mia, "mia_vips").draft["target"]
    assert (target["partition_field"], target["partition_format"]) == ("ds", "yyyy-MM-dd")


def test_the_name_is_checked_as_it_is_typed_and_a_refused_save_keeps_the_input(
    page: Page, console: Console, world: str
) -> None:
    open_form(page, console)
    name = page.get_by_label("Task name")
    name.fill("vip list")
    expect(page.locator("#name-check")).to_contain_text("breaks the naming rule")
    name.fill("杭州_会员")
    expect(page.locator("#name-check")).to_have_text("杭州_会员 is available.")
    page.get_by_label("Application").select_option("demo_app")
    page.get_by_label("Search owners by keyword").fill("mi")
    owner = page.get_by_label("Owner", exact=True)
    expect(owner.locator("option")).to_have_text(["operator", "mia · mia"])  # the chosen one stays
    owner.select_option("mia")
    page.get_by_label("Description").fill("VIPs for the CRM")
    expect(page.locator("#description-count")).to_have_text("16 / 1000")
    pick(page, "Schedule type", "recurring")
    page.get_by_label("Daily run time").fill("04:30")
    page.get_by_role("button", name="Save as draft").click()  # no audience, no data source
    expect(page.locator("#audience-error")).to_have_text("Field required")
    expect(page.locator("#datasource-error")).to_be_visible()
    expect(page.get_by_label("Audience group")).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_value("杭州_会员")
    expect(page.get_by_label("Description")).to_have_value("VIPs for the CRM")
    expect(page.get_by_label("Daily run time")).to_have_value("04:30")
    expect(page.get_by_label("Application")).to_have_value("demo_app")
    expect(page.get_by_label("Owner", exact=True)).to_have_value("mia")
    expect(page).to_have_url(console.url + NEW)


def _published_task(db: Database, settings: Settings, operator: Actor, schema: str) -> None:
    """vip_daily: made, its table created in one click, published (as the operator)."""
    spec = OfflineServiceSpec.model_validate(
        {
            "name": "vip_daily",
            "application": "demo_app",
            "owner": "operator",
            "schedule": {"type": "recurring", "at": "03:00"},
            "audience": "big_spenders",
            "description": "first version",
            "target": {"datasource": DS, "schema": schema},
        }
    )
    tasks.create_task(db, operator, spec)
    targets.create_table(db, settings, operator, "vip_daily")
    publication.request_publish(db, operator, "vip_daily")
    result = publication.complete_publication(
        db, "vip_daily", targets.TargetAccess(settings).describe
    )
    assert result.status is TaskStatus.PUBLISHED, result.problems


def test_editing_a_published_task_shows_what_differs_from_the_published_version(
    page: Page, console: Console, world: str, db: Database, settings: Settings
) -> None:
    _published_task(db, settings, console.operator, world)
    open_form(page, console, path="/offline-services/vip_daily/edit")
    expect(page.get_by_label("Task name")).to_have_attribute("readonly", "")
    expect(page.get_by_label("Schedule type")).to_be_disabled()
    expect(page.locator("#changes")).to_have_count(0)
    page.get_by_label("Description").fill("second version")
    page.get_by_label("Daily run time").fill("05:15")
    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_url(console.url + "/offline-services/vip_daily")
    page.goto(console.url + "/offline-services/vip_daily/edit")
    changes = page.locator("#changes")
    expect(changes).to_contain_text('description: "first version" -> "second version"')
    expect(changes).to_contain_text('schedule.at: "03:00" -> "05:15"')
    detail = tasks.task_detail(db, console.operator, "vip_daily")
    assert detail.status == TaskStatus.PUBLISHED and detail.published is not None
    assert detail.published["description"] == "first version"  # it runs until published
    assert detail.draft["description"] == "second version"


def test_the_form_in_chinese_shows_no_english_label(
    zh_page: Page, console: Console, world: str, axe: Axe
) -> None:
    page = zh_page
    open_form(page, console)
    expect(page.get_by_role("heading", level=1)).to_have_text("新建离线服务")
    page.get_by_label("任务名称").fill("会员导出")
    pick(page, "应用", "demo_app")
    pick(page, "人群", "big_spenders")
    for box in ("#sync_tags", "#tag-city"):
        check(page, box)
    pick(page, "目标数据源", DS)
    pick(page, "模式（Schema）", world)
    expect(page.locator("#mapping-grid")).to_contain_text("请选择或创建目标表")
    assert english_left(page) == []
    axe(page)
    page.get_by_role("button", name="一键建表").click()
    expect(page.get_by_role("dialog", name="一键建表")).to_be_visible()
    assert english_left(page) == []
    axe(page)
