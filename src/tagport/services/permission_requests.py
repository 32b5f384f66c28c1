"""The write-permission workflow: a user requests write on a target table, the data source owner
(or a super admin) approves or rejects, the requester may withdraw; an approved request becomes a
permission that expires, can be returned, and is renewed by a new request.

Request statuses move only through `domain.states.next_request_status`; a permission's status
(active, expired, returned) follows from its timestamps (`domain.states.grant_status`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session, aliased

from tagport.domain.states import (
    EXPIRY_WARNING_DAYS,
    PERMISSION_PERIODS,
    GrantStatus,
    RequestEvent,
    RequestStatus,
    grant_status,
    next_request_status,
)
from tagport.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from tagport.services.datasources import find_datasource
from tagport.services.permissions import Actor, require_any, require_super_admin
from tagport.services.table_permissions import TableRef, record_grant
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.store.paging import Page, PageRequest, fetch_page

REQUEST = "request"
"""`TablePermission.source` of a permission that an approved request created."""
MAX_REASON = 1000
NOT_PENDING = "permission.request_not_pending"
"""The stable code of a decision on a request that was already decided or withdrawn."""
STILL_PENDING = "permission.request_pending"
"""The stable code of a second request while one for the same table waits."""
NOT_ACTIVE = "permission.not_active"
"""The stable code of returning a permission that has expired or was returned."""


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
            raise Conflict(f"request {pending} for write on {ref} is still pending").with_code(
                STILL_PENDING
            )
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
        try:
            status = next_request_status(RequestStatus(row.status), event)
        except InvalidTransition as refused:
            raise refused.with_code(NOT_PENDING) from None
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


def _check_status(status: str | None) -> None:
    if status is not None and status not in set(RequestStatus):
        allowed = ", ".join(s.value for s in RequestStatus)
        raise InvalidInput.one(
            "permission requests", "status", f"{status!r} is not one of {allowed}"
        )


_Requester, _Decider = aliased(t.User), aliased(t.User)


RequestRows = Select[t.PermissionRequest, str, str, str]
GrantRows = Select[t.TablePermission, str, str]


def _request_rows() -> RequestRows:
    """Requests with their requester's login, data source name and decider's login: one query
    for a whole list instead of three lookups a row."""
    return (
        select(t.PermissionRequest, _Requester.login, t.DataSource.name, _Decider.login)
        .join(_Requester, _Requester.id == t.PermissionRequest.user_id)
        .join(t.DataSource, t.DataSource.id == t.PermissionRequest.datasource_id)
        .outerjoin(_Decider, _Decider.id == t.PermissionRequest.decided_by_id)
    )


def _visible_requests(actor: Actor, to_approve: bool, status: str | None) -> RequestRows:
    """The actor's own requests, or those on the data sources the actor approves for."""
    _check_status(status)
    query = _request_rows()
    if to_approve:
        if not actor.is_super_admin:
            query = query.where(t.DataSource.owner_id == actor.id)
    else:
        query = query.where(t.PermissionRequest.user_id == actor.id)
    if status is not None:
        query = query.where(t.PermissionRequest.status == status)
    return query


def _request_view(row: t.PermissionRequest, user: str, ds: str, decider: str | None) -> RequestView:
    return RequestView(
        row.id,
        user,
        TableRef(ds, row.schema_name, row.table_name),
        row.days,
        row.reason,
        row.status,
        row.requested_at,
        decider,
        row.decided_at,
        row.decision_note,
    )


def list_requests(
    db: Database, actor: Actor, *, to_approve: bool = False, status: str | None = None
) -> list[RequestView]:
    """The actor's own requests, or (`to_approve`) those on data sources the actor approves for;
    a super admin sees every request with `to_approve`."""
    query = _visible_requests(actor, to_approve, status).order_by(t.PermissionRequest.id.desc())
    with db.uow() as uow:
        return [_request_view(*row) for row in uow.session.execute(query)]


REQUEST_SORTS = {
    "requested_at": t.PermissionRequest.requested_at,
    "status": t.PermissionRequest.status,
}


def requests_page(
    db: Database,
    actor: Actor,
    paging: PageRequest,
    *,
    to_approve: bool = False,
    status: str | None = None,
) -> Page[RequestView]:
    """One page of `list_requests`, filtered and paged by the database; newest first unless
    `paging` sorts otherwise."""
    query = _visible_requests(actor, to_approve, status)
    paging = replace(paging, sort=paging.sort or "-id")
    with db.uow() as uow:
        page = fetch_page(uow.session, query, t.PermissionRequest.id, REQUEST_SORTS, paging)
        views = [_request_view(*row) for row in page.items]
    return Page(views, page.total, page.page, page.size, page.next_cursor)


def get_request(db: Database, actor: Actor, request_id: int) -> RequestView:
    """One request, for its requester, the data source owner or a super admin."""
    query = _request_rows().where(t.PermissionRequest.id == request_id)
    with db.uow() as uow:
        found = uow.session.execute(query.add_columns(t.DataSource.owner_id)).first()
        if found is None:
            raise NotFound("permission request", str(request_id))
        row, user, ds, decider, owner_id = found
        require_any(
            actor,
            f"view request {request_id}",
            [row.user_id, owner_id],
            "its requester, the data source owner",
        )
        return _request_view(row, user, ds, decider)


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


