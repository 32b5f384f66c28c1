"""Edited DDL on the real servers: every hostile statement is refused with nothing executed
(asserted on the catalog), and the generated statement edited in names, comments, lengths and
precision creates its table (issue 17, findings 2-4 and 8)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import psycopg
import pytest

from tagport.domain.catalog import DataSourceType
from tagport.errors import Conflict, InvalidInput, TerminalError
from tagport.targets.base import ColumnDdl, TableDdl
from tagport.targets.mysql import MySqlTarget
from tagport.targets.postgres import PG_CAPABILITIES, PostgresTarget
from tagport.targets.project import ProjectTarget
from tagport.targets.sql import Statement
from tests.unit.targets.test_validate import HOSTILE_MYSQL, HOSTILE_PG, edited_generated


def _pg_other(target: PostgresTarget) -> None:
    s = target.params.schema
    with target.conn.transaction():
        target.conn.execute(f'CREATE TABLE "{s}".other (id int PRIMARY KEY, s text)'.encode())
        target.conn.execute(f"INSERT INTO \"{s}\".other VALUES (1, 'kept')".encode())


def _pg_state(target: PostgresTarget) -> tuple[list[str], list[tuple[object, ...]]]:
    rows = target._query(f'SELECT id, s FROM "{target.params.schema}".other')
    return target.list_tables(), rows


@pytest.mark.parametrize(("sql", "message"), HOSTILE_PG)
def test_postgres_runs_nothing_of_a_hostile_statement(
    pg_target: PostgresTarget, sql: str, message: str
) -> None:
    _pg_other(pg_target)
    schema = pg_target.params.schema
    sql = sql.replace("export.", f'"{schema}".').replace("TEMP TABLE a", "TEMP TABLE zz")
    with pytest.raises(InvalidInput, match=message if "schema" not in message else "schema"):
        pg_target.create_table(sql)
    assert _pg_state(pg_target) == (["other"], [(1, "kept")])


def test_postgres_refuses_to_take_over_an_existing_table(pg_target: PostgresTarget) -> None:
    _pg_other(pg_target)
    schema = pg_target.params.schema
    with pytest.raises(
        Conflict,
        match=rf"^table {schema}\.other already exists; one-click creation only creates new "
        "tables$",
    ):
        pg_target.create_table(f'CREATE TABLE "{schema}".other (id int)')
    assert _pg_state(pg_target) == (["other"], [(1, "kept")])


def test_postgres_creates_the_edited_generated_statement(pg_target: PostgresTarget) -> None:
    sql = edited_generated(DataSourceType.POSTGRESQL).replace(
        '"export".', f'"{pg_target.params.schema}".'
    )
    info = pg_target.create_table(sql)
    assert info.name == "my_export" and info.partition_columns == ("ds",)
    types = {c.name: c.type for c in info.columns}
    assert types["entity_id"] == "character varying(64)"
    assert types["tag_decimal"] == "numeric(30,2)"
    comment = pg_target._query(
        "SELECT col_description(to_regclass(%s), 1)",
        (f'"{pg_target.params.schema}"."my_export"',),
    )
    assert comment == [("the member ID",)]


@pytest.fixture
def elsewhere(pg_url: str, pg_schema: str) -> Iterator[str]:
    """A second schema, besides the connection's."""
    name = f"{pg_schema}_b"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"'.encode())
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE'.encode())


def test_a_table_is_created_and_dropped_in_the_schema_named_not_the_connections(
    pg_target: PostgresTarget, elsewhere: str
) -> None:
    """A creation in another schema than the connection's describes the table it made there,
    and undoing it drops that table only: the connection's table of the same name keeps its
    rows."""
    _pg_other(pg_target)
    info = pg_target.create_table(TableDdl("other", (ColumnDdl("id", "int"),)), elsewhere)
    assert (info.schema, info.column_names) == (elsewhere, ("id",))
    assert pg_target.list_tables(elsewhere) == ["other"]
    pg_target.drop_table("other", elsewhere)
    assert pg_target.list_tables(elsewhere) == []
    assert _pg_state(pg_target) == (["other"], [(1, "kept")])


class CommentsRefused(PostgresTarget):
    """A server that refuses the comments of a new table (each becomes a failing statement)."""

    def _run(self, statements: Sequence[Statement], *, transaction: bool) -> None:
        missing = f'COMMENT ON TABLE "{self.params.schema}".missing IS NULL'
        refused = [Statement(missing) if s.sql.startswith("COMMENT") else s for s in statements]
        super()._run(refused, transaction=transaction)


