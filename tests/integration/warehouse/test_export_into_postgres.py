"""An export computed by Spark and loaded into PostgreSQL holds, row for row, what the DuckDB
export of the same plan holds there: the same warehouse tables on both engines, one plan, one
target table each, compared as PostgreSQL returns them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tagport.targets.postgres import PostgresTarget
from tagport.warehouse.base import Warehouse
from tests.integration.targets.conftest import pg_params
from tests.integration.targets.data import design
from tests.integration.warehouse.engines import make_warehouse
from tests.integration.warehouse.mixed_export import BIZDATE, USERS, fill, plan


def _rows(target: PostgresTarget, table: str) -> list[tuple[Any, ...]]:
    with target.conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{target.params.schema}"."{table}" ORDER BY user_id')
        return cur.fetchall()


@pytest.mark.spark
@pytest.mark.slow
def test_spark_and_duckdb_exports_load_the_same_rows_into_postgres(
    tmp_path: Path, request: pytest.FixtureRequest, pg_url: str, pg_schema: str
) -> None:
    export = plan()
    loaded: dict[str, list[tuple[Any, ...]]] = {}
    with PostgresTarget(pg_params(pg_url, pg_schema)) as target:
        for engine in ("duckdb", "spark"):
            house: Warehouse = make_warehouse(engine, tmp_path / engine, request)
            fill(house)
            target.create_table(target.create_table_sql(design(engine)))
            result = target.write(engine, house.export_reader(export, batch_size=1000))
            assert result.rows == house.estimate(export.scope, export.audience, BIZDATE)
            loaded[engine] = _rows(target, engine)
    assert len(loaded["duckdb"]) > USERS // 3
    assert loaded["spark"] == loaded["duckdb"]
    codenames = {row[2] for row in loaded["spark"]}
    assert {"HZ", "杭州市", "SH", "(empty)", None} <= codenames
