"""Exports and estimates fit the memory limit they are given, by cutting their work into ID
ranges (one query over a million members runs out of 32MB; before these ranges, so did a 30M
export at the default 160MB).

The warehouse: a million demo users, whose sources tagport did not record, so every query
de-duplicates them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from tagport.domain.tasks import TagOutput
from tagport.warehouse import demo
from tagport.warehouse.base import ExportColumn, ExportPlan
from tagport.warehouse.duckdb import DuckDBWarehouse

DAY = date(2024, 5, 2)
USERS = 1_000_000
LIMIT = "32MB"
EVERYONE = demo.everyone()


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    file = tmp_path_factory.mktemp("memory") / "warehouse.duckdb"
    demo.build_demo_data(DuckDBWarehouse(file), USERS, [DAY])
    return file


def test_an_export_is_cut_to_fit_the_memory_limit_it_is_given(path: Path) -> None:
    """Every member with the 8 demo tags, sorted, in two streams read at once, as a MySQL
    load does: ranges of `chunk_rows` ran out of memory, ranges sized to the limit export
    every member once, in order."""
    scope = demo.demo_scope()
    outputs = [TagOutput(tag=code) for code in sorted(scope.tags)]
    columns = [ExportColumn("user_id", "user_id")] + [ExportColumn(t.tag, t.tag) for t in outputs]
    plan = ExportPlan(EVERYONE, scope, DAY, outputs, columns, ["user_id"], ordered=True)
    readers = DuckDBWarehouse(path, memory_limit=LIMIT).export_readers(plan, 2)
    with ThreadPoolExecutor(2) as pool:
        streams = list(pool.map(pa.RecordBatchReader.read_all, readers))
    first, second = (s.column("user_id").to_pylist() for s in streams)
    assert first == sorted(first) and second == sorted(second) and first[-1] < second[0]
    assert first + second == list(range(1, USERS + 1))
    assert streams[0].num_columns == 9


def test_an_estimate_too_large_for_the_limit_is_counted_in_id_ranges(path: Path) -> None:
    """The one count query over every member runs out of 32MB; the estimate then sums its
    counts over ID ranges."""
    scope = demo.demo_scope()
    assert DuckDBWarehouse(path, memory_limit=LIMIT).estimate(scope, EVERYONE, DAY) == USERS
