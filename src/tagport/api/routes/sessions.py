"""`/api/v1/session`: console login with a password (a session cookie and its CSRF token),
who is logged in, and logout."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Cookie, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tagport.api.deps import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Caller,
    State,
    client_address,
    set_session_cookie,
)
from tagport.api.routing import Router
from tagport.services import sessions
from tagport.services.permissions import Actor

router = Router(prefix="/session", tags=["session"])


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    login: str
    super_admin: bool
    datasource_admin: bool

    @classmethod
    def of(cls, actor: Actor) -> Me:
        return cls(
            login=actor.login,
            super_admin=actor.is_super_admin,
            datasource_admin=actor.is_datasource_admin,
        )


class SessionOut(BaseModel):
    user: Me
    csrf_token: str = Field(description=f"Send it as {CSRF_HEADER} on every unsafe request.")
    expires_at: datetime


@router.post("", status_code=201)
async def log_in(body: LoginIn, request: Request, response: Response, state: State) -> SessionOut:
    """Log in with a password: sets the HttpOnly session cookie; failures are rate-limited."""
    opened = await run_in_threadpool(
        sessions.log_in,
        state.db,
        body.login,
        body.password,
        state.settings.session_hours,
        state.throttle,
        client_address(request),
    )
    set_session_cookie(request, response, opened.cookie, state.settings.session_hours)
    return SessionOut(
        user=Me.of(opened.actor), csrf_token=opened.csrf, expires_at=opened.expires_at
    )


@router.get("")
async def who_am_i(caller: Caller) -> Me:
    """The caller, by token or session."""
    return Me.of(caller.actor)


@router.delete("", status_code=204)
def log_out(
    caller: Caller,
    response: Response,
    cookie: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> None:
    """End the console session (a token caller has none: nothing happens)."""
    if cookie:
        sessions.log_out(caller.db, cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")
