"""Reach a data source's server: test the connection, and browse its schemas, tables and
columns (what the console's table pickers show). Dialect SQL stays in `tagport.targets`."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tagport.config import Settings
from tagport.errors import ConfigError, ExternalError
from tagport.services.datasources import find_datasource
from tagport.services.targets import TargetAccess
from tagport.store.db import Database
from tagport.targets import TableInfo, Target

MAX_LISTED = 1000
"""Tables a browse lists at most: a picker narrows with its keyword beyond that."""


@dataclass(frozen=True)
class ConnectionTest:
    """What a connection test found: the server's version, or why it could not connect."""

    datasource: str
    ok: bool
    server_version: str | None
    reason: str | None
    seconds: float


def _open(settings: Settings, db: Database, name: str, schema: str | None = None) -> Target:
    with db.uow() as uow:
        ds = find_datasource(uow.session, name)
        return TargetAccess(settings).open(uow.session, ds, schema)


def test_connection(settings: Settings, db: Database, name: str) -> ConnectionTest:
    """Connect to data source `name` and ask its version. A server that cannot be reached, or
    settings that forbid reaching it, is a result (`ok` false and the reason), not an error."""
    started = time.monotonic()
    try:
        with _open(settings, db, name) as target:
            version = target.server_version()
    except (ExternalError, ConfigError) as exc:
        return ConnectionTest(name, False, None, str(exc), time.monotonic() - started)
    return ConnectionTest(name, True, version, None, time.monotonic() - started)


def schemas(settings: Settings, db: Database, name: str) -> list[str]:
    """Schemas of the data source's server (databases on MySQL, projects for a project)."""
    with _open(settings, db, name) as target:
        return target.list_schemas()


def tables(
    settings: Settings, db: Database, name: str, schema: str | None, search: str | None
) -> list[str]:
    """Base tables of `schema` (default: the connection's) whose name contains `search`."""
    with _open(settings, db, name, schema) as target:
        found = target.list_tables(schema)
    word = (search or "").lower()
    return [table for table in found if word in table.lower()][:MAX_LISTED]


def columns(
    settings: Settings, db: Database, name: str, schema: str | None, table: str
) -> TableInfo:
    """A table's columns, primary key and partition columns (NotFound when it is missing)."""
    with _open(settings, db, name, schema) as target:
        return target.describe_table(table, schema)
