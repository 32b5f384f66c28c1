"""An export cut into N streams (N = 1, 2, 4) and loaded at once gives, row for row, what one
stream gives: into PostgreSQL and MariaDB, from DuckDB and from Spark.

Small on purpose (a few thousand members, batches of 500, ranges of at least 1,000 members):
what matters is that the cut is real (N streams, N loads at once) and loses or doubles nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tagport.config import load_settings
from tagport.domain.rules import parse_rule
from tagport.errors import ConfigError
from tagport.targets.base import Target
from tagport.warehouse.base import Warehouse
from tagport.warehouse.spark import EXPORTS, SparkWarehouse
from tests.integration.targets.data import design
from tests.integration.warehouse.engines import ENGINES, make_warehouse
from tests.integration.warehouse.mixed_export import BIZDATE, fill, plan

USERS = 8_000


@pytest.fixture(scope="module", params=ENGINES)
def house(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The mixed export's sources on one engine, once per module (Spark writes are slow)."""
    folder = tmp_path_factory.mktemp(request.param)
    warehouse = make_warehouse(request.param, folder, request, chunk_rows=1_000)
    fill(warehouse, USERS)
    return warehouse


def _rows(target: Target, table: str) -> list[tuple[object, ...]]:
    qualified = target.dialect.qualify(target.params.schema, table)  # type: ignore[attr-defined]
    return [tuple(r) for r in target._query(f"SELECT * FROM {qualified} ORDER BY user_id")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("fixture", ["pg_target", "mysql_target"])
def test_n_streams_load_the_rows_one_stream_loads(
    house: Warehouse, request: pytest.FixtureRequest, fixture: str
) -> None:
    target: Target = request.getfixturevalue(fixture)
    export = replace(plan(), ordered=target.capabilities.sorted_load)
    loaded: dict[int, list[tuple[object, ...]]] = {}
    for count in (1, 2, 4):
        table = f"streams_{count}"
        target.create_table(target.create_table_sql(design(table)))
        readers = house.export_readers(export, count, batch_size=500)
        assert len(readers) == count
        result = target.write(table, readers)
        loaded[count] = _rows(target, table)
        assert result.rows == len(loaded[count])
    assert len(loaded[1]) == house.estimate(export.scope, export.audience, BIZDATE)
    assert len(loaded[1]) > USERS // 3
    assert loaded[2] == loaded[1]
    assert loaded[4] == loaded[1]


@pytest.mark.parametrize("ordered", [False, True])
def test_streams_are_contiguous_id_blocks_in_order(house: Warehouse, ordered: bool) -> None:
    """Stream 1 the lowest IDs, stream 3 the highest, each sorted when the plan is; Spark's
    result files are gone once read."""
    readers = house.export_readers(replace(plan(), ordered=ordered), 3, batch_size=500)
    ids = [r.read_all().column("user_id").to_pylist() for r in readers]
    assert len(ids) == 3 and all(ids)
    assert max(ids[0]) < min(ids[1]) and max(ids[1]) < min(ids[2])
    if ordered:
        assert all(block == sorted(block) for block in ids)
    if isinstance(house, SparkWarehouse):
        assert not list((house.root / EXPORTS).iterdir())


def test_an_audience_without_members_is_read_as_no_rows(house: Warehouse) -> None:
    """The sample places ranges, but no member falls in any: the streams hold nothing (Spark
    then writes no lane folder at all)."""
    export = plan()
    nobody = parse_rule({"tag": "age", "op": "<", "value": -1})
    export = replace(export, audience=export.audience.model_copy(update={"rule": nobody}))
    readers = house.export_readers(export, 4, batch_size=500)
    assert sum(r.read_all().num_rows for r in readers) == 0
    if isinstance(house, SparkWarehouse):
        assert not list((house.root / EXPORTS).iterdir())


@pytest.mark.parametrize("value", ["0", "-2", "17", "two"])
def test_a_bad_stream_count_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TAGPORT_HOME", str(tmp_path))
    monkeypatch.setenv("TAGPORT_LOAD_STREAMS", value)
    with pytest.raises(ConfigError, match="TAGPORT_LOAD_STREAMS: Input should be"):
        load_settings()
