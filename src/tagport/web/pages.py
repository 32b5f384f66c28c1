"""Who is looking, and how a page is answered: every console route takes a `Viewer`.

A page needs a console login (the session cookie); without one the browser is sent to the login
page and comes back afterwards. An unsafe request must carry the session's CSRF token, as the
form field `csrf_token` (plain forms) or the `X-CSRF-Token` header (htmx, set on `<body>`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from tagport.api.deps import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    AppState,
    app_state,
    client_address,
)
from tagport.context import Context
from tagport.errors import PermissionDenied, Unauthenticated
from tagport.services import sessions
from tagport.store import audit
from tagport.web.i18n import Translator, negotiate

CSRF_FIELD = "csrf_token"
PRODUCT_NAMES = {
    "mysql": "MySQL",
    "oracle": "Oracle",
    "adb_pg": "AnalyticDB for PostgreSQL",
    "greenplum": "Greenplum",
    "opengauss": "openGauss",
    "postgresql": "PostgreSQL",
}
"""Product names of the database data source types, the same in every language (a warehouse
project, the one other type, is translated)."""
templates = Jinja2Templates(directory=str(files("tagport.web") / "templates"))


def _query(values: Mapping[str, object]) -> str:
    """A query string of the non-empty values: the URL of a filtered, sorted list stays short."""
    return urlencode({k: v for k, v in values.items() if v not in (None, "", False)}, doseq=True)


def _when(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return value.isoformat()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


templates.env.filters.update(urlencode_clean=_query, when=_when, duration=_duration)


class LoginRequired(Exception):
    """No live console session: the answer is the login page, then back to `next`."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def translator(request: Request, chosen: str | None = None) -> Translator:
    """The request's language: the user's choice, else the browser's."""
    strict = bool(getattr(request.app.state, "strict_messages", False))
    return Translator(negotiate(request.headers.get("accept-language"), chosen), strict)


def render(
    request: Request, t: Translator, template: str, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """`template` rendered with `t` (labels), `lang`, `htmx` (a partial request) and `values`."""
    values = {"t": t, "lang": t.language, "htmx": is_htmx(request), "now": datetime.now(), **values}
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


@dataclass
class Viewer:
    """The logged-in user looking at a page: their context for the services, labels, CSRF."""

    request: Request
    ctx: Context
    csrf: str
    t: Translator

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        """A page (or fragment) with the viewer, their CSRF token and labels available."""
        values = {"viewer": self, "csrf": self.csrf, **values}
        return render(self.request, self.t, template, status_code, **values)


async def _sent_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)  # parsed once; the route reuses it
        return value if isinstance(value, str) else ""
    return ""


def _back_to(request: Request) -> str:
    if is_htmx(request):  # a fragment's own URL is no page to come back to
        current = request.headers.get("hx-current-url", "/")
        return "/" + current.split("/", 3)[3] if current.count("/") >= 3 else "/"
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


async def viewer(request: Request) -> Viewer:
    """The logged-in viewer; LoginRequired without a live session, 403 without CSRF."""
    state: AppState = app_state(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired(_back_to(request))
    try:
        actor, csrf = await run_in_threadpool(sessions.session_actor, state.db, cookie)
    except Unauthenticated:
        raise LoginRequired(_back_to(request)) from None
    unsafe = request.method not in SAFE_METHODS
    if unsafe and not secrets.compare_digest(await _sent_csrf(request), csrf):
        refused = PermissionDenied("this form has expired: reload the page and try again")
        raise refused.with_code("auth.csrf")
    address = client_address(request)
    audit.set_origin(audit.Origin(actor.login, address, request.state.request_id))
    ctx = Context.for_actor(state.settings, state.db, actor, address)
    return Viewer(request, ctx, csrf, translator(request, actor.language))


def login_url(next_path: str) -> str:
    return "/login" if next_path in ("", "/") else f"/login?next={quote(next_path, safe='')}"


Page = Annotated[Viewer, Depends(viewer)]
