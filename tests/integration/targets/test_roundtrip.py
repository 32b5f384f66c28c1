"""Exports written into PostgreSQL, MariaDB and the project target compare row by row."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from tagport.domain.dates import PartitionFormat
from tagport.targets.base import PartitionDesign, PartitionValue, Target
from tests.integration.targets.compare import assert_same_rows
from tests.integration.targets.data import as_reader, design, export_table

BIG = 200_000
"""Ten batches of 20,000 rows; a million rows go through each target's same write end to end in
`tests/integration/test_full_exports.py` (from the warehouse, in its own batches)."""
SMALL = 4_000
"""Ten batches of 400 rows: the same path batch after batch, in a fraction of the time."""
DAY1, DAY2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
TARGETS = ["pg_target", "mysql_target", "project_target"]


def _target(request: pytest.FixtureRequest, name: str) -> Target:
    target: Target = request.getfixturevalue(name)
    return target


SIZES = [pytest.param(BIG, id="200k", marks=pytest.mark.slow), pytest.param(SMALL, id="4k")]
"""The 200k rows run in `make test`; `make test-fast` streams the same path in 4k rows."""


def batches(data: pa.Table) -> pa.RecordBatchReader:
    """The rows as a stream of at least ten batches, whatever their number."""
    return as_reader(data, batch_rows=min(65_536, max(1, data.num_rows // 10)))


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("fixture", TARGETS)
def test_many_rows_non_partitioned(request: pytest.FixtureRequest, fixture: str, rows: int) -> None:
    target = _target(request, fixture)
    target.create_table(target.create_table_sql(design("members")))
    target.write("members", as_reader(export_table(1000, seed=1)))  # previous content
    data = export_table(rows, seed=2)
    seen: list[int] = []
    result = target.write("members", batches(data), progress=lambda p: seen.append(p.rows))
    assert result.rows == rows
    assert seen[-1] == rows and seen == sorted(seen)
    assert_same_rows(target, "members", data)
    assert not [t for t in target.list_tables() if "_dpfx_" in t]


@pytest.mark.parametrize("fixture", TARGETS)
@pytest.mark.parametrize(
    ("fmt", "rows"),
    [
        # 200k rows for one format; the others differ only in the rendered value: 4k rows.
        pytest.param(PartitionFormat.YYYYMMDD, BIG, id="yyyyMMdd-200k", marks=pytest.mark.slow),
        *(pytest.param(fmt, SMALL, id=f"{fmt.value}-4k") for fmt in PartitionFormat),
    ],
)
def test_partitioned_replaces_only_the_bizdate(
    request: pytest.FixtureRequest, fixture: str, fmt: PartitionFormat, rows: int
) -> None:
    target = _target(request, fixture)
    target.create_table(target.create_table_sql(design("members_p", PartitionDesign("ds", fmt))))
    day1, day2 = PartitionValue("ds", fmt, DAY1), PartitionValue("ds", fmt, DAY2)
    first = export_table(SMALL, seed=3, partition=day1.value)
    target.write("members_p", as_reader(first), partition=day1)  # creates the missing partition
    target.write(
        "members_p", as_reader(export_table(500, seed=4, partition=day2.value)), partition=day2
    )
    data = export_table(rows, seed=5, partition=day2.value)
    result = target.write("members_p", batches(data), partition=day2)
    assert result.mode == "partition" and result.rows == rows
    quote = "`" if fixture == "mysql_target" else '"'
    assert_same_rows(target, "members_p", data, f"WHERE {quote}ds{quote} = '{day2.value}'")
    assert_same_rows(target, "members_p", first, f"WHERE {quote}ds{quote} = '{day1.value}'")
    assert not [t for t in target.list_tables() if "_dpfx_" in t]
