"""Write permission on target tables (production): grant, check, list, return.

Publishing needs the task owner to hold write permission on the target table. A super admin holds
every permission; the data source owner (or a super admin) grants; permissions may expire.
The request/approval workflow builds on the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from tagport.errors import InvalidInput, NotFound, PermissionDenied
from tagport.services.datasources import find_datasource
from tagport.services.permissions import Actor, require_any
from tagport.store import tables as t
from tagport.store.db import Database

GRANT, CREATE_TABLE = "grant", "create_table"
MAX_GRANT_DAYS = 3650
"""The longest a granted permission may run (a permission may also never expire)."""


@dataclass(frozen=True)
class TableRef:
    """A target table: data source, schema ('' where the type has none) and table."""

    datasource: str
    schema: str
    table: str

    @classmethod
    def parse(cls, datasource: str, qualified: str) -> TableRef:
        schema, _, table = qualified.rpartition(".")
        return cls(datasource, schema, table)

    def __str__(self) -> str:
        return f"{self.datasource}:{self.schema + '.' if self.schema else ''}{self.table}"


def _target_clause(ds: t.DataSource, ref: TableRef) -> list[ColumnElement[bool]]:
    return [
        t.TablePermission.datasource_id == ds.id,
        t.TablePermission.schema_name == ref.schema,
        t.TablePermission.table_name == ref.table,
    ]


def holds_write(session: Session, user: t.User, ref: TableRef, now: datetime) -> bool:
    """Whether `user` may write `ref` now (a super admin always may)."""
    return write_refusal(session, user, ref, now) is None


@dataclass(frozen=True)
class Refusal:
    """Why a user may not write a table: a stable code (`permission.expired` …) and a message."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message

    def error(self) -> PermissionDenied:
        error = PermissionDenied(self.message)
        error.code = self.code
        return error


def write_refusal(session: Session, user: t.User, ref: TableRef, now: datetime) -> Refusal | None:
    """Why `user` may not write `ref` now, naming when the last permission expired or was
    returned; None when they may."""
    if user.is_super_admin:
        return None
    ds = session.scalar(select(t.DataSource).where(t.DataSource.name == ref.datasource))
    held = _permissions_on(session, user, ds, ref) if ds is not None else []
    return refusal_among(held, user.login, ref, now)


def expiry_warning(
    session: Session, user: t.User, ref: TableRef, now: datetime, within: timedelta
) -> str | None:
    """A warning when every active permission of `user` on `ref` ends within `within`."""
    if user.is_super_admin:
        return None
    ds = session.scalar(select(t.DataSource).where(t.DataSource.name == ref.datasource))
    if ds is None:
        return None
    return warning_among(_permissions_on(session, user, ds, ref), user.login, ref, now, within)


def _permissions_on(
    session: Session, user: t.User, ds: t.DataSource, ref: TableRef
) -> list[t.TablePermission]:
    return list(
        session.scalars(
            select(t.TablePermission).where(
                t.TablePermission.user_id == user.id, *_target_clause(ds, ref)
            )
        )
    )


def _is_active(permission: t.TablePermission, now: datetime) -> bool:
    """Not returned, and never expiring or expiring after `now`."""
    return permission.returned_at is None and (
        permission.expires_at is None or permission.expires_at > now
    )


def refusal_among(
    held: Sequence[t.TablePermission], login: str, ref: TableRef, now: datetime
) -> Refusal | None:
    """`write_refusal` over the permissions one (non super admin) user ever held on `ref`: the
    task list reads those of a whole page at once and judges each task with this."""
    if any(_is_active(permission, now) for permission in held):
        return None
    last = max(held, key=lambda p: (p.granted_at, p.id), default=None)
    if last is not None and last.returned_at is not None:
        when = f"{last.returned_at:%Y-%m-%d %H:%M}"
        return Refusal(
            "permission.returned",
            f"{login} returned the write permission on {ref} on {when}; request it again",
        )
    if last is not None and last.expires_at is not None:
        when = f"{last.expires_at:%Y-%m-%d %H:%M}"
        return Refusal(
            "permission.expired", f"write permission on {ref} expired on {when} ({login})"
        )
    return Refusal("permission.missing", f"{login} has no write permission on {ref}; request it")


def warning_among(
    held: Sequence[t.TablePermission],
    login: str,
    ref: TableRef,
    now: datetime,
    within: timedelta,
) -> str | None:
    """`expiry_warning` over the permissions one (non super admin) user ever held on `ref`."""
    ends = [p.expires_at for p in held if _is_active(p, now)]
    if not ends or any(end is None for end in ends):
        return None
    last = max(end for end in ends if end is not None)
    if last > now + within:
        return None
    return f"write permission on {ref} expires on {last:%Y-%m-%d %H:%M} ({login}); renew it"


def verdict_changes(
    held: Sequence[t.TablePermission], now: datetime, within: timedelta
) -> datetime | None:
    """The next moment after `now` at which `refusal_among` or `warning_among` over `held` may
    answer otherwise (a permission expires, or enters its warning window); None: never."""
    moments = [
        moment
        for p in held
        if p.returned_at is None and p.expires_at is not None
        for moment in (p.expires_at - within, p.expires_at)
        if moment > now
    ]
    return min(moments, default=None)


def record_grant(
    session: Session,
    user: t.User,
    ds: t.DataSource,
    ref: TableRef,
    granted_by: int | None,
    source: str,
    days: int | None,
    now: datetime,
) -> t.TablePermission:
    """Add an active permission (inside the caller's transaction)."""
    row = t.TablePermission(
        user_id=user.id,
        datasource_id=ds.id,
        schema_name=ref.schema,
        table_name=ref.table,
        source=source,
        granted_by_id=granted_by,
        granted_at=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    session.add(row)
    return row


def grant(
    db: Database,
    actor: Actor,
    login: str,
    ref: TableRef,
    days: int | None = None,
    now: datetime | None = None,
) -> int:
    """Grant `login` write permission on `ref`; only the data source owner or a super admin may.
    Return the new permission's id."""
    if days is not None and not 1 <= days <= MAX_GRANT_DAYS:
        raise InvalidInput.one(f"grant on {ref}", "days", f"must be 1 to {MAX_GRANT_DAYS}")
    moment = now or t.utcnow()
    with db.uow() as uow:
        session = uow.session
        ds = find_datasource(session, ref.datasource)
        require_any(actor, f"grant write on {ref}", [ds.owner_id], "the data source owner")
        user = session.scalar(select(t.User).where(t.User.login == login))
        if user is None:
            raise NotFound("user", login)
        row = record_grant(session, user, ds, ref, actor.id, GRANT, days, moment)
        uow.commit()
        return row.id


def refusal_for(
    db: Database, actor: Actor, ref: TableRef, now: datetime | None = None
) -> Refusal | None:
    """Why `actor` may not write `ref` now (None when they may): the task form offers to
    request the permission."""
    with db.uow() as uow:
        user = uow.session.get(t.User, actor.id)
        if user is None:
            raise NotFound("user", actor.login)
        return write_refusal(uow.session, user, ref, now or t.utcnow())
