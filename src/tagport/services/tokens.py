"""Personal access tokens for scripts: shown once, kept as a digest, always expiring, revocable."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from tagport.errors import InvalidInput, NotFound, Unauthenticated
from tagport.services.permissions import Actor, require_any, require_super_admin
from tagport.store import tables as t
from tagport.store.crypto import token_digest
from tagport.store.db import Database

PREFIX = "tp_"
"""Every token starts so: secret scanners and log maskers can recognise one."""
DEFAULT_DAYS = 90
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenView:
    """A token as listed: never its value."""

    id: int
    user: str
    name: str
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True)
class NewToken:
    view: TokenView
    token: str
    """The secret itself, shown this once."""


def _view(row: t.ApiToken) -> TokenView:
    return TokenView(
        row.id,
        row.user.login,
        row.name,
        row.created_at,
        row.created_by,
        row.expires_at,
        row.last_used_at,
        row.revoked_at is not None,
    )


def create_token(
    db: Database,
    actor: Actor,
    login: str,
    name: str,
    days: int | None = None,
    max_days: int = 365,
) -> NewToken:
    """A new token for `login`: oneself, or anyone (a service account) for a super admin.
    It expires after `days` (default 90, at most `max_days`)."""
    if login != actor.login:
        require_super_admin(actor, f"create a token for {login}")
    days = DEFAULT_DAYS if days is None else days
    if not 1 <= days <= max_days:
        raise InvalidInput.one(f"token {name}", "days", f"must be 1 to {max_days}")
    if not name.strip() or len(name) > 128:
        raise InvalidInput.one("token", "name", "must be 1 to 128 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    with db.uow() as uow:
        user = uow.session.scalar(select(t.User).where(t.User.login == login))
        if user is None:
            raise NotFound("user", login)
        row = t.ApiToken(
            user=user,
            name=name,
            digest=token_digest(token),
            created_by=actor.login,
            expires_at=t.utcnow() + timedelta(days=days),
        )
        uow.session.add(row)
        uow.commit()
        return NewToken(_view(row), token)


def list_tokens(db: Database, actor: Actor, login: str | None = None) -> list[TokenView]:
    """`login`'s tokens (default: the actor's); anyone's for a super admin."""
    login = login or actor.login
    if login != actor.login:
        require_super_admin(actor, f"list the tokens of {login}")
    with db.uow() as uow:
        rows = uow.session.scalars(
            select(t.ApiToken)
            .join(t.ApiToken.user)
            .where(t.User.login == login)
            .order_by(t.ApiToken.id)
        )
        return [_view(row) for row in rows]


def revoke_token(db: Database, actor: Actor, token_id: int) -> TokenView:
    """Revoke a token at once (its owner, or a super admin)."""
    with db.uow() as uow:
        row = uow.session.get(t.ApiToken, token_id)
        if row is None or (row.user_id != actor.id and not actor.is_super_admin):
            raise NotFound("token", str(token_id))  # another's token: not even its existence
        require_any(actor, f"revoke token {token_id}", [row.user_id], "its owner")
        if row.revoked_at is None:
            row.revoked_at = t.utcnow()
        uow.commit()
        return _view(row)


def authenticate(db: Database, token: str, now: datetime | None = None) -> Actor:
    """The owner of a valid token: known, not revoked, not expired. Notes its use (to the
    minute)."""
    return _authenticated(db, token, now)[0]


def _authenticated(
    db: Database, token: str, now: datetime | None = None
) -> tuple[Actor, datetime | None]:
    """`authenticate`, and when the token expires."""
    with db.uow() as uow:
        row = uow.session.scalar(
            select(t.ApiToken)
            .options(joinedload(t.ApiToken.user))
            .where(t.ApiToken.digest == token_digest(token))
        )
        moment = now or t.utcnow()
        if (
            row is None
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= moment)
        ):
            raise Unauthenticated("invalid, expired or revoked token").with_code(
                "auth.invalid_token"
            )
        actor = Actor.of(row.user)
        # "Last used" to the minute: a write per request would cost more than the request.
        if row.last_used_at is None or moment - row.last_used_at >= LAST_USED_RESOLUTION:
            row.last_used_at = moment
            uow.commit(bookkeeping=True)
        return actor, row.expires_at


@dataclass(frozen=True)
class _Known:
    actor: Actor
    generation: int
    fresh_until: float
    """`time.monotonic()` deadline."""
    refresh_from: float
    """From this moment on, the caller asks the database again in the background."""
    expires_at: datetime | None


class TokenCache:
    """Tokens authenticated in the last few seconds, by digest: a request of a script that
    calls the API in a loop skips the database. An entry is dropped after `seconds`, when the
    token expires, and after any write through this process's database (a revocation, a
    user's roles changed or the user deleted: `Database.generation`). A token revoked by
    another process is still accepted here for at most `seconds` (docs/security.md); "last
    used" is noted when the database is asked. In the second half of `seconds`, the caller
    asks again in the background (`refresh_due`), so that a script's requests never wait for
    it."""

    def __init__(
        self,
        seconds: float = 2.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self.clock = clock
        self._known: dict[str, _Known] = {}

    def cached(self, db: Database, token: str) -> Actor | None:
        """The token's owner if known and still fresh; None: ask `authenticate` (no I/O here,
        so that the event loop may call it)."""
        if self.seconds <= 0:
            return None
        known = self._known.get(token_digest(token))
        if (
            known is None
            or known.generation != db.generation
            or known.fresh_until <= self.clock()
            or (known.expires_at is not None and known.expires_at <= t.utcnow())
        ):
            return None
        return known.actor

    def refresh_due(self, token: str) -> bool:
        """True once for a known token in the second half of its bound: the caller then calls
        `authenticate` without waiting for it (no I/O here)."""
        digest = token_digest(token)
        known = self._known.get(digest)
        if known is None or known.refresh_from > self.clock():
            return False
        self._known[digest] = replace(known, refresh_from=math.inf)
        return True

    def authenticate(self, db: Database, token: str) -> Actor:
        """`authenticate` (the database), remembering the answer, or forgetting the token."""
        generation = db.generation  # before the read: a write meanwhile makes it stale
        digest = token_digest(token)
        try:
            actor, expires_at = _authenticated(db, token)
        except Unauthenticated:
            self._known.pop(digest, None)
            raise
        if len(self._known) >= self.capacity:
            self._known.clear()  # many distinct tokens in a few seconds: start again
        now = self.clock()
        self._known[digest] = _Known(
            actor, generation, now + self.seconds, now + self.seconds / 2, expires_at
        )
        return actor
