"""The console in a real browser: Playwright drives Debian's chromium (never `playwright
install`) against the app served by uvicorn on a free port (`api_url`), on SQLite metadata
unless a test asks for PostgreSQL.

`console.user(login, roles)` makes a user with a password, `console.log_in(page, login)` logs
in as a user would, `axe(page)` fails on a serious or critical accessibility violation.
Labels missing from a catalogue fail the page (the app runs with strict messages).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tagport.domain.catalog import Role, UserSpec
from tagport.services import users
from tagport.services.permissions import Actor
from tagport.store.db import Database
from tagport.web.i18n import catalogue
from tests.e2e.api.conftest import (  # noqa: F401  (the served app, the metadata fixtures)
    api_url,
    catalogued,
    client,
    db,
    db_url,
    leaks,
    operator,
    pg_store,
    pg_templates,
    secret,
    settings,
    sqlite_templates,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
AXE = Path(__file__).parents[3] / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "console-test-password"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object]) -> dict[str, object]:
    """pytest-playwright launches Debian's chromium, not a downloaded one."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, object]) -> dict[str, object]:
    """English unless a test asks otherwise; a window wide enough for the task list."""
    return {
        **browser_context_args,
        "locale": "en-US",
        "viewport": {"width": 1400, "height": 900},
    }


@dataclass
class Console:
    """The served console and the users a test logs in as."""

    url: str
    db: Database
    operator: Actor

    def user(self, login: str, roles: tuple[Role, ...] = ()) -> str:
        """A user `login` with `roles` and the test password (made once); returns the login."""
        if not any(u.name == login for u in users.search(self.db, login)):
            users.add_user(self.db, self.operator, UserSpec(name=login, roles=list(roles)))
        users.set_password(self.db, self.operator, login, PASSWORD)
        return login

    def log_in(self, page: Page, login: str = "operator", path: str = "/") -> None:
        """Log in through the login page, as a user would, and land on `path`."""
        self.user(login)
        page.goto(self.url + path)
        page.locator("#login").fill(login)
        page.locator("#password").fill(PASSWORD)
        page.locator("form button[type=submit]").click()
        expect(page.locator("nav.side")).to_be_visible()
        # The page shows before its deferred scripts run (they wire selects that submit on
        # change, dialogs, live logs): a test acting at once would act on a page without them.
        page.wait_for_load_state("domcontentloaded")


@pytest.fixture
def console(api_url: str, db: Database, operator: Actor) -> Console:  # noqa: F811
    return Console(api_url, db, operator)


Axe = Callable[[Page], None]


@pytest.fixture
def axe() -> Axe:
    """`axe(page)`: axe-core injected into the page; fails on serious or critical violations."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `npm ci` installs axe-core (make test does)")
    source = AXE.read_text("utf-8")

    def check(page: Page) -> None:
        page.add_script_tag(content=source)
        result = page.evaluate("async () => await axe.run(document)")
        bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, f"{page.url}: " + json.dumps(
            [
                {"id": v["id"], "help": v["help"], "nodes": [n["html"] for n in v["nodes"][:3]]}
                for v in bad
            ],
            indent=1,
            ensure_ascii=False,
        )

    return check


@pytest.fixture
def zh_page(browser: Browser) -> Iterator[Page]:
    """A page of a browser asking for Chinese (Accept-Language: zh-CN)."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def _english_labels() -> list[str]:
    """English messages a Chinese page must not show: those of two words or more (a lone word
    may be data: a name, an SQL keyword), without placeholders. A label left in a template
    shows up as one of these."""
    english, chinese = catalogue("en"), catalogue("zh")
    return sorted(
        {
            text
            for key, text in english.items()
            if len(re.findall("[A-Za-z]+", text)) >= 2 and "{" not in text and chinese[key] != text
        }
    )


def english_left(page: Page) -> list[str]:
    """The English labels visible on a page that should be all Chinese (expect [])."""
    visible = page.locator("body").inner_text()
    return [label for label in _english_labels() if label in visible]


KEYBOARD_SCAN = """() => {
  const selector = 'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]),'
    + ' select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
  const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'
    && !e.closest('dialog:not([open])');
  return [...document.querySelectorAll(selector)].filter(shown).map((e, i) => {
    e.dataset.kb = String(i);
    return (e.innerText || e.getAttribute('aria-label') || e.name || e.id || e.tagName).trim();
  });
}"""


def keyboard_unreachable(page: Page, limit: int = 400) -> list[str]:
    """What a user cannot reach with Tab alone on the page: the visible controls Tab never
    focused (expect []). Tabs from the top through the whole page once."""
    labels: list[str] = page.evaluate(KEYBOARD_SCAN)
    page.locator("body").focus()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached: set[str] = set()
    # A date input takes a Tab stop per part (year, month, day): room for them, and for
    # wrapping round to the top, which only reaches controls again.
    for _ in range(min(limit, 3 * len(labels) + 5)):
        page.keyboard.press("Tab")
        mark = page.evaluate(
            "() => document.activeElement ? document.activeElement.dataset.kb : null"
        )
        if mark is not None:
            reached.add(mark)
    return [label for i, label in enumerate(labels) if str(i) not in reached]


@contextmanager
def rerendered(page: Page, asks: bool = True) -> Iterator[None]:
    """Wait, after the block's choice in the task form, until the form is rendered anew and
    nothing is asked: the next choice must be made in the new form (one made in the old form
    is lost, as a person's would be). `asks`: False for a choice that asks nothing."""
    page.evaluate("() => { window.tpShown = document.querySelector('#form-area > *') }")
    yield
    if asks:
        page.wait_for_function(
            "() => document.querySelector('#form-area > *') !== window.tpShown"
            " && !document.querySelector('.htmx-request')"
        )


def choose(page: Page, field: Locator, value: str) -> None:
    """Choose `value` in a select of the task form; wait for the form when the choice changes
    what it offers (the select asks the server)."""
    with rerendered(page, asks=field.get_attribute("hx-post") is not None):
        field.select_option(value)


def tick(page: Page, box: Locator) -> None:
    """Check a box of the task form, as `choose` chooses."""
    with rerendered(page, asks=box.get_attribute("hx-post") is not None):
        box.check()
