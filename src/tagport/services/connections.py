"""Reach a data source's server: test the connection, and browse its schemas, tables and
columns (what the console's table pickers show). Dialect SQL stays in `tagport.targets`.

A database may be browsed by anyone who may pick it as a target (writing needs a permission). A
warehouse project data source is its project's schema of the warehouse: only that project's
members (and super admins) reach it, and through it no other project's tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tagport.config import Settings
from tagport.domain.catalog import DataSourceType
from tagport.errors import ConfigError, ExternalError, InvalidInput
from tagport.services.datasources import find_datasource
from tagport.services.permissions import Actor, project_member_ids, require_any
from tagport.services.targets import TargetAccess
from tagport.store import tables as t
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


@dataclass(frozen=True)
class _Reached:
    target: Target
    schema: str | None
    """The schema to browse: as asked, or a project data source's own."""
    fixed: bool
    """A project data source: its one schema is all there is to list."""


def _open(
    settings: Settings, db: Database, actor: Actor, name: str, schema: str | None = None
) -> _Reached:
    """The data source's target, once `actor` may reach it (checked before connecting)."""
    with db.uow() as uow:
        ds = find_datasource(uow.session, name)
        fixed = ds.type == DataSourceType.PROJECT.value
        schema = _reachable_schema(ds, actor, schema)
        return _Reached(TargetAccess(settings).open(uow.session, ds, schema), schema, fixed)


def _reachable_schema(ds: t.DataSource, actor: Actor, schema: str | None) -> str | None:
    """The schema to open: as asked for a database; a project data source's own, for its
    members only (the warehouse file holds every project's tables)."""
    if ds.type != DataSourceType.PROJECT.value or ds.project is None:
        return schema
    project = ds.project
    who = f"a member of project {project.name}"
    require_any(actor, f"browse data source {ds.name}", project_member_ids(project), who)
    if schema not in (None, "", project.name):
        raise InvalidInput.one(
            f"data source {ds.name}", "schema", f"a project data source has one: {project.name}"
        )
    return project.name


def test_connection(settings: Settings, db: Database, actor: Actor, name: str) -> ConnectionTest:
    """Connect to data source `name` and ask its version. A server that cannot be reached, or
    settings that forbid reaching it, is a result (`ok` false and the reason), not an error."""
    started = time.monotonic()
    try:
        with _open(settings, db, actor, name).target as target:
            version = target.server_version()
    except (ExternalError, ConfigError) as exc:
        return ConnectionTest(name, False, None, str(exc), time.monotonic() - started)
    return ConnectionTest(name, True, version, None, time.monotonic() - started)


def schemas(settings: Settings, db: Database, actor: Actor, name: str) -> list[str]:
    """Schemas of the data source's server (databases on MySQL; a project data source's one)."""
    reached = _open(settings, db, actor, name)
    with reached.target as target:
        if reached.fixed and reached.schema:
            return [reached.schema]
        return target.list_schemas()


def tables(
    settings: Settings,
    db: Database,
    actor: Actor,
    name: str,
    schema: str | None,
    search: str | None,
) -> list[str]:
    """Base tables of `schema` (default: the connection's) whose name contains `search`."""
    reached = _open(settings, db, actor, name, schema)
    with reached.target as target:
        found = target.list_tables(reached.schema)
    word = (search or "").lower()
    return [table for table in found if word in table.lower()][:MAX_LISTED]


def columns(
    settings: Settings, db: Database, actor: Actor, name: str, schema: str | None, table: str
) -> TableInfo:
    """A table's columns, primary key and partition columns (NotFound when it is missing)."""
    reached = _open(settings, db, actor, name, schema)
    with reached.target as target:
        return target.describe_table(table, reached.schema)
