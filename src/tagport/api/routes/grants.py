"""`/api/v1/grants`: write permissions on target tables — listed with their status and whether
they end soon, returned by their holder, granted directly by the data source owner or a super
admin (the request workflow is `/permission-requests`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Query
from pydantic import Field

from tagport.api.deps import Caller
from tagport.api.routes.permission_requests import TableIn, TableRowOut
from tagport.api.routing import Router
from tagport.api.schemas import NO_NUL, PageOut, RowId, page_request
from tagport.domain.states import EXPIRY_WARNING_DAYS, GrantStatus
from tagport.services import permission_requests as requests
from tagport.services.table_permissions import MAX_GRANT_DAYS, grant
from tagport.store.paging import PageRequest

router = Router(prefix="/grants", tags=["permissions"])

GrantId = RowId
Name = Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_NUL)]


class GrantIn(TableIn):
    user: str = Field(min_length=1, max_length=64, pattern=NO_NUL, description="The grantee.")
    days: int | None = Field(
        default=None, ge=1, le=MAX_GRANT_DAYS, description="Expire after N days; none: never."
    )


class GrantOut(TableRowOut):
    user: str = Field(description="Who may write the table.")
    source: str = Field(description="request, grant or create_table: how it was given.")
    granted_at: datetime
    expires_at: datetime | None
    status: GrantStatus
    expiring_soon: bool = Field(description=f"Active and ends within {EXPIRY_WARNING_DAYS} days.")

    @classmethod
    def of(cls, view: requests.GrantView) -> GrantOut:
        return cls(
            **cls.shared(view.id, view.user, view.table),
            source=view.source,
            granted_at=view.granted_at,
            expires_at=view.expires_at,
            status=GrantStatus(view.status),
            expiring_soon=view.expiring_soon,
        )


@router.get("")
def list_grants(
    caller: Caller,
    paging: Annotated[PageRequest, Depends(page_request)],
    scope: Annotated[
        Literal["mine", "all"],
        Query(
            description="mine, or all I may see: every one for a super admin, else mine and "
            "those on the data sources I own."
        ),
    ] = "mine",
    user: Name = None,
    datasource: Name = None,
    status: GrantStatus | None = None,
    expiring: Annotated[
        bool, Query(description=f"Only active ones ending within {EXPIRY_WARNING_DAYS} days.")
    ] = False,
) -> PageOut[GrantOut]:
    """Write permissions with their status; newest first, sortable by granted_at."""
    where = requests.GrantFilter(scope == "all", user, datasource, status, expiring)
    page = requests.grants_page(caller.db, caller.actor, where, paging)
    return PageOut[GrantOut](
        items=[GrantOut.of(v) for v in page.items],
        total=page.total,
        page=page.page,
        size=page.size,
        next_cursor=page.next_cursor,
    )


@router.get("/{grant_id}")
def get_grant(caller: Caller, grant_id: GrantId) -> GrantOut:
    """A write permission: for its holder, the data source owner or a super admin."""
    return GrantOut.of(requests.get_grant(caller.db, caller.actor, grant_id))


@router.post("", status_code=201)
def create_grant(caller: Caller, body: GrantIn) -> GrantOut:
    """Grant a user write permission directly, without a request (the data source owner or a
    super admin)."""
    grant_id = grant(caller.db, caller.actor, body.user, body.ref(), body.days)
    return GrantOut.of(requests.get_grant(caller.db, caller.actor, grant_id))


@router.post("/{grant_id}/return")
def return_grant(caller: Caller, grant_id: GrantId) -> GrantOut:
    """Give back an active write permission of mine: the task writing that table can no longer
    run or publish a new version until a new request is approved."""
    return GrantOut.of(requests.return_grant(caller.db, caller.actor, grant_id))
