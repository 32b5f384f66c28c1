"""An export computed by Spark and loaded into PostgreSQL holds, row for row, what the DuckDB
export of the same plan holds there: the same warehouse tables on both engines, one plan, one
target table each, compared as PostgreSQL returns them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSource, TagSpec
from tagport.domain.rules import parse_rule
from tagport.domain.tasks import Output, TagOutput
from tagport.targets.postgres import PostgresTarget
from tagport.warehouse.base import AudienceScope, ExportColumn, ExportPlan, TagRef, Warehouse
from tests.integration.targets.conftest import pg_params
from tests.integration.targets.data import TAGS, design, export_table
from tests.integration.warehouse.engines import make_warehouse

BIZDATE = date(2024, 5, 2)
DS = "20240502"
USERS = 20_000
SOURCES = {"p.profile": ["city", "age", "vip", "birthday"], "p.activity": ["score", "balance"]}
"""Source table -> the tags it holds; `last_seen` comes from a third source of its own."""
CODES = {"Hangzhou": "HZ", "杭州": "杭州市", 'Shang"hai': "SH", "": "(empty)"}


def _sources() -> dict[str, pa.Table]:
    """Three sources over overlapping members, every row of p.profile twice, and another
    day's rows that must never count."""
    data = export_table(USERS, seed=11)
    ids = data.column("user_id")
    tables = {}
    for table, columns in {**SOURCES, "p.seen": ["last_seen"]}.items():
        part = data.select(["user_id", *columns]).rename_columns(["uid", *columns])
        if table == "p.activity":
            part = part.filter(pc.equal(pc.bit_wise_and(ids, 1), 0))
        elif table == "p.seen":
            part = part.slice(USERS // 3)
        elif table == "p.profile":
            part = pa.concat_tables([part, part])
        days = [DS] * part.num_rows
        today = part.append_column("ds", pa.array(days))
        other = part.slice(0, 100).append_column("ds", pa.array(["20240501"] * 100))
        tables[table] = pa.concat_tables([today, other])
    return tables


def _plan() -> ExportPlan:
    tables = {tag: table for table, tags in SOURCES.items() for tag in tags} | {
        "last_seen": "p.seen"
    }
    specs = {
        name: TagSpec(
            code=name,
            name=name,
            entity="user",
            value_type=vtype,
            source=TagSource(table=tables[name], key="uid", column=name),
            lookup="cities" if name == "city" else None,
        )
        for name, vtype in TAGS
        if name != "city_codename"
    }
    scope = AudienceScope(
        EntitySpec(code="user", name="U", project="p", id_field="user_id", id_type="bigint"),
        {code: TagRef(spec, CODES if code == "city" else None) for code, spec in specs.items()},
    )
    rule = {
        "any": [
            {
                "all": [
                    {"tag": "vip", "op": "=", "value": True},
                    {"tag": "age", "op": "<", "value": 40},
                ]
            },
            {"tag": "score", "op": ">", "value": 0.9},
            {"tag": "last_seen", "op": "is_null"},
        ]
    }
    audience = AudienceGroupSpec(
        code="mixed", name="M", entity="user", owner="o", rule=parse_rule(rule)
    )
    outputs = [TagOutput(tag="city", outputs=[Output.VALUE, Output.CODENAME])]
    outputs += [TagOutput(tag=name) for name in specs if name != "city"]
    columns = [ExportColumn("user_id", "user_id")] + [ExportColumn(n, n) for n, _ in TAGS]
    return ExportPlan(audience, scope, BIZDATE, outputs, columns, ["user_id"])


def _rows(target: PostgresTarget, table: str) -> list[tuple[Any, ...]]:
    with target.conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{target.params.schema}"."{table}" ORDER BY user_id')
        return cur.fetchall()


@pytest.mark.spark
@pytest.mark.slow
def test_spark_and_duckdb_exports_load_the_same_rows_into_postgres(
    tmp_path: Path, request: pytest.FixtureRequest, pg_url: str, pg_schema: str
) -> None:
    plan = _plan()
    loaded: dict[str, list[tuple[Any, ...]]] = {}
    with PostgresTarget(pg_params(pg_url, pg_schema)) as target:
        for engine in ("duckdb", "spark"):
            house: Warehouse = make_warehouse(engine, tmp_path / engine, request)
            for name, table in _sources().items():
                reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(4096))
                house.write_batches(name, reader, replace=True)
            target.create_table(target.create_table_sql(design(engine)))
            result = target.write(engine, house.export_reader(plan, batch_size=1000))
            assert result.rows == house.estimate(plan.scope, plan.audience, BIZDATE)
            loaded[engine] = _rows(target, engine)
    assert len(loaded["duckdb"]) > USERS // 3
    assert loaded["spark"] == loaded["duckdb"]
    codenames = {row[2] for row in loaded["spark"]}
    assert {"HZ", "杭州市", "SH", "(empty)", None} <= codenames
