"""The users page in a browser: a super admin adds a user, sets roles and a password, adds a
service account; a refused form keeps what was typed; anyone else is refused the page."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.console.conftest import Axe, Console, english_left, keyboard_unreachable

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_a_super_admin_adds_a_user_sets_roles_and_password(
    page: Page, console: Console, axe: Axe, catalogued: object
) -> None:
    console.log_in(page, path="/users")
    axe(page)
    assert keyboard_unreachable(page) == []
    page.locator("#user-login").fill("alice")  # exists already: refused, input kept
    page.locator("#user-display").fill("Alice Again")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#login-error")).to_have_text("a user with this login exists")
    expect(page.locator("#user-display")).to_have_value("Alice Again")

    page.locator("#user-login").fill("nina")
    page.locator("#user-display").fill("Nina Zhao")
    page.locator("#new-role-datasource_admin").check()
    page.get_by_role("button", name="Add user").click()
    expect(page).to_have_url(re.compile(r"/users\?search=nina&done=user$"))
    row = page.get_by_role("row", name=re.compile("^nina"))
    expect(row.get_by_label("Data source admin")).to_be_checked()
    row.get_by_label("Super admin").check()
    row.get_by_role("button", name="Save roles").click()
    row = page.get_by_role("row", name=re.compile("^nina"))
    expect(row.get_by_role("status")).to_have_text("Roles saved.")
    expect(row.get_by_label("Super admin")).to_be_checked()

    row.get_by_label("New password for nina").fill("short")
    row.get_by_role("button", name="Set password").click()
    expect(row.get_by_role("alert")).to_have_text("must have at least 10 characters")
    row.get_by_label("New password for nina").fill("a long enough password")
    row.get_by_role("button", name="Set password").click()
    expect(row.get_by_role("status")).to_have_text("Password set.")
    expect(row).to_contain_text("A password is set.")

    page.locator("#service-login").fill("etl-bot")
    page.get_by_role("button", name="Add service account").click()
    bot = page.get_by_role("row", name=re.compile("^etl-bot"))
    expect(bot).to_contain_text("Signs in with API tokens only.")
    page.get_by_label("Login or display name").fill("")
    page.get_by_role("button", name="Search").click()
    if os.environ.get("TAGPORT_SCREENSHOTS") == "1":
        page.screenshot(path="docs/screenshots/users.png", full_page=False)


def test_the_users_page_is_refused_to_a_non_admin(page: Page, console: Console) -> None:
    console.user("mia")
    console.log_in(page, "mia", "/datasources")
    expect(page.locator("nav.side")).not_to_contain_text("Users")
    answer = page.goto(console.url + "/users")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("mia may not manage users")
    expect(page.locator("table")).to_have_count(0)


def test_the_users_page_in_chinese(zh_page: Page, console: Console, axe: Axe) -> None:
    console.log_in(zh_page, path="/users")
    expect(zh_page.get_by_role("heading", level=1)).to_have_text("用户")
    assert english_left(zh_page) == []
    axe(zh_page)