class CommentsRefusedWithoutTransactionalDdl(CommentsRefused):
    """The same on a server whose DDL commits at once (as Oracle's does)."""

    capabilities = replace(PG_CAPABILITIES, transactional_ddl=False)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (CommentsRefused, "^PostgreSQL: missing table: "),
        (
            CommentsRefusedWithoutTransactionalDdl,
            "^commenting other failed, so the table just created was dropped again: "
            "PostgreSQL: missing table: ",
        ),
    ],
)
def test_a_table_whose_comments_fail_is_not_left_behind(
    pg_target: PostgresTarget, elsewhere: str, cls: type[PostgresTarget], message: str
) -> None:
    """In one transaction with its comments where DDL is transactional; else created, then
    dropped again when a comment fails: either way the failure leaves no table, and the
    connection schema's table of the same name keeps its rows."""
    _pg_other(pg_target)
    with cls(pg_target.params) as target, pytest.raises(TerminalError, match=message):
        target.create_table(
            f'CREATE TABLE "{elsewhere}".other (id int); '
            f"COMMENT ON TABLE \"{elsewhere}\".other IS 'x'",
            elsewhere,
        )
    assert pg_target.list_tables(elsewhere) == []
    assert _pg_state(pg_target) == (["other"], [(1, "kept")])


def _mysql_other(target: MySqlTarget) -> None:
    target._query("CREATE TABLE other (id int PRIMARY KEY, s text)")
    target._query("INSERT INTO other VALUES (1, 'kept')")


def _mysql_state(target: MySqlTarget) -> tuple[list[str], list[tuple[object, ...]]]:
    return target.list_tables(), target._query("SELECT id, s FROM other")


@pytest.mark.parametrize(("sql", "message"), HOSTILE_MYSQL)
def test_mariadb_runs_nothing_of_a_hostile_statement(
    mysql_target: MySqlTarget, sql: str, message: str
) -> None:
    _mysql_other(mysql_target)
    sql = sql.replace("test.", "nottest.").replace("other.t", "otherdb.t")
    with pytest.raises(InvalidInput, match=message if "schema" not in message else "schema"):
        mysql_target.create_table(sql)
    assert _mysql_state(mysql_target) == (["other"], [(1, "kept")])


def test_mariadb_a_comment_cannot_hide_a_statement(mysql_target: MySqlTarget) -> None:
    _mysql_other(mysql_target)
    mysql_target.create_table("CREATE TABLE t (id int) # ; DROP TABLE other")
    assert _mysql_state(mysql_target) == (["other", "t"], [(1, "kept")])


def test_mariadb_refuses_to_take_over_an_existing_table(mysql_target: MySqlTarget) -> None:
    _mysql_other(mysql_target)
    with pytest.raises(
        Conflict, match=r"^table other already exists; one-click creation only creates new tables$"
    ):
        mysql_target.create_table("CREATE TABLE other (id int)")
    with pytest.raises(InvalidInput, match="IF NOT EXISTS"):
        mysql_target.create_table("CREATE TABLE IF NOT EXISTS other (id int)")
    assert _mysql_state(mysql_target) == (["other"], [(1, "kept")])


def test_mariadb_creates_the_edited_generated_statement(mysql_target: MySqlTarget) -> None:
    sql = edited_generated(DataSourceType.MYSQL)
    info = mysql_target.create_table(sql)
    assert info.name == "my_export" and info.partition_columns == ("ds",)
    types = {c.name: c.type for c in info.columns}
    assert types["entity_id"] == "varchar(64)" and types["tag_decimal"] == "decimal(30,2)"
    comment = mysql_target._query(
        "SELECT column_comment FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name = 'my_export' AND column_name = 'entity_id'"
    )
    assert comment == [("the member ID",)]


def test_the_project_target_creates_the_edited_generated_statement(
    project_target: ProjectTarget,
) -> None:
    sql = edited_generated(DataSourceType.PROJECT).replace('"export".', '"proj".')
    info = project_target.create_table(sql)
    assert info.name == "my_export" and "spend" in info.column_names
    assert {c.name: c.type for c in info.columns}["tag_decimal"] == "DECIMAL(30,2)"
    with pytest.raises(Conflict, match="already exists"):
        project_target.create_table(sql)
