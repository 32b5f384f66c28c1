"""The data sources page in a browser: create one, test it (the server's version, or why it
could not connect), a refused save keeping what was typed, filters in the URL."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tagport.domain.catalog import DataSourceSpec, DataSourceType, Role
from tagport.services import catalog
from tests.e2e.console.conftest import Axe, Console, english_left, keyboard_unreachable

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _add_down_source(console: Console) -> None:
    """A PostgreSQL data source on a port nobody listens on."""
    spec = DataSourceSpec(
        name="down",
        type=DataSourceType.POSTGRESQL,
        host="127.0.0.1",
        port=1,
        database="nowhere",
        username="postgres",
        owner="operator",
    )
    catalog.create(console.db, console.operator, spec)


def test_a_data_source_is_created_and_its_connection_tested(
    page: Page, console: Console, axe: Axe, pg_url: str
) -> None:
    server = urlsplit(pg_url)
    console.user("dsa", (Role.DATASOURCE_ADMIN,))
    console.log_in(page, "dsa", "/datasources")
    page.get_by_role("link", name="New data source").click()
    axe(page)
    assert keyboard_unreachable(page) == []
    page.get_by_label("Name").fill("crm_pg")
    page.get_by_label("Type").select_option("postgresql")
    page.get_by_label("Host").fill(server.hostname or "127.0.0.1")
    page.get_by_label("Database").fill("")  # forgotten: refused, beside the field
    page.get_by_label("User", exact=True).fill(server.username or "postgres")
    page.get_by_label("Password").fill("not-a-real-secret")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#database-error")).to_have_text("required for a postgresql data source")
    expect(page.get_by_label("Name")).to_have_value("crm_pg")  # what was typed is kept
    expect(page.get_by_label("Host")).to_have_value(server.hostname or "127.0.0.1")

    page.get_by_label("Port").fill(str(server.port or 5432))
    page.get_by_label("Database").fill(server.path.lstrip("/"))
    page.get_by_label("Password").fill("not-a-real-secret")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/datasources/crm_pg\?saved=1$"))
    expect(page.get_by_role("status").first).to_have_text("Saved.")
    expect(page.locator("#password-state")).to_contain_text("A password is set")
    expect(page.get_by_label("Password")).to_have_value("")  # never shown back
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text(re.compile(r"Server version: \d"))
    axe(page)
    assert keyboard_unreachable(page) == []
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.screenshot(path="docs/screenshots/datasource-form.png", full_page=False)


def test_a_failing_connection_shows_why_and_the_list_keeps_its_filters(
    page: Page, console: Console, catalogued: object
) -> None:
    _add_down_source(console)
    console.log_in(page, path="/datasources")
    row = page.get_by_role("row", name=re.compile("^down"))
    row.get_by_role("button", name="Test connection").click()
    result = row.get_by_role("status")
    expect(result).to_contain_text("Could not connect:")
    expect(result).to_contain_text(re.compile("refused|connect", re.I))
    expect(page.locator("body")).not_to_contain_text("Traceback")

    page.get_by_label("Type").select_option("mysql")
    expect(page).to_have_url(re.compile(r"type=mysql"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("crm_mysql")
    page.get_by_label("Search").fill("nothing-like-this")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody")).to_contain_text("No data source matches.")
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.goto(console.url + "/datasources")
        page.screenshot(path="docs/screenshots/datasources.png", full_page=False)


def test_a_member_sees_the_new_and_edit_actions_disabled_with_the_reason(
    page: Page, console: Console, catalogued: object
) -> None:
    console.user("mia")
    console.log_in(page, "mia", "/datasources")
    new = page.locator("#new-datasource")
    expect(new).to_be_disabled()
    new.hover()
    expect(page.locator("#why-new-datasource")).to_contain_text("only a data source admin")
    row = page.get_by_role("row", name=re.compile("^crm_pg"))
    row.get_by_role("button", name="Edit").hover()
    expect(row.get_by_role("tooltip")).to_contain_text("mia may not change data source crm_pg")


def test_the_data_sources_page_in_chinese(
    zh_page: Page, console: Console, axe: Axe, catalogued: object
) -> None:
    console.log_in(zh_page, path="/datasources")
    expect(zh_page.get_by_role("heading", level=1)).to_have_text("数据源")
    assert english_left(zh_page) == []
    axe(zh_page)
    zh_page.goto(console.url + "/datasources/crm_pg")
    assert english_left(zh_page) == []
    axe(zh_page)
