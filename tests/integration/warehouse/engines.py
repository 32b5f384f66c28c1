"""The engines warehouse tests run on: DuckDB, and Spark (marked `spark` and `slow`).

A test about the warehouse's behaviour takes the `engine` fixture (or `ENGINES` as parameters)
and builds its warehouse with `make_warehouse`; all Spark warehouses of a test process share
the one session the `spark_config` fixture starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tagport.warehouse.base import Warehouse
from tagport.warehouse.duckdb import CHUNK_ROWS, DuckDBWarehouse
from tagport.warehouse.spark import SparkWarehouse

ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("spark", id="spark", marks=[pytest.mark.spark, pytest.mark.slow]),
]


def make_warehouse(
    engine: str,
    folder: Path,
    request: pytest.FixtureRequest,
    *,
    unique_sources: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    **duckdb_options: Any,
) -> Warehouse:
    """A warehouse of `engine` kept in `folder`, cutting exports into ranges of `chunk_rows`
    members at least (DuckDB takes `duckdb_options` too)."""
    if engine == "duckdb":
        path = folder / "warehouse.duckdb"
        return DuckDBWarehouse(
            path, unique_sources=unique_sources, chunk_rows=chunk_rows, **duckdb_options
        )
    config = request.getfixturevalue("spark_config")
    return SparkWarehouse(
        folder / "warehouse.spark", config, unique_sources=unique_sources, chunk_rows=chunk_rows
    )
