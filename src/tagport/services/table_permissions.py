"""Write permission on target tables (production): grant, check, list, return.

Publishing needs the task owner to hold write permission on the target table. A super admin holds
every permission; the data source owner (or a super admin) grants; permissions may expire.
The request/approval workflow builds on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from tagport.errors import NotFound
from tagport.services.permissions import Actor, require_any
from tagport.store import tables as t
from tagport.store.db import Database

GRANT, CREATE_TABLE = "grant", "create_table"


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


@dataclass(frozen=True)
class PermissionView:
    user: str
    table: TableRef
    source: str
    granted_at: datetime
    expires_at: datetime | None


def _active(now: datetime) -> list[ColumnElement[bool]]:
    return [
        t.TablePermission.returned_at.is_(None),
        or_(t.TablePermission.expires_at.is_(None), t.TablePermission.expires_at > now),
    ]


def _target_clause(ds: t.DataSource, ref: TableRef) -> list[ColumnElement[bool]]:
    return [
        t.TablePermission.datasource_id == ds.id,
        t.TablePermission.schema_name == ref.schema,
        t.TablePermission.table_name == ref.table,
    ]


def holds_write(session: Session, user: t.User, ref: TableRef, now: datetime) -> bool:
    """Whether `user` may write `ref` now (a super admin always may)."""
    if user.is_super_admin:
        return True
    ds = session.scalar(select(t.DataSource).where(t.DataSource.name == ref.datasource))
    if ds is None:
        return False
    found = session.scalar(
        select(t.TablePermission.id)
        .where(t.TablePermission.user_id == user.id, *_target_clause(ds, ref), *_active(now))
        .limit(1)
    )
    return found is not None


def record_grant(
    session: Session,
    user: t.User,
    ds: t.DataSource,
    ref: TableRef,
    granted_by: int | None,
    source: str,
    days: int | None,
    now: datetime,
) -> None:
    """Add an active permission (inside the caller's transaction)."""
    session.add(
        t.TablePermission(
            user_id=user.id,
            datasource_id=ds.id,
            schema_name=ref.schema,
            table_name=ref.table,
            source=source,
            granted_by_id=granted_by,
            granted_at=now,
            expires_at=now + timedelta(days=days) if days else None,
        )
    )


def grant(
    db: Database,
    actor: Actor,
    login: str,
    ref: TableRef,
    days: int | None = None,
    now: datetime | None = None,
) -> None:
    """Grant `login` write permission on `ref`; only the data source owner or a super admin may."""
    moment = now or t.utcnow()
    with db.uow() as uow:
        session = uow.session
        ds = session.scalar(select(t.DataSource).where(t.DataSource.name == ref.datasource))
        if ds is None:
            raise NotFound("data source", ref.datasource)
        require_any(actor, f"grant write on {ref}", [ds.owner_id], "the data source owner")
        user = session.scalar(select(t.User).where(t.User.login == login))
        if user is None:
            raise NotFound("user", login)
        record_grant(session, user, ds, ref, actor.id, GRANT, days, moment)
        uow.commit()


def list_permissions(
    db: Database, login: str | None = None, now: datetime | None = None
) -> list[PermissionView]:
    """Active permissions, optionally of one user."""
    moment = now or t.utcnow()
    query = (
        select(t.TablePermission, t.User.login, t.DataSource.name)
        .join(t.User, t.User.id == t.TablePermission.user_id)
        .join(t.DataSource, t.DataSource.id == t.TablePermission.datasource_id)
        .where(*_active(moment))
        .order_by(t.DataSource.name, t.TablePermission.schema_name, t.TablePermission.table_name)
    )
    if login:
        query = query.where(t.User.login == login)
    with db.uow() as uow:
        return [
            PermissionView(
                user,
                TableRef(ds, p.schema_name, p.table_name),
                p.source,
                p.granted_at,
                p.expires_at,
            )
            for p, user, ds in uow.session.execute(query)
        ]