def _grant_rows() -> GrantRows:
    return (
        select(t.TablePermission, t.User.login, t.DataSource.name)
        .join(t.User, t.User.id == t.TablePermission.user_id)
        .join(t.DataSource, t.DataSource.id == t.TablePermission.datasource_id)
    )


def _grant_view(p: t.TablePermission, user: str, ds: str, now: datetime) -> GrantView:
    status = grant_status(p.expires_at, p.returned_at, now)
    soon = now + timedelta(days=EXPIRY_WARNING_DAYS)
    expiring_soon = (
        status is GrantStatus.ACTIVE and p.expires_at is not None and p.expires_at <= soon
    )
    return GrantView(
        p.id,
        user,
        TableRef(ds, p.schema_name, p.table_name),
        p.source,
        p.granted_at,
        p.expires_at,
        status.value,
        expiring_soon,
    )


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
    who = login or actor.login
    if who != actor.login:
        require_super_admin(actor, f"list the permissions of {who}")
    query = (
        _grant_rows()
        .where(t.User.login == who)
        .order_by(t.DataSource.name, t.TablePermission.table_name, t.TablePermission.id)
    )
    with db.uow() as uow:
        views = [_grant_view(p, user, ds, moment) for p, user, ds in uow.session.execute(query)]
    return [v for v in views if v.expiring_soon or not expiring]


@dataclass(frozen=True)
class GrantFilter:
    """Which write permissions a list shows. `everyone`: all the actor may see (every one for a
    super admin; else their own and those on the data sources they own), not only their own."""

    everyone: bool = False
    user: str | None = None
    datasource: str | None = None
    status: GrantStatus | None = None
    expiring: bool = False


def _status_clause(status: GrantStatus, now: datetime) -> ColumnElement[bool]:
    """`domain.states.grant_status` as SQL: returned wins over expired."""
    p = t.TablePermission
    if status is GrantStatus.RETURNED:
        return p.returned_at.is_not(None)
    if status is GrantStatus.EXPIRED:
        return and_(p.returned_at.is_(None), p.expires_at.is_not(None), p.expires_at <= now)
    return and_(p.returned_at.is_(None), or_(p.expires_at.is_(None), p.expires_at > now))


def _visible_grants(actor: Actor, where: GrantFilter, now: datetime) -> GrantRows:
    p, query = t.TablePermission, _grant_rows()
    if not where.everyone:
        query = query.where(p.user_id == actor.id)
    elif not actor.is_super_admin:
        query = query.where(or_(p.user_id == actor.id, t.DataSource.owner_id == actor.id))
    if where.user is not None:
        query = query.where(t.User.login == where.user)
    if where.datasource is not None:
        query = query.where(t.DataSource.name == where.datasource)
    if where.status is not None:
        query = query.where(_status_clause(where.status, now))
    if where.expiring:
        soon = now + timedelta(days=EXPIRY_WARNING_DAYS)
        query = query.where(_status_clause(GrantStatus.ACTIVE, now), p.expires_at <= soon)
    return query


GRANT_SORTS = {"granted_at": t.TablePermission.granted_at}


def grants_page(
    db: Database,
    actor: Actor,
    where: GrantFilter,
    paging: PageRequest,
    now: datetime | None = None,
) -> Page[GrantView]:
    """One page of the write permissions `where` keeps, filtered and paged by the database;
    newest first unless `paging` sorts otherwise."""
    moment = now or t.utcnow()
    query = _visible_grants(actor, where, moment)
    paging = replace(paging, sort=paging.sort or "-id")
    with db.uow() as uow:
        page = fetch_page(uow.session, query, t.TablePermission.id, GRANT_SORTS, paging)
        views = [_grant_view(p, user, ds, moment) for p, user, ds in page.items]
    return Page(views, page.total, page.page, page.size, page.next_cursor)


def _grant_row(session: Session, grant_id: int) -> tuple[t.TablePermission, str, str, int | None]:
    found = session.execute(
        _grant_rows().add_columns(t.DataSource.owner_id).where(t.TablePermission.id == grant_id)
    ).first()
    if found is None:
        raise NotFound("write permission", str(grant_id))
    p, user, ds, owner_id = found
    return p, user, ds, owner_id


def get_grant(db: Database, actor: Actor, grant_id: int, now: datetime | None = None) -> GrantView:
    """One write permission, for its holder, the data source owner or a super admin."""
    with db.uow() as uow:
        p, user, ds, owner_id = _grant_row(uow.session, grant_id)
        doing = f"view write permission {grant_id}"
        require_any(actor, doing, [p.user_id, owner_id or 0], "its holder, the data source owner")
        return _grant_view(p, user, ds, now or t.utcnow())


def return_grant(
    db: Database, actor: Actor, grant_id: int, now: datetime | None = None
) -> GrantView:
    """Its holder gives back one active write permission; return its new state."""
    moment = now or t.utcnow()
    with db.uow() as uow:
        p, user, ds, _ = _grant_row(uow.session, grant_id)
        require_any(actor, f"return write permission {grant_id}", [p.user_id], "its holder")
        status = grant_status(p.expires_at, p.returned_at, moment)
        if status is not GrantStatus.ACTIVE:
            refused = Conflict(f"write permission {grant_id} is {status.value}: nothing to return")
            raise refused.with_code(NOT_ACTIVE)
        p.returned_at = moment
        view = _grant_view(p, user, ds, moment)
        uow.commit()
        return view
