"""Who is calling: every route takes a `Caller` (a `tagport.context.Context` for the request).

A request authenticates with `Authorization: Bearer <token>` (scripts) or the session cookie
of a console login, which must then carry the session's CSRF token in `X-CSRF-Token` on every
unsafe request. Whatever the request changes is recorded in the audit log as the caller's,
from the client's address, with the request id.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tagport.api.background import Background
from tagport.api.page_cache import PageCache
from tagport.config import Settings
from tagport.context import Context
from tagport.errors import PermissionDenied, Unauthenticated
from tagport.services import sessions, tokens
from tagport.services.permissions import Actor
from tagport.services.sessions import LoginThrottle
from tagport.store import audit
from tagport.store.db import Database

SESSION_COOKIE = "tagport_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="A personal access token: `tp_…`")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="A console login (with X-CSRF-Token)"
)


@dataclass
class AppState:
    """What the app shares between requests."""

    settings: Settings
    db: Database
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    tokens: tokens.TokenCache = field(init=False)
    pages: PageCache = field(init=False)
    """Rendered pages of the task list (api/page_cache.py)."""
    background: Background = field(default_factory=lambda: Background("background work failed"))

    def __post_init__(self) -> None:
        self.tokens = tokens.TokenCache(self.settings.api_cache_seconds)
        self.pages = PageCache(self.settings.api_cache_seconds)


def app_state(request: Request) -> AppState:
    state = request.app.state.tagport
    assert isinstance(state, AppState)
    return state


async def _app_state(request: Request) -> AppState:
    """`app_state` as a dependency: `async`, as every cheap dependency here, because FastAPI
    runs a plain function in a worker thread, and the hop costs more than the function."""
    return app_state(request)


def set_session_cookie(request: Request, response: Response, cookie: str, hours: int) -> None:
    """The console session's cookie: HttpOnly, SameSite=Lax, Secure over HTTPS, whole site."""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _authenticate(
    state: AppState,
    method: str,
    bearer: HTTPAuthorizationCredentials | None,
    cookie: str | None,
    csrf: str | None,
) -> Actor:
    if bearer is not None:
        return state.tokens.authenticate(state.db, bearer.credentials)
    if cookie:
        actor, expected = sessions.session_actor(state.db, cookie)
        if method not in SAFE_METHODS and not secrets.compare_digest(csrf or "", expected):
            refused = PermissionDenied(
                f"a console request that changes something needs the session's {CSRF_HEADER} header"
            )
            raise refused.with_code("auth.csrf")
        return actor
    raise Unauthenticated("log in, or send Authorization: Bearer <token>")


def _refresh_token(state: AppState, token: str) -> None:
    """Ask the database about a known token again; refused, it is forgotten, so that the
    token's next request is refused."""
    with contextlib.suppress(Unauthenticated):
        state.tokens.authenticate(state.db, token)


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Context:
    """The authenticated caller's context; 401 without credentials, 403 without CSRF."""
    state = app_state(request)
    # A token seen in the last seconds is known without the database, so without the hop to
    # a worker thread (which costs more than the lookup).
    actor = state.tokens.cached(state.db, bearer.credentials) if bearer is not None else None
    if actor is not None and bearer is not None and state.tokens.refresh_due(bearer.credentials):
        state.background.start(run_in_threadpool(_refresh_token, state, bearer.credentials))
    if actor is None:
        csrf = request.headers.get(CSRF_HEADER)
        actor = await run_in_threadpool(_authenticate, state, request.method, bearer, cookie, csrf)
    address = client_address(request)
    # Set in the request's own task: the route, run in a worker thread, sees a copy of it.
    audit.set_origin(audit.Origin(actor.login, address, request.state.request_id))
    return Context.for_actor(state.settings, state.db, actor, address)


Caller = Annotated[Context, Depends(caller)]
State = Annotated[AppState, Depends(_app_state)]
