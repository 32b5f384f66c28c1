"""A user-edited CREATE TABLE script is accepted only as exactly one CREATE TABLE in the schema."""

from __future__ import annotations

import pytest

from tagport.domain.catalog import DataSourceType
from tagport.errors import InvalidInput
from tagport.targets import ConnectionParams, open_target
from tagport.targets.sql import shorten

PG = open_target(DataSourceType.POSTGRESQL, ConnectionParams(schema="export"))
MYSQL = open_target(DataSourceType.MYSQL, ConnectionParams(database="test"))


def test_an_edited_statement_with_comments_is_accepted() -> None:
    sql = (
        'CREATE TABLE export.my_table (id bigint PRIMARY KEY, "City" text);\n'
        "COMMENT ON TABLE export.my_table IS 'x; y';\n"
        "COMMENT ON COLUMN export.my_table.id IS 'the id';"
    )
    assert PG.validate_create_sql(sql) == "my_table"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE export.a (id int); CREATE TABLE export.b (id int)", "exactly one"),
        ("CREATE TABLE other.a (id int)", "schema 'export'"),
        ("CREATE TABLE a (id int)", "qualify the table"),
        ("CREATE TABLE export.a AS SELECT 1 AS id", "AS SELECT"),
        ("CREATE VIEW export.a AS SELECT 1", "CREATE TABLE"),
        ("CREATE TABLE export.a (id int); DROP TABLE export.b", "COMMENT ON"),
        ("CREATE TABLE export.a (id int); COMMENT ON TABLE export.b IS 'x'", "concern table"),
        ("CREATE TABLE export.a (id int,", "does not parse"),
        ("DROP TABLE export.a", "exactly one"),
        ("CREATE TABLE export.a (id int) DISTRIBUTED BY (id); DELETE FROM x", "COMMENT ON"),
    ],
)
def test_anything_else_is_refused(sql: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PG.validate_create_sql(sql)


def test_mysql_accepts_its_partition_clause_and_refuses_another_database() -> None:
    sql = (
        "CREATE TABLE `t` (`id` bigint NOT NULL, `ds` varchar(10) NOT NULL, "
        "PRIMARY KEY (`id`, `ds`)) COMMENT='x' PARTITION BY LIST COLUMNS(`ds`) "
        "(PARTITION `p_init` VALUES IN ('00000000'))"
    )
    assert MYSQL.validate_create_sql(sql) == "t"
    with pytest.raises(InvalidInput, match="schema"):
        MYSQL.validate_create_sql("CREATE TABLE other.t (id int)")
    assert MYSQL.validate_create_sql("CREATE TABLE test.t (id int)") == "t"


def test_identifiers_are_validated_before_quoting() -> None:
    with pytest.raises(InvalidInput, match="plain identifier"):
        PG.dialect.quote('a"; DROP TABLE x; --')  # type: ignore[attr-defined]


def test_long_names_shorten_deterministically_within_the_limit() -> None:
    name = "x" * 70
    first = shorten(name, "_dpfx_tmp", 63)
    assert first == shorten(name, "_dpfx_tmp", 63)
    assert len(first) == 63 and first.endswith("_dpfx_tmp")
    assert first != shorten("x" * 69 + "y", "_dpfx_tmp", 63)
    assert shorten("short", "_dpfx_b", 63) == "short_dpfx_b"
