"""The generated PostgreSQL and MariaDB statements run for real and create what they promise."""

from __future__ import annotations

import pytest

from tagport.domain.values import IdType
from tagport.targets.mysql import MySqlTarget
from tagport.targets.postgres import PostgresTarget
from tests.unit.targets.designs import every_type

CASES = [(i, p) for i in IdType for p in (False, True)]


@pytest.mark.parametrize(("id_type", "partitioned"), CASES)
def test_postgres_ddl_executes(
    pg_target: PostgresTarget, id_type: IdType, partitioned: bool
) -> None:
    design = every_type(id_type, partitioned)
    info = pg_target.create_table(pg_target.create_table_sql(design))
    assert info.column_names == tuple(c.name for c in design.columns) + (
        ("ds",) if partitioned else ()
    )
    assert info.primary_key == design.key
    assert info.partition_columns == (("ds",) if partitioned else ())
    assert [c.type for c in info.columns][:2] == [
        "bigint" if id_type is IdType.BIGINT else "character varying(128)",
        "text",
    ]
    comment = pg_target._query(
        "SELECT col_description(to_regclass(%s), 2)",
        (f'"{pg_target.params.schema}"."audience_export"',),
    )
    assert comment == [("tag of type string ('quoted')",)]


@pytest.mark.parametrize(("id_type", "partitioned"), CASES)
def test_mysql_ddl_executes(mysql_target: MySqlTarget, id_type: IdType, partitioned: bool) -> None:
    design = every_type(id_type, partitioned)
    info = mysql_target.create_table(mysql_target.create_table_sql(design))
    assert info.primary_key == design.key
    assert info.partition_columns == (("ds",) if partitioned else ())
    assert [c.type for c in info.columns][:2] == [
        "bigint(20)" if id_type is IdType.BIGINT else "varchar(128)",
        "text",
    ]
    comment = mysql_target._query(
        "SELECT column_comment FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name = 'audience_export' AND column_name = 'tag_string'"
    )
    assert comment == [("tag of type string ('quoted')",)]
