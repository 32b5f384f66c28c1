"""`/api/v1/permission-requests`: ask the data source owner for write permission on a target
table; the owner (or a super admin) approves or rejects, the requester may withdraw."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.api.schemas import NO_NUL, PageOut, RowId, page_request
from tagport.domain.states import PERMISSION_PERIODS, RequestStatus
from tagport.services import permission_requests as requests
from tagport.services.table_permissions import TableRef
from tagport.store.paging import PageRequest

router = Router(prefix="/permission-requests", tags=["permissions"])

RequestId = RowId
PERIODS = ", ".join(str(d) for d in PERMISSION_PERIODS)


class TableIn(BaseModel):
    """A target table: data source, schema ('' where the type has none) and table."""

    model_config = ConfigDict(populate_by_name=True)

    datasource: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    schema_: str = Field(default="", alias="schema", max_length=128, pattern=NO_NUL)
    table: str = Field(min_length=1, max_length=128, pattern=NO_NUL)

    def ref(self) -> TableRef:
        return TableRef(self.datasource, self.schema_, self.table)


class RequestIn(TableIn):
    reason: str = Field(
        min_length=1, max_length=requests.MAX_REASON, pattern=NO_NUL, description="Why."
    )
    days: int | None = Field(default=None, ge=1, le=3650, description=f"One of {PERIODS}.")
    until: date | None = Field(default=None, description="Or an end date (instead of `days`).")


class CommentIn(BaseModel):
    comment: str = Field(min_length=1, max_length=requests.MAX_REASON, pattern=NO_NUL)


class TableRowOut(BaseModel):
    """What a request and a grant share: their id, their user and the table."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    user: str
    datasource: str
    schema_: str = Field(alias="schema")
    table: str

    @staticmethod
    def shared(row_id: int, user: str, table: TableRef) -> dict[str, Any]:
        return {
            "id": row_id,
            "user": user,
            "datasource": table.datasource,
            "schema_": table.schema,
            "table": table.table,
        }


class RequestOut(TableRowOut):
    user: str = Field(description="The requester.")
    days: int | None
    reason: str | None
    status: RequestStatus
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None = Field(description="The decider's: why it was rejected, or a note.")

    @classmethod
    def of(cls, view: requests.RequestView) -> RequestOut:
        return cls(
            **cls.shared(view.id, view.user, view.table),
            days=view.days,
            reason=view.reason,
            status=RequestStatus(view.status),
            requested_at=view.requested_at,
            decided_by=view.decided_by,
            decided_at=view.decided_at,
            comment=view.note,
        )


def _one(caller: Caller, request_id: int) -> RequestOut:
    return RequestOut.of(requests.get_request(caller.db, caller.actor, request_id))


@router.post("", status_code=201)
def create_request(caller: Caller, body: RequestIn) -> RequestOut:
    """Ask for write permission for `days` (7, 30, 90, 180 or 365) or until a date; renewing a
    permission is a new request. One pending request per table and user."""
    request_id = requests.request(
        caller.db, caller.actor, body.ref(), body.reason, body.days, body.until
    )
    return _one(caller, request_id)


@router.get("")
def list_requests(
    caller: Caller,
    paging: Annotated[PageRequest, Depends(page_request)],
    to_approve: Annotated[
        bool,
        Query(description="Those on data sources I approve for (all, for a super admin)."),
    ] = False,
    status: RequestStatus | None = None,
) -> PageOut[RequestOut]:
    """My requests, or those awaiting my decision (`to_approve=true&status=pending`); newest
    first, sortable by requested_at or status."""
    page = requests.requests_page(
        caller.db, caller.actor, paging, to_approve=to_approve, status=status
    )
    return PageOut[RequestOut](
        items=[RequestOut.of(v) for v in page.items],
        total=page.total,
        page=page.page,
        size=page.size,
        next_cursor=page.next_cursor,
    )


@router.get("/{request_id}")
def get_request(caller: Caller, request_id: RequestId) -> RequestOut:
    """A request: for its requester, the data source owner or a super admin."""
    return _one(caller, request_id)


@router.post("/{request_id}/approve")
def approve_request(
    caller: Caller, request_id: RequestId, body: Annotated[CommentIn | None, Body()] = None
) -> RequestOut:
    """Approve a pending request (the data source owner or a super admin): the requester may
    write the table from now on, for the requested period."""
    requests.approve(caller.db, caller.actor, request_id, body.comment if body else None)
    return _one(caller, request_id)


@router.post("/{request_id}/reject")
def reject_request(caller: Caller, request_id: RequestId, body: CommentIn) -> RequestOut:
    """Reject a pending request, saying why (`comment` is required)."""
    requests.reject(caller.db, caller.actor, request_id, body.comment)
    return _one(caller, request_id)


@router.post("/{request_id}/withdraw")
def withdraw_request(caller: Caller, request_id: RequestId) -> RequestOut:
    """Take back a pending request of mine."""
    requests.withdraw(caller.db, caller.actor, request_id)
    return _one(caller, request_id)
