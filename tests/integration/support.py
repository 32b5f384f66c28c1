"""Helpers of the integration tests: a described target table, a one-call publish, and the
local servers as catalog documents."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tagport.services import publication
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.targets.base import ColumnInfo, TableInfo
from tests.conftest import MYSQL, PG_URL

PG_DATASOURCE = {
    "kind": "DataSource",
    "name": "pg",
    "type": "postgresql",
    "host": "127.0.0.1",
    "database": PG_URL.rsplit("/", 1)[-1],
    "username": "postgres",
    "owner": "operator",
}
"""The local PostgreSQL (trust authentication: no password) as data source `pg`."""
MYSQL_DATASOURCE = {
    "kind": "DataSource",
    "name": "my",
    "type": "mysql",
    "host": "127.0.0.1",
    "database": MYSQL["database"],
    "username": "root",
    "owner": "operator",
}
"""The local MariaDB (root without a password) as data source `my`."""
WH_DATASOURCE = {
    "kind": "DataSource",
    "name": "wh",
    "type": "project",
    "project": "tag_prod",
    "owner": "operator",
}
"""The demo warehouse's project `tag_prod` as a target, data source `wh`."""
APP = {
    "kind": "Application",
    "name": "app",
    "project": "tag_prod",
    "services": ["audience_offline"],
    "admins": ["operator"],
}
"""An application on the demo project that the operator administers."""

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
