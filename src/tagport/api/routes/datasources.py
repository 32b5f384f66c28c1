"""`/api/v1/datasources`: connections to target databases (or warehouse projects); a
connection test and the browse endpoints of the console's table pickers.

The password is write-only: `password` is accepted on create and update (omitted on update: the
stored one is kept) and never returned; answers say `password_set` instead.
"""

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from tagport.api.catalog import FAILING_SERVER, Key, Noun, add_routes, as_document
from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.domain.catalog import DataSourceType, Spec
from tagport.services import connections
from tagport.targets import TableInfo

router = Router(tags=["data sources"])

SchemaName = Annotated[
    str | None, Query(max_length=128, description="Default: the connection's schema.")
]


def _present(spec: Spec, details: dict[str, Any]) -> dict[str, Any]:
    facts = dict(details)
    facts["password_set"] = facts.pop("has_password", False)
    return as_document(spec, facts)


def _filters(
    type: Annotated[DataSourceType | None, Query(description="The database type.")] = None,
    owner: Annotated[str | None, Query(max_length=64, description="The owner's login.")] = None,
    project: Annotated[
        str | None, Query(max_length=64, description="The warehouse project (type project).")
    ] = None,
    usable_as_target: Annotated[
        bool | None,
        Query(
            description="true: what the caller may pick as a task's target (every database, "
            "and the warehouse projects they joined whose production account writes through)."
        ),
    ] = None,
) -> dict[str, Any]:
    return {"type": type, "owner": owner, "project": project, "usable_as_target": usable_as_target}


add_routes(router, Noun("DataSource", "/datasources", _present), _filters)


class ConnectionTestOut(BaseModel):
    datasource: str
    ok: bool
    server_version: str | None
    reason: str | None
    seconds: float


class ColumnOut(BaseModel):
    name: str
    type: str
    nullable: bool
    default: str | None


class TableOut(BaseModel):
    schema_: str | None = Field(serialization_alias="schema")
    name: str
    columns: list[ColumnOut]
    primary_key: list[str]
    partition_columns: list[str]

    @classmethod
    def of(cls, info: TableInfo) -> "TableOut":
        return cls(
            schema_=info.schema,
            name=info.name,
            columns=[ColumnOut(**vars(c)) for c in info.columns],
            primary_key=list(info.primary_key),
            partition_columns=list(info.partition_columns),
        )


@router.post("/datasources/{key}/test")
def test_connection(caller: Caller, key: Key) -> ConnectionTestOut:
    """Connect and report the server's version. A server that does not answer (or that the
    settings forbid) is `ok: false` with the reason, still a 200: the test itself worked."""
    result = connections.test_connection(caller.settings, caller.db, caller.actor, key)
    return ConnectionTestOut(**vars(result))


@router.get("/datasources/{key}/schemas", responses=FAILING_SERVER)
def list_schemas(caller: Caller, key: Key) -> list[str]:
    """Schemas of the server (databases on MySQL, projects for a project data source)."""
    return connections.schemas(caller.settings, caller.db, caller.actor, key)


@router.get("/datasources/{key}/tables", responses=FAILING_SERVER)
def list_tables(
    caller: Caller,
    key: Key,
    schema: SchemaName = None,
    search: Annotated[str | None, Query(max_length=128, description="Part of the name.")] = None,
) -> list[str]:
    """Base tables of a schema whose name contains `search` (at most 1,000)."""
    return connections.tables(caller.settings, caller.db, caller.actor, key, schema, search)


@router.get("/datasources/{key}/tables/{table}/columns", responses=FAILING_SERVER)
def describe_table(
    caller: Caller,
    key: Key,
    table: Key,
    schema: SchemaName = None,
) -> TableOut:
    """A table's columns in order, its primary key and partition columns."""
    return TableOut.of(
        connections.columns(caller.settings, caller.db, caller.actor, key, schema, table)
    )
