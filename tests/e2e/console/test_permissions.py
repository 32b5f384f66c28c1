"""The permission workflow in a browser: a member requests write permission on a table, the data
source owner rejects one request (a comment is required) and approves another, the member sees
the grant with its expiry, filters those expiring soon, and returns it; the task list warns
of a permission that ends within a week, then says when it ended."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from tagport.services import publication
from tagport.services.table_permissions import TableRef, grant
from tagport.services.users import actor_for
from tagport.store import tables as t
from tagport.targets.base import ColumnInfo, TableInfo
from tests.e2e.console.conftest import Axe, Console, english_left, keyboard_unreachable
from tests.integration.support import describe_as

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _request(page: Page, console: Console, table: str, reason: str) -> None:
    page.goto(f"{console.url}/permissions/new?datasource=crm_pg&schema=public&table={table}")
    page.get_by_label("Reason").fill(reason)
    page.get_by_label("Period").select_option("30")
    page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_role("status").first).to_have_text("Request sent.")


def _switch_user(page: Page, console: Console, login: str, path: str) -> None:
    page.get_by_role("button", name="Log out").click()
    console.log_in(page, login, path)


def test_a_request_is_decided_by_the_data_source_owner_and_the_grant_returned(
    page: Page, console: Console, axe: Axe, catalogued: object
) -> None:
    console.user("mia")
    console.user("alice")  # owns crm_pg in the examples
    console.log_in(page, "mia", "/permissions/new?datasource=crm_pg&schema=public&table=hz_vip")
    expect(page.get_by_label("Data source")).to_have_value("crm_pg")
    page.get_by_role("button", name="Send the request").click()  # no reason: refused
    expect(page.locator("#reason-error")).to_contain_text("say why")
    expect(page.get_by_label("Table")).to_have_value("hz_vip")  # nothing typed is lost
    page.get_by_label("Reason").fill("Export the Hangzhou VIPs")
    page.get_by_role("button", name="Send the request").click()
    expect(page).to_have_url(re.compile(r"/permissions\?tab=mine&done=requested$"))
    _request(page, console, "other", "Another export")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.get_by_role("row", name=re.compile("hz_vip"))).to_contain_text("Pending")
    axe(page)
    assert keyboard_unreachable(page) == []

    _switch_user(page, console, "alice", "/permissions?tab=approve")
    other = page.get_by_role("row", name=re.compile("crm_pg:public.other"))
    other.get_by_role("button", name="Reject").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Reject").click()  # without a comment: refused in place
    expect(dialog.get_by_role("alert")).to_have_text("say why it is rejected")
    dialog.get_by_label("Why it is rejected (required)").fill("Use the staging table")
    dialog.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status").first).to_have_text("Request rejected.")
    page.get_by_role("row", name=re.compile("hz_vip")).get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").first).to_have_text("Request approved.")
    expect(page.locator("tbody")).to_contain_text("No request here.")  # none pending now
    page.get_by_label("Status").select_option("all")
    expect(page).to_have_url(re.compile(r"status=all"))
    expect(page.get_by_role("row", name=re.compile("hz_vip"))).to_contain_text("Approved")
    expect(page.get_by_role("row", name=re.compile("other"))).to_contain_text(
        "Use the staging table"
    )

    grant(console.db, console.operator, "mia", TableRef("crm_pg", "public", "soon"), 3)
    _switch_user(page, console, "mia", "/permissions?tab=grants")
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_label("Expiring within 7 days").check()
    expect(page).to_have_url(re.compile(r"expiring=1"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("crm_pg:public.soon")
    expect(page.locator("tbody")).to_contain_text("Expires soon")
    page.get_by_label("Expiring within 7 days").uncheck()
    row = page.get_by_role("row", name=re.compile("hz_vip"))
    expect(row).to_contain_text("Approved request")
    row.get_by_role("button", name="Return").click()
    expect(page.get_by_role("status").first).to_have_text("Permission returned.")
    row = page.get_by_role("row", name=re.compile("hz_vip"))
    expect(row).to_contain_text("Returned")
    expect(row.get_by_role("button", name="Return")).to_be_disabled()
    expect(row.get_by_role("link", name="Renew")).to_have_attribute(
        "href", re.compile(r"datasource=crm_pg&schema=public&table=hz_vip&renew=1")
    )
    axe(page)
    assert keyboard_unreachable(page) == []
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.screenshot(path="docs/screenshots/permissions.png", full_page=False)


def test_the_permissions_pages_in_chinese(
    zh_page: Page, console: Console, axe: Axe, catalogued: object
) -> None:
    grant(console.db, console.operator, "operator", TableRef("crm_pg", "public", "hz_vip"), 3)
    console.log_in(zh_page, path="/permissions?tab=grants")
    expect(zh_page.get_by_role("heading", level=1)).to_have_text("权限")
    assert english_left(zh_page) == []
    axe(zh_page)
    zh_page.get_by_role("link", name="续期").click()
    expect(zh_page.get_by_role("heading", level=1)).to_have_text("续期写权限")
    assert english_left(zh_page) == []
    axe(zh_page)


def test_the_task_list_warns_a_week_before_a_write_permission_ends_then_says_it_ended(
    page: Page, console: Console, catalogued: object
) -> None:
    task = "杭州会员导出"  # bob's, writing crm_mysql:seed_users (the examples)
    seed = TableInfo(None, "seed_users", (ColumnInfo("uid", "bigint", False),), ("uid",))
    console.user("bob")
    grant(console.db, console.operator, "bob", TableRef("crm_mysql", "", "seed_users"), 3)
    publication.request_publish(console.db, actor_for(console.db, "bob"), task)
    publication.complete_publication(console.db, task, describe_as(seed))
    console.log_in(page, "bob", "/offline-services?mine=1")
    warning = page.get_by_role("note").filter(has_text="Write permission")
    expect(warning).to_contain_text("write permission on crm_mysql:seed_users expires on")

    ended = t.utcnow() - timedelta(hours=1)
    with console.db.uow() as uow:
        uow.session.execute(update(t.TablePermission).values(expires_at=ended))
        uow.commit()
    page.reload()
    expect(warning).to_contain_text(
        f"write permission on crm_mysql:seed_users expired on {ended:%Y-%m-%d %H:%M}"
    )
