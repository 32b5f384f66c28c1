"""Reading the audit log: who changed what, when, from where, with the values before and after.

Only super admins read it (the entries show every object's columns, if never a secret). The
log is written by `store.audit` at each flush; nothing here changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from tagport.errors import InvalidInput
from tagport.services.permissions import Actor, require_super_admin
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.store.paging import Page, PageRequest, fetch_page


class AuditAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show: every field given must match; `since` inclusive, `until` not."""

    actor: str | None = None
    kind: str | None = None
    key: str | None = None
    action: AuditAction | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    origin: str
    request_id: str | None
    action: str
    kind: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


SORTS = {"at": t.AuditEntry.at}


def _utc(moment: datetime, field: str) -> datetime:
    """`moment` in UTC; a time without a zone is ambiguous and refused."""
    if moment.tzinfo is None:
        raise InvalidInput.one("audit log", field, "give a time zone, e.g. 2026-11-30T08:00:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput.one("audit log", field, "is out of range") from None


def _view(row: t.AuditEntry) -> AuditView:
    return AuditView(
        row.id,
        row.at,
        row.actor,
        row.origin,
        row.request_id,
        row.action,
        row.kind,
        row.key,
        row.before,
        row.after,
    )


def audit_page(
    db: Database, actor: Actor, where: AuditFilter, paging: PageRequest
) -> Page[AuditView]:
    """One page of the entries `where` keeps, newest first unless `paging` sorts otherwise
    (super admins only)."""
    require_super_admin(actor, "read the audit log")
    e = t.AuditEntry
    query = select(e)
    for column, value in ((e.actor, where.actor), (e.kind, where.kind), (e.key, where.key)):
        if value is not None:
            query = query.where(column == value)
    if where.action is not None:
        query = query.where(e.action == where.action.value)
    if where.since is not None:
        query = query.where(e.at >= _utc(where.since, "since"))
    if where.until is not None:
        query = query.where(e.at < _utc(where.until, "until"))
    paging = replace(paging, sort=paging.sort or "-at")
    with db.uow() as uow:
        page = fetch_page(uow.session, query, e.id, SORTS, paging)
        views = [_view(row) for row in page.items]
    return Page(views, page.total, page.page, page.size, page.next_cursor)
