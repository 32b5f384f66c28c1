"""A user-edited CREATE TABLE is read with the target's own dialect, checked against an
allow-list and rendered again by tagport (issue 17, findings 2-4 and 8; issue 15's DDL bullet).

Compiled only: every PostgreSQL-family type (openGauss, Greenplum, AnalyticDB PG included) and
MySQL and Oracle refuse the same hostile statements; the real servers run them in
tests/integration/targets/test_edited_ddl.py.
"""

from __future__ import annotations

import re

import pytest

from tagport.domain.catalog import DataSourceType
from tagport.domain.naming import IDENTIFIER
from tagport.domain.values import IdType
from tagport.errors import InvalidInput
from tagport.targets import ConnectionParams, Target, open_target
from tagport.targets.base import TableDesign
from tagport.targets.sql import shorten
from tests.unit.targets.designs import every_type

PG_FAMILY = [
    DataSourceType.POSTGRESQL,
    DataSourceType.OPENGAUSS,
    DataSourceType.GREENPLUM,
    DataSourceType.ADB_PG,
]
SCHEMA = {DataSourceType.MYSQL: "test", DataSourceType.ORACLE: "TAGPORT"}


def target(kind: DataSourceType) -> Target:
    schema = SCHEMA.get(kind, "export")
    if kind is DataSourceType.MYSQL:
        return open_target(kind, ConnectionParams(database=schema))
    return open_target(kind, ConnectionParams(schema=schema))


def rendered(t: Target, sql: str) -> str:
    checked = t.check_create_sql(sql)
    return ";\n".join(t.dialect.render_create(checked, t._schema(None)))  # type: ignore[attr-defined]


HOSTILE_PG = [
    ("CREATE TABLE IF NOT EXISTS export.a (id int)", "IF NOT EXISTS"),
    ("CREATE TABLE export.a AS SELECT 1 AS id", "AS SELECT"),
    ("CREATE TABLE export.a (id int) AS SELECT 1", "AS SELECT"),
    ("CREATE TABLE export.a (LIKE export.other INCLUDING ALL)", "LIKE"),
    ("CREATE TABLE export.a (id int) INHERITS (export.other)", "INHERITS"),
    ("CREATE TABLE export.a PARTITION OF export.other FOR VALUES IN ('x')", "PARTITION OF"),
    ("CREATE TABLE export.a (id int REFERENCES export.other (id))", "REFERENCES"),
    (
        "CREATE TABLE export.a (id int, FOREIGN KEY (id) REFERENCES export.other (id))",
        "FOREIGN KEY",
    ),
    ("CREATE TABLE export.a (id int CHECK (id > 0))", "CHECK"),
    ("CREATE TABLE export.a (id int, CHECK (pg_sleep(1) IS NULL))", "CHECK"),
    ("CREATE TABLE export.a (id int, x int GENERATED ALWAYS AS (id * 2) STORED)", "generated"),
    ("CREATE TABLE export.a (id int GENERATED ALWAYS AS IDENTITY)", "generated"),
    ("CREATE TABLE export.a (id int, x text DEFAULT pg_read_file('/etc/passwd'))", "DEFAULT"),
    ("CREATE TABLE export.a (id int, x text DEFAULT (SELECT max(s) FROM export.b))", "DEFAULT"),
    ("CREATE TABLE export.a (id int, x text DEFAULT current_user)", "DEFAULT"),
    ("CREATE TABLE export.a (id int, x text DEFAULT 'a' || version())", "DEFAULT"),
    ("CREATE UNLOGGED TABLE export.a (id int)", "UNLOGGED"),
    ("CREATE TEMP TABLE a (id int)", "TEMPORARY"),
    ("CREATE TABLE export.a (id int) WITH (fillfactor = 10)", "storage options"),
    ("CREATE TABLE export.a (id int) TABLESPACE evil", "TABLESPACE"),
    ("CREATE TABLE export.a (id int PRIMARY KEY USING INDEX TABLESPACE evil)", "PRIMARY KEY"),
    ("CREATE TABLE export.a (id int, UNIQUE (id))", "UNIQUE"),
    ('CREATE TABLE export.a (id text COLLATE "C""; x")', "COLLATE"),
    ("CREATE TABLE export.a (id evil_domain)", "type"),
    ("CREATE TABLE export.a (id int, CONSTRAINT k PRIMARY KEY (id))", "named constraints"),
    ("CREATE TABLE export.a (id int); CREATE TABLE export.b (id int)", "exactly one"),
    ("CREATE TABLE other.a (id int)", "schema 'export'"),
    ("CREATE VIEW export.a AS SELECT 1", "CREATE TABLE"),
    ("CREATE TABLE export.a (id int); DROP TABLE export.b", "COMMENT ON"),
    ("CREATE TABLE export.a (id int); COMMENT ON TABLE export.b IS 'x'", "concern table"),
    ("CREATE TABLE export.a (id int); COMMENT ON COLUMN export.a.nope IS 'x'", "not a column"),
    ("CREATE TABLE export.a (id int); COMMENT ON TABLE export.a IS upper('x')", "parse|string"),
    ("CREATE TABLE export.a (id int,", "does not parse"),
    ("DROP TABLE export.a", "exactly one"),
    ("CREATE TABLE export.a (id int) DISTRIBUTED BY (nope)", "DISTRIBUTED BY|not a column"),
]


