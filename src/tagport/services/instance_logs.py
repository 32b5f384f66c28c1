"""An instance's log as people read it: paged or from the tail, capped, with secrets masked.

Log lines come from workers and from target drivers' error messages, which may quote a
connection string or a token; before a line leaves tagport every data source password and
anything shaped like a `tp_` token is replaced by `***`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.config import Settings
from tagport.domain.states import InstanceStatus
from tagport.errors import TagportError
from tagport.services.datasources import password_of
from tagport.services.instances import viewable_instance
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database

MAX_LINES = 1000
"""Most lines one answer carries."""
MAX_LINE_CHARS = 4000
"""A longer line is cut (a driver may quote a whole statement)."""
MASK = "***"
_TOKEN = re.compile(r"tp_[A-Za-z0-9_\-]{8,}")
_ENDED = {InstanceStatus.SUCCEEDED.value, InstanceStatus.FAILED.value}


@dataclass(frozen=True)
class LogLine:
    id: int
    at: datetime
    attempt: int
    level: str
    message: str


@dataclass(frozen=True)
class LogPage:
    """Lines of one instance's log, oldest first, and where the instance stands."""

    lines: list[LogLine]
    status: str
    ended: bool
    next_after: int | None
    """Pass as `after` for the lines written since (the last line's id)."""


def read_log(
    db: Database,
    settings: Settings,
    actor: Actor,
    instance_id: int,
    *,
    after: int = 0,
    limit: int = MAX_LINES,
    tail: int | None = None,
) -> LogPage:
    """The lines after line id `after` (at most `limit`), or the last `tail` lines."""
    limit = max(1, min(limit, MAX_LINES))
    with db.uow() as uow:
        session = uow.session
        instance = viewable_instance(session, instance_id, actor)
        query = select(t.InstanceLog).where(t.InstanceLog.instance_id == instance_id)
        if tail is not None:
            newest = query.order_by(t.InstanceLog.id.desc()).limit(max(1, min(tail, MAX_LINES)))
            rows = list(reversed(list(session.scalars(newest))))
        else:
            query = query.where(t.InstanceLog.id > after).order_by(t.InstanceLog.id)
            rows = list(session.scalars(query.limit(limit)))
        secrets = _secrets(session, settings)
        lines = [LogLine(r.id, r.at, r.attempt, r.level, mask(r.message, secrets)) for r in rows]
        return LogPage(
            lines,
            instance.status,
            instance.status in _ENDED,
            lines[-1].id if lines else (after or None),
        )


def _secrets(session: Session, settings: Settings) -> list[str]:
    """Every data source password tagport knows (one it cannot read is not in any log)."""
    found = []
    for ds in session.scalars(select(t.DataSource)):
        try:
            password = password_of(session, ds, settings)
        except TagportError:
            continue
        if password and len(password) >= 3:
            found.append(password)
    return found


def mask(message: str, secrets: list[str]) -> str:
    """`message` capped, with every secret and token-like word replaced by ***."""
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, MASK)
    message = _TOKEN.sub("tp_" + MASK, message)
    if len(message) > MAX_LINE_CHARS:
        message = message[:MAX_LINE_CHARS] + " …(cut)"
    return message
