"""Shapes shared by every router: pages of a list and the query parameters that ask for one."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel

from tagport.domain.values import MAX_ROW_ID
from tagport.store.paging import MAX_SIZE, Page, PageRequest

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    """One page of a list: its items, the total the filters keep, and the keyset cursor."""

    items: list[T]
    total: int
    page: int
    size: int
    next_cursor: str | None = None

    @classmethod
    def of(cls, page: Page[T]) -> PageOut[T]:
        return cls(
            items=page.items,
            total=page.total,
            page=page.page,
            size=page.size,
            next_cursor=page.next_cursor,
        )


async def page_request(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_SIZE, description="Items per page.")] = 50,
    sort: Annotated[
        str | None,
        Query(max_length=64, description="Field to sort by; `-field` descends. Ties: by id."),
    ] = None,
    after: Annotated[
        str | None,
        Query(max_length=512, description="`next_cursor` of the previous page (keyset paging)."),
    ] = None,
) -> PageRequest:
    return PageRequest(page, size, sort, after)


NO_NUL = r"^[^\x00]*$"
"""The pattern of free text a route passes on to the database: PostgreSQL refuses NUL in text,
which would otherwise surface as a 5xx instead of the caller's 422."""

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
"""A row id in a path: ids are INTEGER on PostgreSQL, where a larger one fails instead of
matching nothing."""