@pytest.mark.parametrize("kind", PG_FAMILY)
@pytest.mark.parametrize(("sql", "message"), HOSTILE_PG)
def test_the_postgresql_family_refuses_each_hostile_statement_naming_it(
    kind: DataSourceType, sql: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        target(kind).check_create_sql(sql)
    assert len(str(refused.value).splitlines()) == 1


HOSTILE_MYSQL = [
    ("CREATE TABLE t (id int) ENGINE=MyISAM DATA DIRECTORY='/tmp' INDEX DIRECTORY='/tmp'", "DIR"),
    ("CREATE TABLE t (id int) ENGINE=MyISAM", "ENGINE"),
    ("CREATE TABLE t (id int) /*!50100 ENGINE=MyISAM DATA DIRECTORY='/tmp' */", "executable"),
    ("CREATE TABLE t (id int /*!, x int DEFAULT (SELECT 1) */)", "executable"),
    ("CREATE TABLE t LIKE other", "LIKE"),
    ("CREATE TABLE t AS SELECT * FROM other", "AS SELECT"),
    ("CREATE TABLE IF NOT EXISTS t (id int)", "IF NOT EXISTS"),
    ("CREATE TEMPORARY TABLE t (id int)", "TEMPORARY"),
    ("CREATE TABLE t (id int, x int AS (id * 2))", "generated"),
    ("CREATE TABLE t (id int, x text DEFAULT (load_file('/etc/passwd')))", "DEFAULT"),
    ("CREATE TABLE t (id int, x int DEFAULT (SELECT max(id) FROM other))", "DEFAULT"),
    ("CREATE TABLE t (id int, FOREIGN KEY (id) REFERENCES other (id))", "FOREIGN KEY"),
    ("CREATE TABLE t (id int CHECK (id > 0))", "CHECK"),
    ("CREATE TABLE t (id int) CHARSET=latin1", "CHARACTER SET"),
    ("CREATE TABLE t (id text CHARACTER SET 'latin1; x')", "CHARACTER SET|parse"),
    ("CREATE TABLE t (id int AUTO_INCREMENT PRIMARY KEY)", "AUTO_INCREMENT"),
    ("CREATE TABLE other.t (id int)", "schema 'test'"),
    ("CREATE TABLE t (id int); COMMENT ON TABLE t IS 'x'", "inline COMMENT"),
    ("CREATE TABLE t (id int); DROP TABLE other", "inline COMMENT"),
]


@pytest.mark.parametrize(("sql", "message"), HOSTILE_MYSQL)
def test_mysql_refuses_each_hostile_statement_naming_it(sql: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        target(DataSourceType.MYSQL).check_create_sql(sql)


HOSTILE_ORACLE = [
    ('CREATE TABLE "TAGPORT"."a" ("id" NUMBER) TABLESPACE users', "TABLESPACE"),
    ('CREATE TABLE "TAGPORT"."a" ("id" NUMBER, "x" TIMESTAMP DEFAULT SYSTIMESTAMP)', "DEFAULT"),
    ('CREATE TABLE "TAGPORT"."a" ("id" NUMBER REFERENCES "TAGPORT"."b" ("id"))', "REFERENCES"),
    ('CREATE TABLE "TAGPORT"."a" AS SELECT * FROM "OTHER"."b"', "AS SELECT"),
    ('CREATE TABLE "OTHER"."a" ("id" NUMBER)', "schema 'TAGPORT'"),
]


@pytest.mark.parametrize(("sql", "message"), HOSTILE_ORACLE)
def test_oracle_refuses_each_hostile_statement_naming_it(sql: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        target(DataSourceType.ORACLE).check_create_sql(sql)


def test_analyticdb_refuses_a_partition_clause() -> None:
    sql = 'CREATE TABLE "export"."a" ("id" bigint, "ds" varchar(10)) PARTITION BY LIST ("ds")'
    with pytest.raises(InvalidInput, match="never partitioned"):
        target(DataSourceType.ADB_PG).check_create_sql(sql)


@pytest.mark.parametrize(
    ("kind", "sql"),
    [
        (DataSourceType.MYSQL, "CREATE TABLE t (id int) # ; DROP TABLE other"),
        (DataSourceType.MYSQL, "CREATE TABLE t (id int) -- ; DROP TABLE other"),
        (DataSourceType.POSTGRESQL, "CREATE TABLE export.t (id int) -- ; DROP TABLE export.o"),
        (DataSourceType.POSTGRESQL, "CREATE TABLE export.t (id int) /* ; DROP TABLE o */"),
    ],
)
def test_what_runs_is_the_checked_statement_never_the_typed_text(
    kind: DataSourceType, sql: str
) -> None:
    statements = rendered(target(kind), sql)
    assert "DROP" not in statements.upper() and "--" not in statements and "#" not in statements
    assert statements.startswith("CREATE TABLE ")


def test_an_edited_statement_keeps_literal_defaults_comments_and_the_key() -> None:
    sql = (
        "CREATE TABLE export.my_table (id bigint PRIMARY KEY, \"City\" text DEFAULT 'x''y',\n"
        "n numeric(10,2) DEFAULT -1.5 NOT NULL, at timestamp DEFAULT CURRENT_TIMESTAMP,\n"
        "flag boolean DEFAULT false, note varchar(20) NULL DEFAULT NULL);\n"
        "COMMENT ON TABLE export.my_table IS 'x; y';\n"
        "COMMENT ON COLUMN export.my_table.id IS 'the id';"
    )
    t = target(DataSourceType.POSTGRESQL)
    checked = t.check_create_sql(sql)
    assert checked.name == "my_table" and checked.primary_key == ("id",)
    assert checked.column_names == ("id", "City", "n", "at", "flag", "note")
    assert [c.default for c in checked.columns] == [
        None, "'x''y'", "-1.5", "CURRENT_TIMESTAMP", "FALSE", "NULL"
    ]  # fmt: skip
    assert checked.comment == "x; y" and checked.columns[0].comment == "the id"
    assert [c.not_null for c in checked.columns] == [False, False, True, False, False, False]
    assert t.check_create_sql("CREATE TABLE my_table (id int)").name == "my_table"


def test_text_columns_keep_a_character_set_and_collation() -> None:
    mysql = target(DataSourceType.MYSQL).check_create_sql(
        "CREATE TABLE t (s longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)"
    )
    assert mysql.columns[0].type == "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    pg = target(DataSourceType.POSTGRESQL).check_create_sql('CREATE TABLE t (s text COLLATE "C")')
    assert pg.columns[0].type == 'TEXT COLLATE "C"'


def test_mysql_accepts_its_partition_clause_and_inline_comments() -> None:
    sql = (
        "CREATE TABLE `t` (`id` bigint NOT NULL COMMENT 'the id', `ds` varchar(10) NOT NULL, "
        "`at` datetime(6) DEFAULT CURRENT_TIMESTAMP(6), "
        "PRIMARY KEY (`id`, `ds`)) COMMENT='x' PARTITION BY LIST COLUMNS(`ds`) "
        "(PARTITION `p_init` VALUES IN ('00000000'))"
    )
    checked = target(DataSourceType.MYSQL).check_create_sql(sql)
    assert (checked.name, checked.partition_column, checked.comment) == ("t", "ds", "x")
    assert checked.columns[0].comment == "the id"
    assert checked.columns[2].default == "CURRENT_TIMESTAMP(6)"
    assert target(DataSourceType.MYSQL).check_create_sql("CREATE TABLE test.t (id int)").name


EDITS = {
    # kind: (original, edited) pairs applied to the generated statement
    DataSourceType.POSTGRESQL: [
        ("varchar(128)", "varchar(64)"),
        ("numeric(20,6)", "numeric(30,2)"),
    ],
    DataSourceType.OPENGAUSS: [("varchar(128)", "varchar(64)"), ("numeric(20,6)", "numeric(30,2)")],
    DataSourceType.GREENPLUM: [("varchar(128)", "varchar(64)"), ("numeric(20,6)", "numeric(30,2)")],
    DataSourceType.ADB_PG: [("varchar(128)", "varchar(64)"), ("numeric(20,6)", "numeric(30,2)")],
    DataSourceType.MYSQL: [("varchar(128)", "varchar(64)"), ("decimal(20,6)", "decimal(30,2)")],
    DataSourceType.ORACLE: [("VARCHAR2(128)", "VARCHAR2(64)"), ("NUMBER(20,6)", "NUMBER(30,2)")],
    DataSourceType.PROJECT: [("DECIMAL(20,6)", "DECIMAL(30,2)")],
}


def edited_generated(kind: DataSourceType) -> str:
    """The generated statement edited only in names, comments, lengths and precision."""
    t = target(kind)
    sql = t.create_table_sql(every_type(IdType.STRING, partitioned=True), t._schema(None))  # type: ignore[attr-defined]
    for old, new in [*EDITS[kind], ("audience_export", "my_export"), ("tag_long", "spend")]:
        assert old in sql, (kind, old)
        sql = sql.replace(old, new)
    return re.sub(r"entity ID", "the member ID", sql)


@pytest.mark.parametrize("kind", list(DataSourceType))
def test_the_generated_statement_edited_in_names_comments_and_sizes_is_accepted(
    kind: DataSourceType,
) -> None:
    checked = target(kind).check_create_sql(edited_generated(kind))
    assert checked.name == "my_export"
    assert "spend" in checked.column_names and checked.primary_key[0] == "entity_id"
    assert checked.columns[0].comment == "the member ID"
    types = " ".join(c.type for c in checked.columns).replace(" ", "").upper()
    assert "30,2" in types
    if kind is not DataSourceType.PROJECT:
        assert "(64)" in types


def test_identifiers_are_validated_before_quoting() -> None:
    dialect = target(DataSourceType.POSTGRESQL).dialect  # type: ignore[attr-defined]
    hostile = 'a"; DROP TABLE x; --'
    refused = f"identifier: {hostile}: {IDENTIFIER.explanation}"
    with pytest.raises(InvalidInput, match=f"^{re.escape(refused)}$"):
        dialect.quote(hostile)
    with pytest.raises(InvalidInput, match=f"^identifier: {'m' * 64}: longer than 63 characters$"):
        dialect.quote("m" * 64)
    assert dialect.quote("m" * 63) == f'"{"m" * 63}"'


def test_long_names_shorten_deterministically_within_the_limit() -> None:
    name = "x" * 70
    first = shorten(name, "_dpfx_tmp", 63)
    assert first == shorten(name, "_dpfx_tmp", 63)
    assert len(first) == 63 and first.endswith("_dpfx_tmp")
    assert first != shorten("x" * 69 + "y", "_dpfx_tmp", 63)
    assert shorten("short", "_dpfx_b", 63) == "short_dpfx_b"
    assert shorten("x" * 56, "_dpfx_b", 63) == "x" * 56 + "_dpfx_b"  # just fits: kept whole


@pytest.mark.parametrize("kind", [k for k in DataSourceType if k is not DataSourceType.PROJECT])
def test_a_design_without_columns_is_refused(kind: DataSourceType) -> None:
    with pytest.raises(InvalidInput, match=r"^table: columns: a table needs at least one column$"):
        target(kind).create_table_sql(TableDesign("empty", ()))


@pytest.mark.parametrize(
    "kind",
    [DataSourceType.POSTGRESQL, DataSourceType.OPENGAUSS, DataSourceType.GREENPLUM],
)
def test_a_data_source_without_a_schema_creates_in_its_search_path(kind: DataSourceType) -> None:
    """No schema set on the data source: the one-click statement names the table alone (the
    server's search path places it), and it passes its own check."""
    without = open_target(kind, ConnectionParams())
    design = every_type(IdType.BIGINT, False)
    checked = without.check_create_sql(without.create_table_sql(design))
    assert (checked.name, checked.column_names) == (
        design.name,
        tuple(c.name for c in design.columns),
    )
