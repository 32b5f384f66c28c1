"""Audience groups in a browser, on the demo warehouse: a rule built row by row and estimated
before it is saved, a group imported from a file (a bad file refused line by line), an SQL
group, the list's filters in the URL, and the pages in Chinese."""

from __future__ import annotations

import os
import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tagport.config import Settings
from tagport.services import warehouse
from tagport.services.permissions import Actor
from tagport.services.warehouse import DemoResult, build_demo
from tagport.store.db import Database
from tests.e2e.console.conftest import Axe, Console, english_left, keyboard_unreachable

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def demo(settings: Settings, db: Database, operator: Actor) -> DemoResult:
    """200 demo users over the two days before today (yesterday is the default bizdate)."""
    return build_demo(settings, db, operator, 200, date.today())


def test_a_rule_audience_is_built_estimated_and_saved(
    page: Page, console: Console, axe: Axe, demo: DemoResult, settings: Settings
) -> None:
    console.log_in(page, path="/audience-groups/new")
    page.get_by_label("Code").fill("hz_adults")
    page.get_by_label("Name", exact=True).fill("Hangzhou adults")
    page.get_by_label("Tag of condition 1").select_option("city")
    page.get_by_label("Value of condition 1").fill("571")
    page.get_by_role("button", name="Add a condition").click()
    expect(page.get_by_label("Value of condition 1")).to_have_value("571")  # kept
    page.get_by_label("Tag of condition 2").select_option("age")
    page.get_by_label("Operator of condition 2").select_option(">=")
    page.get_by_label("Value of condition 2").fill("30")
    page.get_by_role("button", name="Estimate").click()
    estimate = page.locator("#estimate [role=status]")
    expect(estimate).to_contain_text(re.compile(r"Estimated size on \d{4}-\d\d-\d\d: [\d,]+$"))
    shown = int(estimate.inner_text().rsplit(": ", 1)[1].replace(",", ""))
    assert shown > 0
    axe(page)
    assert keyboard_unreachable(page) == []
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path="docs/screenshots/audience-group-rule.png", full_page=False)

    page.get_by_label("Value of condition 2").fill("thirty")
    page.get_by_role("button", name="Save").click()  # refused beside the row
    expect(page.locator("#row_1-error")).to_contain_text("'thirty' is not a whole number")
    expect(page.get_by_label("Code")).to_have_value("hz_adults")
    page.get_by_label("Value of condition 2").fill("30")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/audience-groups/hz_adults\?created=1$"))
    expect(page.get_by_role("status").first).to_have_text("Audience group created.")
    expect(page.locator("ul.conditions")).to_contain_text("age at least 30")
    members = page.locator("table.members tbody tr")
    expect(members).to_have_count(min(shown, 20))
    assert (
        warehouse.estimate(settings, console.db, console.operator, "hz_adults", demo.days[-1])
        == shown
    )
    page.get_by_role("button", name="Estimate").click()
    expect(page.locator("#estimate")).to_contain_text(f"{shown:,}")
    axe(page)
    assert keyboard_unreachable(page) == []


def test_a_group_is_imported_from_a_file_and_a_bad_file_is_refused_line_by_line(
    page: Page, console: Console, demo: DemoResult
) -> None:
    console.log_in(page, path="/audience-groups/new?kind=import")
    page.get_by_label("Code").fill("picked")
    page.get_by_label("Name", exact=True).fill("Picked by hand")
    page.get_by_role("button", name="Save").click()  # no file chosen
    expect(page.locator("#file-error")).to_have_text("choose a .csv or .txt file of IDs")
    page.get_by_label("File of IDs").set_input_files(
        files=[{"name": "ids.txt", "mimeType": "text/plain", "buffer": b"5\n7\n7\n"}]
    )
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/audience-groups/picked\?created=1$"))
    expect(page.locator("table.members tbody")).to_have_text(re.compile(r"1\s*5\s*2\s*7"))
    page.get_by_label("Replace the file of IDs").set_input_files(
        files=[{"name": "ids.csv", "mimeType": "text/csv", "buffer": b"user_id\n1\nseven\n"}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#file-error")).to_have_text("line 3: 'seven' is not a bigint ID")
    expect(page.locator("table.members tbody tr")).to_have_count(2)  # nothing changed
    page.get_by_label("Replace the file of IDs").set_input_files(
        files=[{"name": "ids.txt", "mimeType": "text/plain", "buffer": b"1\n2\n2\n3\n"}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status").first).to_have_text(
        "File loaded: 3 IDs (1 duplicate lines skipped)."
    )


def test_an_sql_group_is_estimated_and_the_list_filters_by_kind(
    page: Page, console: Console, demo: DemoResult
) -> None:
    console.log_in(page, path="/audience-groups/new?kind=sql")
    page.get_by_label("SQL", exact=True).fill("DELETE FROM tag_prod.user_orders")
    page.get_by_role("button", name="Estimate").click()
    expect(page.locator("#estimate [role=alert]")).to_contain_text("Cannot estimate:")
    page.get_by_label("Code").fill("buyers")
    page.get_by_label("Name", exact=True).fill("Buyers")
    page.get_by_label("SQL", exact=True).fill(
        "SELECT user_id FROM tag_prod.user_orders WHERE ds = '${bizdate}'"
    )
    page.get_by_role("button", name="Estimate").click()
    expect(page.locator("#estimate [role=status]")).to_contain_text("Estimated size on")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/audience-groups/buyers\?created=1$"))

    page.goto(console.url + "/audience-groups")
    expect(page.locator("tbody tr")).to_have_count(4)
    page.get_by_label("Defined by").select_option("sql")
    expect(page).to_have_url(re.compile(r"kind=sql"))
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_role("link", name="Name").click()  # sorted by name, the filter kept
    expect(page).to_have_url(re.compile(r"kind=sql.*sort=name|sort=name.*kind=sql"))
    expect(page.locator("tbody tr").first).to_contain_text("Big spenders")
    page.get_by_label("Search").fill("buy")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.goto(console.url + "/audience-groups")
        page.screenshot(path="docs/screenshots/audience-groups.png", full_page=False)


def test_the_audience_group_pages_in_chinese(
    zh_page: Page, console: Console, axe: Axe, demo: DemoResult
) -> None:
    console.log_in(zh_page, path="/audience-groups")
    expect(zh_page.get_by_role("heading", level=1)).to_have_text("人群")
    for path in ("/audience-groups", "/audience-groups/new", "/audience-groups/big_spenders"):
        zh_page.goto(console.url + path)
        assert english_left(zh_page) == [], path
        axe(zh_page)
