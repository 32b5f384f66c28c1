"""Logging in and out of the console, and the language a user reads it in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from tagport.api.deps import SESSION_COOKIE, app_state, client_address, set_session_cookie
from tagport.errors import Unauthenticated
from tagport.services import sessions, users
from tagport.services.sessions import TooManyAttempts
from tagport.web.pages import Page, render, translator

router = APIRouter()
HOME = "/offline-services"


def _safe_next(path: str | None) -> str:
    """Only a path of this site: never `//elsewhere` or `https://elsewhere` (open redirect)."""
    if path and path.startswith("/") and not path.startswith(("//", "/\\")):
        return path
    return HOME


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, translator(request), "login.html", next=_safe_next(next), login="")


@router.post("/login", response_class=HTMLResponse, response_model=None)
async def log_in(
    request: Request,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
) -> HTMLResponse | RedirectResponse:
    """Check the password, set the session cookie, go back where the user was going."""
    state = app_state(request)
    t = translator(request)
    try:
        opened = await run_in_threadpool(
            sessions.log_in,
            state.db,
            login.strip(),
            password,
            state.settings.session_hours,
            state.throttle,
            client_address(request),
        )
    except TooManyAttempts as refused:
        error = t("session.login.throttled", seconds=refused.retry_after)
        return render(request, t, "login.html", 429, next=next, login=login, error=error)
    except Unauthenticated:
        error = t("session.login.bad_login")
        return render(request, t, "login.html", 401, next=next, login=login, error=error)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(request, response, opened.cookie, state.settings.session_hours)
    return response


@router.post("/logout")
def log_out(viewer: Page) -> RedirectResponse:
    cookie = viewer.request.cookies.get(SESSION_COOKIE)
    if cookie:
        sessions.log_out(viewer.ctx.db, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def choose_language(
    viewer: Page,
    language: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = HOME,
) -> RedirectResponse:
    """Keep the user's language (empty: follow the browser) and show the same page in it."""
    users.set_language(viewer.ctx.db, viewer.ctx.actor, language or None)
    return RedirectResponse(_safe_next(back), status_code=303)
