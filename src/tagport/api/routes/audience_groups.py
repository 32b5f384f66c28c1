"""`/api/v1/audience-groups`: audience groups by rule, SQL or imported file; their estimate,
their members page by page, and the upload of an import group's file."""

from datetime import date
from typing import Annotated, Any

from fastapi import Query, UploadFile
from pydantic import BaseModel

from tagport.api.catalog import FAILING_SERVER, Key, Noun, add_routes
from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.domain.catalog import AudienceGroupSpec, AudienceKind, Spec, UpdateMethod
from tagport.services import audience_files, warehouse
from tagport.services.warehouse import MAX_PAGE, MAX_PAGE_SIZE

router = Router(tags=["audience groups"])


def _own_file_only(caller: Caller, spec: Spec) -> None:
    assert isinstance(spec, AudienceGroupSpec)
    audience_files.require_uploaded(caller.settings, caller.db, spec)


NOUN = Noun("AudienceGroup", "/audience-groups", vet=_own_file_only)


def _filters(
    entity: Annotated[str | None, Query(max_length=64, description="The entity's code.")] = None,
    owner: Annotated[str | None, Query(max_length=64, description="The owner's login.")] = None,
    kind: Annotated[AudienceKind | None, Query(description="rule, import or sql")] = None,
    update: Annotated[UpdateMethod | None, Query(description="periodic or manual")] = None,
) -> dict[str, Any]:
    return {"entity": entity, "owner": owner, "kind": kind, "update": update}


add_routes(router, NOUN, _filters)


class EstimateIn(BaseModel):
    bizdate: date


class EstimateOut(BaseModel):
    code: str
    bizdate: date
    size: int


class MembersOut(BaseModel):
    code: str
    bizdate: date
    page: int
    size: int
    ids: list[str | int]
    has_more: bool


class ImportOut(BaseModel):
    code: str
    ids: int
    lines: int
    duplicates: int


@router.post("/audience-groups/{key}/estimate", responses=FAILING_SERVER)
def estimate(caller: Caller, key: Key, body: EstimateIn) -> EstimateOut:
    """The audience's size at `bizdate`, also kept as the group's `estimated_size`."""
    size = warehouse.estimate(caller.settings, caller.db, caller.actor, key, body.bizdate)
    return EstimateOut(code=key, bizdate=body.bizdate, size=size)


@router.get("/audience-groups/{key}/members", responses=FAILING_SERVER)
def members(
    caller: Caller,
    key: Key,
    bizdate: date,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> MembersOut:
    """One page of the audience's entity IDs at `bizdate`, in ID order."""
    found = warehouse.members_page(
        caller.settings, caller.db, caller.actor, key, bizdate, page, size
    )
    return MembersOut(
        code=key,
        bizdate=bizdate,
        page=page,
        size=size,
        ids=found.ids,
        has_more=found.has_more,
    )


@router.post("/audience-groups/{key}/import", responses=FAILING_SERVER)
def upload_import(caller: Caller, key: Key, file: UploadFile) -> ImportOut:
    """Upload the group's file (`.csv` with a header naming the entity's ID field, or `.txt`
    with one ID per line; at most 256 MiB), point the group at it and load it. A bad file is
    refused with every bad line and changes nothing."""
    parsed = audience_files.upload(
        caller.settings, caller.db, caller.actor, key, file.filename or "", file.file
    )
    return ImportOut(code=key, ids=parsed.count, lines=parsed.lines, duplicates=parsed.duplicates)
