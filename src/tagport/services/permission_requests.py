"""The write-permission workflow: a user requests write on a target table, the data source owner
(or a super admin) approves or rejects, the requester may withdraw; an approved request becomes a
permission that expires, can be returned, and is renewed by a new request.

Request statuses move only through `domain.states.next_request_status`; a permission's status
(active, expired, returned) follows from its timestamps (`domain.states.grant_status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tagport.domain.states import (
    EXPIRY_WARNING_DAYS,
    PERMISSION_PERIODS,
    GrantStatus,
    RequestEvent,
    RequestStatus,
    grant_status,
    next_request_status,
)
from tagport.errors import Conflict, InvalidInput, NotFound
from tagport.services.datasources import find_datasource
from tagport.services.permissions import Actor, require_any, require_super_admin
from tagport.services.table_permissions import TableRef, record_grant
from tagport.store import tables as t
from tagport.store.db import Database

REQUEST = "request"
"""`TablePermission.source` of a permission that an approved request created."""
MAX_REASON = 1000


@dataclass(frozen=True)
class RequestView:
    id: int
    user: str
    table: TableRef
    days: int | None
    reason: str | None
    status: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class GrantView:
    """A write permission with its status now, and whether it expires soon."""

    id: int
    user: str
    table: TableRef
    source: str
    granted_at: datetime
    expires_at: datetime | None
    status: str
    expiring_soon: bool


def period_days(days: int | None, until: date | None, today: date) -> int:
    """The requested period in days: one of PERMISSION_PERIODS, or up to an end date."""
    where = "permission request"
    if (days is None) == (until is None):
        raise InvalidInput.one(where, "days", "give a period in days or an end date, not both")
    if days is not None:
        if days not in PERMISSION_PERIODS:
            allowed = ", ".join(str(d) for d in PERMISSION_PERIODS)
            raise InvalidInput.one(where, "days", f"{days} is not one of {allowed}")
        return days
    assert until is not None
    span = (until - today).days
    if not 1 <= span <= max(PERMISSION_PERIODS):
        raise InvalidInput.one(
            where, "until", f"{until} must be after today and within {max(PERMISSION_PERIODS)} days"
        )
    return span


def request(
    db: Database,
    actor: Actor,
    ref: TableRef,
    reason: str,
    days: int | None = None,
    until: date | None = None,
    now: datetime | None = None,
) -> int:
    """Ask for write permission on `ref`; return the request's id. Renewal is a new request."""
    moment = now or t.utcnow()
    period = period_days(days, until, moment.date())
    if not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidInput.one(
            "permission request", "reason", f"say why, in 1 to {MAX_REASON} characters"
        )
    with db.uow() as uow:
        session = uow.session
        ds = find_datasource(session, ref.datasource)
        pending = session.scalar(
            select(t.PermissionRequest.id).where(
                t.PermissionRequest.user_id == actor.id,
                t.PermissionRequest.datasource_id == ds.id,
                t.PermissionRequest.schema_name == ref.schema,
                t.PermissionRequest.table_name == ref.table,
                t.PermissionRequest.status == RequestStatus.PENDING.value,
            )
        )
        if pending is not None:
            raise Conflict(f"request {pending} for write on {ref} is still pending")
        row = t.PermissionRequest(
            user_id=actor.id,
            datasource_id=ds.id,
            schema_name=ref.schema,
            table_name=ref.table,
            days=period,
            reason=reason.strip(),
            status=RequestStatus.PENDING.value,
            requested_at=moment,
        )
        session.add(row)
        uow.commit()
        return row.id


def _find(session: Session, request_id: int) -> t.PermissionRequest:
    row = session.get(t.PermissionRequest, request_id)
    if row is None:
        raise NotFound("permission request", str(request_id))
    return row


def _ref(session: Session, row: t.PermissionRequest) -> TableRef:
    ds = session.get(t.DataSource, row.datasource_id)
    assert ds is not None
    return TableRef(ds.name, row.schema_name, row.table_name)


def _decide(
    db: Database,
    actor: Actor,
    request_id: int,
    event: RequestEvent,
    note: str | None,
    now: datetime | None,
) -> RequestStatus:
    """Approve, reject or withdraw: authorized first, then moved by the transition table."""
    moment = now or t.utcnow()
    with db.uow() as uow:
        session = uow.session
        row = _find(session, request_id)
        ref = _ref(session, row)
        if event is RequestEvent.WITHDRAW:
            require_any(actor, f"withdraw request {request_id}", [row.user_id], "its requester")
        else:
            ds = session.get(t.DataSource, row.datasource_id)
            assert ds is not None
            require_any(
                actor, f"{event.value} request {request_id}", [ds.owner_id], "the data source owner"
            )
        status = next_request_status(RequestStatus(row.status), event)
        row.status, row.decided_by_id, row.decided_at = status.value, actor.id, moment
        row.decision_note = note
        if status is RequestStatus.APPROVED:
            user = session.get(t.User, row.user_id)
            ds = session.get(t.DataSource, row.datasource_id)
            assert user is not None and ds is not None
            record_grant(session, user, ds, ref, actor.id, REQUEST, row.days, moment)
        uow.commit()
        return status


