"""The audit log: every change a person (or script) makes to the metadata, recorded in the
same transaction as the change.

Front ends say who is acting with `acting(...)` (a context variable: one per CLI process, one
per API request); `install` hooks the session factory so that each flush under an actor adds
one `audit_log` row per created, updated or deleted row, with its columns before and after.
The scheduler and workers act as nobody and leave no entries; bookkeeping columns (heartbeats,
leases, `updated_at`) never make an entry on their own, and secrets are never written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, sessionmaker

from tagport.store import tables as t


@dataclass(frozen=True)
class Origin:
    """Who acts and from where: `cli`, or an API client's address with its request id."""

    actor: str
    origin: str
    request_id: str | None = None


_CURRENT: ContextVar[Origin | None] = ContextVar("tagport_audit_origin", default=None)

SECRET_COLUMNS = frozenset({"password_encrypted", "password_hash", "digest", "csrf"})
"""Recorded only as whether they are set: never their value, hashed or not."""
QUIET_COLUMNS = frozenset(
    {"updated_at", "last_used_at", "lease_owner", "lease_expires_at", "running_target", "attempts"}
)
"""Bookkeeping that changes without anyone deciding it: no entry for these alone."""
UNAUDITED = (t.AuditEntry, t.InstanceLog, t.IdempotencyKey, t.Heartbeat, t.WebSession)


def current() -> Origin | None:
    return _CURRENT.get()


@contextmanager
def acting(origin: Origin) -> Iterator[None]:
    """Record the changes made inside the block as `origin`'s."""
    token = _CURRENT.set(origin)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def set_origin(origin: Origin | None) -> None:
    """Act as `origin` for the rest of this context (a CLI process)."""
    _CURRENT.set(origin)


def install(sessions: sessionmaker[Session]) -> None:
    """Hook `sessions` so that flushes under an actor are recorded."""
    event.listen(sessions, "after_flush", _record)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _value(column: str, value: Any) -> Any:
    if column in SECRET_COLUMNS:
        return "(set)" if value else None
    return _plain(value)


def _columns(row: Any) -> dict[str, Any]:
    mapper = inspect(row).mapper
    return {c.key: _value(c.key, getattr(row, c.key)) for c in mapper.column_attrs}


def _changes(row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The changed columns of a dirty row: their values before and after."""
    state = inspect(row)
    before, after = {}, {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if not history.has_changes() or attr.key in QUIET_COLUMNS:
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old != new:
            before[attr.key], after[attr.key] = _value(attr.key, old), _value(attr.key, new)
    return before, after


def _key(row: Any) -> str:
    for name in ("login", "name", "code"):
        value = getattr(row, name, None)
        if isinstance(value, str):
            return value
    return str(getattr(row, "id", ""))


def _record(session: Session, _context: Any) -> None:
    origin = _CURRENT.get()
    if origin is None:
        return
    entries: list[tuple[str, Any, dict[str, Any] | None, dict[str, Any] | None]] = []
    for action, rows in (("created", session.new), ("updated", session.dirty)):
        for row in rows:
            if isinstance(row, UNAUDITED):
                continue
            if action == "created":
                before, after = None, _columns(row)
            else:
                before, after = _changes(row)
                if not after:
                    continue
            entries.append((action, row, before, after))
    entries += [
        ("deleted", row, _columns(row), None)
        for row in session.deleted
        if not isinstance(row, UNAUDITED)
    ]
    if entries:
        session.connection().execute(
            insert(t.AuditEntry),
            [
                {
                    "at": t.utcnow(),
                    "actor": origin.actor,
                    "origin": origin.origin,
                    "request_id": origin.request_id,
                    "action": action,
                    "kind": type(row).__name__,
                    "key": _key(row),
                    "before": before,
                    "after": after,
                }
                for action, row, before, after in entries
            ],
        )
