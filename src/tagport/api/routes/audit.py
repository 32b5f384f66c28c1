"""`/api/v1/audit`: the audit log — every change, who made it, when, from which address, with
the values before and after (super admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.api.schemas import NO_NUL, PageOut, page_request
from tagport.services import audit
from tagport.store.paging import PageRequest

router = Router(prefix="/audit", tags=["audit"])


def _text(limit: int, description: str) -> Any:
    return Query(min_length=1, max_length=limit, pattern=NO_NUL, description=description)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="The login that made the change.")
    origin: str = Field(description="`cli`, or the API client's address.")
    request_id: str | None
    action: audit.AuditAction
    kind: str = Field(description="What changed: User, DataSource, PermissionRequest …")
    key: str = Field(description="Its login, name or code, else its id.")
    before: dict[str, Any] | None = Field(description="Changed columns before; secrets: (set).")
    after: dict[str, Any] | None


@router.get("")
def list_audit(
    caller: Caller,
    paging: Annotated[PageRequest, Depends(page_request)],
    actor: Annotated[str | None, _text(64, "Changes by this login.")] = None,
    kind: Annotated[str | None, _text(64, "Of this kind: DataSource, User …")] = None,
    key: Annotated[str | None, _text(400, "Of the object with this name, login or id.")] = None,
    action: audit.AuditAction | None = None,
    since: Annotated[AwareDatetime | None, Query(description="From (inclusive).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Before (exclusive).")] = None,
) -> PageOut[AuditOut]:
    """The audit log, newest first (`sort=at` for oldest first); page on with `after`."""
    where = audit.AuditFilter(actor, kind, key, action, since, until)
    page = audit.audit_page(caller.db, caller.actor, where, paging)
    return PageOut[AuditOut](
        items=[AuditOut(**vars(v)) for v in page.items],
        total=page.total,
        page=page.page,
        size=page.size,
        next_cursor=page.next_cursor,
    )
