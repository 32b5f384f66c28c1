"""Console logins: a password checked against its argon2id hash opens a session whose cookie
value is kept only as a digest, bound to a CSRF token; failed logins are throttled."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from tagport.errors import PermissionDenied, Unauthenticated
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.crypto import password_matches, token_digest
from tagport.store.db import Database

BAD_LOGIN = "wrong login or password"
"""One message for an unknown login and a wrong password: neither is confirmed to a guesser."""


class TooManyAttempts(PermissionDenied):
    """Too many failed logins lately; `retry_after` seconds until the next may be tried."""

    code = "auth.rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class LoginThrottle:
    """At most `per_login` failures per login and `per_address` per client address within
    `window`; a success clears the login's count. In memory: one process's view."""

    per_login: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    clock: Callable[[], datetime] = t.utcnow
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, login: str, address: str) -> None:
        """Raise TooManyAttempts if either the login or the address is over its limit."""
        now = self.clock()
        with self._lock:
            for key, limit in (
                (f"login:{login}", self.per_login),
                (f"addr:{address}", self.per_address),
            ):
                recent = self._recent(key, now)
                if len(recent) >= limit:
                    wait = recent[0] + self.window - now
                    raise TooManyAttempts(max(1, int(wait.total_seconds()) + 1))

    def failed(self, login: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"login:{login}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, login: str) -> None:
        with self._lock:
            self._failures.pop(f"login:{login}", None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        recent = self._failures.setdefault(key, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        return recent


@dataclass(frozen=True)
class OpenedSession:
    actor: Actor
    cookie: str
    """The cookie's value, handed to the browser once; only its digest is stored."""
    csrf: str
    expires_at: datetime


def log_in(
    db: Database,
    login: str,
    password: str,
    hours: int,
    throttle: LoginThrottle,
    address: str,
) -> OpenedSession:
    """Check `login`'s password and open a session of `hours`; Unauthenticated if wrong."""
    throttle.check(login, address)
    with db.uow() as uow:
        user = uow.session.scalar(select(t.User).where(t.User.login == login))
        usable = user is not None and not user.is_service_account
        # Hash in every case: an unknown login must take as long as a wrong password.
        matched = password_matches(user.password_hash if user and usable else None, password)
        if user is None or not usable or not matched:
            throttle.failed(login, address)
            raise Unauthenticated(BAD_LOGIN).with_code("auth.bad_login")
        throttle.succeeded(login)
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = t.utcnow()
        expires = now + timedelta(hours=hours)
        uow.session.execute(delete(t.WebSession).where(t.WebSession.expires_at <= now))
        uow.session.add(
            t.WebSession(
                user_id=user.id, digest=token_digest(cookie), csrf=csrf, expires_at=expires
            )
        )
        actor = Actor.of(user)
        uow.commit()
    return OpenedSession(actor, cookie, csrf, expires)


def session_actor(db: Database, cookie: str, now: datetime | None = None) -> tuple[Actor, str]:
    """The user of a live session and its CSRF token; Unauthenticated when gone or expired."""
    with db.uow() as uow:
        row = uow.session.scalar(
            select(t.WebSession).where(t.WebSession.digest == token_digest(cookie))
        )
        if row is None or row.expires_at <= (now or t.utcnow()):
            raise Unauthenticated("the session has ended; log in again").with_code(
                "auth.session_ended"
            )
        return Actor.of(row.user), row.csrf


def log_out(db: Database, cookie: str) -> None:
    """End a session (nothing happens for one already gone)."""
    with db.uow() as uow:
        uow.session.execute(delete(t.WebSession).where(t.WebSession.digest == token_digest(cookie)))
        uow.commit()