def approve(
    db: Database,
    actor: Actor,
    request_id: int,
    note: str | None = None,
    now: datetime | None = None,
) -> RequestStatus:
    """The data source owner or a super admin approves: the requester may write from now on."""
    return _decide(db, actor, request_id, RequestEvent.APPROVE, note, now)


def reject(
    db: Database, actor: Actor, request_id: int, note: str, now: datetime | None = None
) -> RequestStatus:
    """Reject a request; the requester reads why in `note`, which is required."""
    if not note.strip():
        raise InvalidInput.one(f"request {request_id}", "comment", "say why it is rejected")
    return _decide(db, actor, request_id, RequestEvent.REJECT, note.strip(), now)


def withdraw(db: Database, actor: Actor, request_id: int) -> RequestStatus:
    """The requester takes back a pending request."""
    return _decide(db, actor, request_id, RequestEvent.WITHDRAW, None, None)


def list_requests(
    db: Database, actor: Actor, *, to_approve: bool = False, status: str | None = None
) -> list[RequestView]:
    """The actor's own requests, or (`to_approve`) those on data sources the actor approves for;
    a super admin sees every request with `to_approve`."""
    if status is not None and status not in set(RequestStatus):
        allowed = ", ".join(s.value for s in RequestStatus)
        raise InvalidInput.one(
            "permission requests", "status", f"{status!r} is not one of {allowed}"
        )
    query = select(t.PermissionRequest).order_by(t.PermissionRequest.id.desc())
    if to_approve:
        if not actor.is_super_admin:
            owned = select(t.DataSource.id).where(t.DataSource.owner_id == actor.id)
            query = query.where(t.PermissionRequest.datasource_id.in_(owned))
    else:
        query = query.where(t.PermissionRequest.user_id == actor.id)
    if status is not None:
        query = query.where(t.PermissionRequest.status == status)
    with db.uow() as uow:
        session = uow.session
        return [_view(session, row) for row in session.scalars(query)]


def _view(session: Session, row: t.PermissionRequest) -> RequestView:
    user = session.get(t.User, row.user_id)
    decider = session.get(t.User, row.decided_by_id) if row.decided_by_id else None
    assert user is not None
    return RequestView(
        row.id,
        user.login,
        _ref(session, row),
        row.days,
        row.reason,
        row.status,
        row.requested_at,
        decider.login if decider else None,
        row.decided_at,
        row.decision_note,
    )


def return_permission(
    db: Database, actor: Actor, ref: TableRef, now: datetime | None = None
) -> int:
    """Give back the actor's active write permissions on `ref`; return how many."""
    moment = now or t.utcnow()
    with db.uow() as uow:
        session = uow.session
        ds = find_datasource(session, ref.datasource)
        rows = session.scalars(
            select(t.TablePermission).where(
                t.TablePermission.user_id == actor.id,
                t.TablePermission.datasource_id == ds.id,
                t.TablePermission.schema_name == ref.schema,
                t.TablePermission.table_name == ref.table,
                t.TablePermission.returned_at.is_(None),
                or_(t.TablePermission.expires_at.is_(None), t.TablePermission.expires_at > moment),
            )
        ).all()
        if not rows:
            raise NotFound("active write permission of " + actor.login + " on", str(ref))
        for row in rows:
            row.returned_at = moment
        uow.commit()
        return len(rows)


def list_grants(
    db: Database,
    actor: Actor,
    login: str | None = None,
    *,
    expiring: bool = False,
    now: datetime | None = None,
) -> list[GrantView]:
    """Write permissions with their status: the actor's own, or any user's for a super admin
    (`login`); `expiring` keeps the active ones that end within EXPIRY_WARNING_DAYS."""
    moment = now or t.utcnow()
    soon = moment + timedelta(days=EXPIRY_WARNING_DAYS)
    who = login or actor.login
    if who != actor.login:
        require_super_admin(actor, f"list the permissions of {who}")
    query = (
        select(t.TablePermission, t.User.login, t.DataSource.name)
        .join(t.User, t.User.id == t.TablePermission.user_id)
        .join(t.DataSource, t.DataSource.id == t.TablePermission.datasource_id)
        .where(t.User.login == who)
        .order_by(t.DataSource.name, t.TablePermission.table_name, t.TablePermission.id)
    )
    with db.uow() as uow:
        views = []
        for p, user, ds in uow.session.execute(query):
            status = grant_status(p.expires_at, p.returned_at, moment)
            expiring_soon = (
                status is GrantStatus.ACTIVE and p.expires_at is not None and (p.expires_at <= soon)
            )
            views.append(
                GrantView(
                    p.id,
                    user,
                    TableRef(ds, p.schema_name, p.table_name),
                    p.source,
                    p.granted_at,
                    p.expires_at,
                    status.value,
                    expiring_soon,
                )
            )
    return [v for v in views if v.expiring_soon or not expiring]
