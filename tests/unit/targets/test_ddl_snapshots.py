"""Generated CREATE TABLE for every target type × ID type × partitioned or not, snapshot-tested.

Set TAGPORT_UPDATE_SNAPSHOTS=1 to rewrite the files under snapshots/ after a deliberate change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

from tagport.domain.catalog import DataSourceType
from tagport.domain.values import IdType
from tagport.targets import ConnectionParams, open_target
from tagport.targets.ddl import TAILS, split_statements
from tests.unit.targets.designs import every_type

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = bool(os.environ.get("TAGPORT_UPDATE_SNAPSHOTS"))
SCHEMA = {DataSourceType.MYSQL: None, DataSourceType.ORACLE: "TAGPORT"}
CASES = [
    (kind, id_type, partitioned)
    for kind in DataSourceType
    for id_type in IdType
    for partitioned in (False, True)
]


def _sql(kind: DataSourceType, id_type: IdType, partitioned: bool) -> str:
    target = open_target(kind, ConnectionParams(schema=SCHEMA.get(kind, "export")))
    return target.create_table_sql(every_type(id_type, partitioned), SCHEMA.get(kind, "export"))


@pytest.mark.parametrize(("kind", "id_type", "partitioned"), CASES)
def test_create_table_matches_snapshot(
    kind: DataSourceType, id_type: IdType, partitioned: bool
) -> None:
    sql = _sql(kind, id_type, partitioned)
    path = (
        SNAPSHOTS / f"{kind.value}_{id_type.value}_{'partitioned' if partitioned else 'plain'}.sql"
    )
    if UPDATE or not path.exists():
        assert UPDATE, f"missing snapshot {path.name}; run with TAGPORT_UPDATE_SNAPSHOTS=1"
        path.write_text(sql)
    assert sql == path.read_text()


@pytest.mark.parametrize(("kind", "id_type", "partitioned"), CASES)
def test_generated_ddl_compiles_and_validates(
    kind: DataSourceType, id_type: IdType, partitioned: bool
) -> None:
    sql = _sql(kind, id_type, partitioned)
    target = open_target(kind, ConnectionParams(schema=SCHEMA.get(kind, "export")))
    dialect = target.dialect  # type: ignore[attr-defined]
    for statement in split_statements(sql, dialect.sqlglot_dialect):
        for tail in TAILS.values():
            statement = tail.sub("", statement)
        parsed = sqlglot.parse_one(statement, read=dialect.sqlglot_dialect)
        assert type(parsed).__name__ in ("Create", "Comment"), statement
    assert target.validate_create_sql(sql) == "audience_export"


def test_adb_pg_is_never_partitioned_and_distributes_by_the_id() -> None:
    sql = _sql(DataSourceType.ADB_PG, IdType.BIGINT, True)
    assert "PARTITION BY" not in sql
    assert 'DISTRIBUTED BY ("entity_id")' in sql
    assert 'PRIMARY KEY ("entity_id", "ds")' in sql


def test_greenplum_partitions_and_distributes_by_the_id() -> None:
    sql = _sql(DataSourceType.GREENPLUM, IdType.STRING, True)
    assert 'PARTITION BY LIST ("ds") DISTRIBUTED BY ("entity_id")' in sql
