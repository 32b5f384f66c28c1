"""Lists filtered, sorted and paged by the database, with their total: the services' lists.

A page is asked for by number (`page`, `size`) or, for a stable walk through a list that
changes meanwhile, by keyset (`after`, the opaque cursor of the previous page's last row).
Rows always end in id order, so that equal sort values never shuffle between pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    TypeDecorator,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from tagport.errors import InvalidInput

MAX_SIZE = 500
T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    """Which page: number and size, the sort key (`-name` descends), or a keyset cursor."""

    page: int = 1
    size: int = 50
    sort: str | None = None
    after: str | None = None

    def __post_init__(self) -> None:
        if self.page < 1:
            raise InvalidInput.one("page", "page", "must be 1 or more")
        if not 1 <= self.size <= MAX_SIZE:
            raise InvalidInput.one("page", "size", f"must be 1 to {MAX_SIZE}")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int
    next_cursor: str | None
    """Pass as `after` to get the rows after this page's last (None: this is the last page)."""


def _encode(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), default=str).encode()).decode()


def _decode(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error):
        raise InvalidInput.one("page", "after", "is not a cursor this list returned") from None
    if not isinstance(values, list) or len(values) != 2 or not _fits(values[1]):
        raise InvalidInput.one("page", "after", "is not a cursor this list returned")
    return values


def _fits(value: Any, bits: int = 32) -> bool:
    """Whether `value` is an integer the column takes: ids are INTEGER (32 bits) on PostgreSQL,
    and a larger one fails there instead of matching nothing."""
    return type(value) is int and -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)


def fetch_page(
    session: Session,
    query: Select[*tuple[Any, ...]],
    id_column: InstrumentedAttribute[int],
    sortable: dict[str, InstrumentedAttribute[Any]],
    request: PageRequest,
) -> Page[Any]:
    """Run `query` (one entity or row per result) for one page; `sortable` names the columns a
    client may sort by. The total counts every row the filters keep."""
    name = (request.sort or "id").lstrip("-")
    descending = bool(request.sort and request.sort.startswith("-"))
    column = id_column if name == "id" else sortable.get(name)
    if column is None:
        allowed = ", ".join(sorted({"id", *sortable}))
        raise InvalidInput.one("page", "sort", f"unknown field {name!r}; sort by one of {allowed}")
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    ordered = query.order_by(
        column.desc() if descending else column.asc(),
        id_column.desc() if descending else id_column.asc(),
    )
    if request.after is not None:
        ordered = ordered.where(_after(column, id_column, _decode(request.after), descending))
    else:
        ordered = ordered.offset((request.page - 1) * request.size)
    rows = list(session.execute(ordered.add_columns(column, id_column).limit(request.size + 1)))
    more = len(rows) > request.size
    rows = rows[: request.size]
    cursor = _encode([rows[-1][-2], rows[-1][-1]]) if more and rows else None
    items = [row[0] if len(row) == 3 else tuple(row[:-2]) for row in rows]
    return Page(items, total or 0, request.page, request.size, cursor)


def _after(
    column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[int],
    last: list[Any],
    descending: bool,
) -> ColumnElement[bool]:
    value, last_id = _typed(column, last[0]), last[1]
    if column is id_column:
        by_id: ColumnElement[bool] = id_column < last_id if descending else id_column > last_id
        return by_id
    beyond = column < value if descending else column > value
    tie = id_column < last_id if descending else id_column > last_id
    condition: ColumnElement[bool] = or_(beyond, and_(column == value, tie))
    return condition


def _python_type(column: InstrumentedAttribute[Any]) -> type:
    """The Python type of a column's values, seen through a decorated type (UTC timestamps)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    try:
        found: type = kind.python_type
        return found
    except NotImplementedError:
        return object


def _typed(column: InstrumentedAttribute[Any], value: Any) -> Any:
    """A cursor's sort value back in the column's type (JSON keeps dates as text); a value of
    another type is a forged cursor, refused before it reaches the database."""
    kind = _python_type(column)
    try:
        if kind is datetime:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:  # every stored timestamp is UTC and aware
                raise ValueError(value)
            return moment
        if kind is date:
            return date.fromisoformat(value)
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            raise ValueError(value)
        if kind is int and not _fits(value, 64 if isinstance(column.type, BigInteger) else 32):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise InvalidInput.one("page", "after", "is not a cursor this list returned") from None
    return value
