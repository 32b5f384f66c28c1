"""Generated CREATE TABLE for every target type × ID type × partitioned or not, snapshot-tested.

Set TAGPORT_UPDATE_SNAPSHOTS=1 to rewrite the files under snapshots/ after a deliberate change.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from tagport.domain.catalog import DataSourceType
from tagport.domain.values import IdType
from tagport.targets import ConnectionParams, open_target
from tagport.targets.base import TableDdl
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
def test_the_generated_statement_passes_its_own_check_unchanged(
    kind: DataSourceType, id_type: IdType, partitioned: bool
) -> None:
    """One-click creation of the generated statement works on every target: the check reads
    back the table the design asked for (types as sqlglot spells them) and renders it again
    into a statement that checks to the same table."""
    schema = SCHEMA.get(kind, "export")
    target = open_target(kind, ConnectionParams(schema=schema))
    dialect = target.dialect  # type: ignore[attr-defined]
    checked = target.check_create_sql(_sql(kind, id_type, partitioned))
    designed = dialect.table_ddl(every_type(id_type, partitioned))
    assert _without_types(checked) == _without_types(designed)
    for mine, theirs in zip(checked.columns, designed.columns, strict=True):
        assert _spelling(mine.type) == _spelling(theirs.type)
    again = ";\n".join(dialect.render_create(checked, schema))
    assert target.check_create_sql(again) == checked


def _without_types(table: TableDdl) -> TableDdl:
    return replace(table, columns=tuple(replace(c, type="") for c in table.columns))


def _spelling(column_type: str) -> str:
    """Types equal up to sqlglot's synonyms and spacing (numeric ~ decimal, varchar ~ text in
    DuckDB, double precision ~ double in MySQL)."""
    text = column_type.lower().replace(" ", "")
    for synonym, canonical in (("numeric", "decimal"), ("doubleprecision", "double")):
        text = text.replace(synonym, canonical)
    return "text" if text == "varchar" else text


def test_adb_pg_is_never_partitioned_and_distributes_by_the_id() -> None:
    sql = _sql(DataSourceType.ADB_PG, IdType.BIGINT, True)
    assert "PARTITION BY" not in sql
    assert 'DISTRIBUTED BY ("entity_id")' in sql
    assert 'PRIMARY KEY ("entity_id", "ds")' in sql


def test_greenplum_partitions_and_distributes_by_the_id() -> None:
    sql = _sql(DataSourceType.GREENPLUM, IdType.STRING, True)
    assert 'PARTITION BY LIST ("ds") DISTRIBUTED BY ("entity_id")' in sql
