"""Helpers of the lifecycle tests: a described target table and a one-call publish."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tagport.services import publication
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.targets.base import ColumnInfo, TableInfo

HZ_VIP = TableInfo(
    "public",
    "hz_vip",
    (
        ColumnInfo("user_id", "bigint", False),
        ColumnInfo("city", "text", True),
        ColumnInfo("city_codename", "character varying(64)", True),
        ColumnInfo("age", "bigint", True),
        ColumnInfo("loaded_at", "timestamp", False, "now()"),
    ),
    ("user_id",),
)


def describe_as(table: TableInfo | Exception) -> publication.DescribeTarget:
    def describe(session: Session, ds: t.DataSource, schema: str | None, name: str) -> TableInfo:
        if isinstance(table, Exception):
            raise table
        return table

    return describe


def publish(db: Database, actor: Actor, name: str, table: TableInfo | Exception = HZ_VIP) -> Any:
    publication.request_publish(db, actor, name)
    return publication.complete_publication(db, name, describe_as(table))
