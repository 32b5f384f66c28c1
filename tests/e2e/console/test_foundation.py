"""The console's frame: logging in and out, the language, refusals, CSRF, accessibility."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.console.conftest import PASSWORD, Axe, Console, english_left, keyboard_unreachable

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_a_page_asks_for_a_login_and_comes_back_to_it(
    page: Page, console: Console, axe: Axe
) -> None:
    console.user("ana")
    page.goto(console.url + "/security?x=1")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsecurity%3Fx%3D1$"))
    axe(page)
    assert keyboard_unreachable(page) == []
    page.locator("#login").fill("ana")
    page.locator("#password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong login or password.")
    expect(page.locator("#login")).to_have_value("ana")  # nothing typed is lost
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(console.url + "/security?x=1")
    expect(page.get_by_role("heading", level=1)).to_have_text("Security settings")


def test_log_out_ends_the_session(page: Page, console: Console) -> None:
    console.log_in(page, path="/security")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(console.url + "/login")
    page.goto(console.url + "/security")
    expect(page).to_have_url(re.compile("/login"))


def test_the_language_follows_the_browser_then_the_users_choice(
    browser: Browser, console: Console
) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(console.url + "/login")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    console.log_in(page, path="/security")
    expect(page.get_by_role("heading", level=1)).to_have_text("安全设置")
    # The page shows before its deferred script wires the select to submit on change.
    expect(page.get_by_label("语言")).to_have_attribute("data-wired", "1")
    page.get_by_label("语言").select_option("en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Security settings")
    page.reload()  # the user's choice wins over the browser's (still asking for Chinese)
    expect(page.get_by_role("heading", level=1)).to_have_text("Security settings")
    context.close()


def test_a_refusal_is_shown_in_the_page_not_as_a_traceback(page: Page, console: Console) -> None:
    console.user("mia")
    console.log_in(page, "mia", path="/security")  # not a super admin: may look, not change
    page.get_by_label("Cross-project safe mode for every project").check()
    page.get_by_role("button", name="Save").first.click()
    alert = page.locator("#flash [role=alert]")
    expect(alert).to_contain_text("Refused:")
    expect(alert).to_contain_text("super admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Security settings")


def test_safe_mode_is_set_from_the_page(
    page: Page, console: Console, axe: Axe, catalogued: object
) -> None:
    console.log_in(page, path="/security")
    axe(page)
    assert keyboard_unreachable(page) == []
    page.get_by_label("Cross-project safe mode for every project").check()
    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    page.get_by_label("Safe mode of project tag_prod").select_option("off")
    page.get_by_role("row", name="tag_prod").get_by_role("button", name="Save").click()
    expect(page.get_by_role("row", name="tag_prod")).to_contain_text("Off")
    page.reload()
    expect(page.get_by_label("Cross-project safe mode for every project")).to_be_checked()


def test_the_security_page_in_chinese_shows_no_english_label(
    zh_page: Page, console: Console, axe: Axe
) -> None:
    console.log_in(zh_page, path="/security")
    expect(zh_page.get_by_role("heading", level=1)).to_have_text("安全设置")
    assert english_left(zh_page) == []
    axe(zh_page)


def test_an_unsafe_request_without_the_csrf_token_is_refused(console: Console) -> None:
    console.user("operator")
    with httpx.Client(base_url=console.url, timeout=30) as http:
        logged = http.post("/login", data={"login": "operator", "password": PASSWORD})
        assert logged.status_code == 303
        forged = http.post("/security", data={"safe_mode": "true"})
        assert forged.status_code == 403
        assert "this form has expired" in forged.text
        assert "Traceback" not in forged.text


def test_a_login_never_sends_the_browser_elsewhere(console: Console) -> None:
    console.user("operator")
    with httpx.Client(base_url=console.url, timeout=30) as http:
        answer = http.post(
            "/login",
            data={"login": "operator", "password": PASSWORD, "next": "//evil.example/x"},
        )
        assert answer.headers["location"] == "/offline-services"


def test_an_unknown_page_is_a_page_not_a_problem_document(page: Page, console: Console) -> None:
    console.log_in(page, path="/security")
    answer = page.goto(console.url + "/no-such-page")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Error 404")
