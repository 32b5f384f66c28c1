"""What the warehouse records of a loaded partition, and when a query may trust it: a partition
recorded unique and unchanged is read without de-duplication; anything else is de-duplicated."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSource, TagSpec
from tagport.domain.rules import parse_rule
from tagport.domain.values import IdType
from tagport.warehouse import partition_stats
from tagport.warehouse.base import AudienceScope, PartitionRef, TagRef
from tagport.warehouse.duckdb import DuckDBWarehouse
from tagport.warehouse.queries import Scan

DS = "20240502"
BIZDATE = date(2024, 5, 2)
SCAN = Scan(PartitionRef("p.t", "ds", DS), "uid", IdType.BIGINT)
TAG = TagSpec(
    code="age",
    name="Age",
    entity="user",
    value_type="long",
    source=TagSource(table="p.t", key="uid", column="age"),
)
SCOPE = AudienceScope(
    EntitySpec(code="user", name="User", project="p", id_field="user_id", id_type="bigint"),
    {"age": TagRef(TAG, None)},
    {},
)
ADULTS = AudienceGroupSpec(
    code="adults",
    name="Adults",
    entity="user",
    owner="o",
    rule=parse_rule({"tag": "age", "op": ">=", "value": 18}),
)


def _load(house: DuckDBWarehouse, uids: list[int]) -> None:
    table = pa.table(
        {
            "uid": pa.array(uids, pa.int64()),
            "age": pa.array([20 + i for i in range(len(uids))], pa.int64()),
            "ds": [DS] * len(uids),
        }
    )
    house.write_batches(
        "p.t", pa.RecordBatchReader.from_batches(table.schema, table.to_batches()), replace=True
    )


def _proven(house: DuckDBWarehouse, scan: Scan = SCAN) -> bool:
    con = house.connect()
    try:
        return partition_stats.proven_unique(con, scan)
    finally:
        con.close()


@pytest.fixture
def house(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(tmp_path / "warehouse.duckdb")


def test_a_partition_never_recorded_is_not_trusted(house: DuckDBWarehouse) -> None:
    _load(house, [1, 2, 3])
    assert not _proven(house)
    assert house.estimate(SCOPE, ADULTS, BIZDATE) == 3


def test_a_recorded_unique_partition_is_trusted_and_counts_the_same(house: DuckDBWarehouse) -> None:
    _load(house, [1, 2, 3])
    assert house.record_partitions("p.t", "uid", "ds") == 1
    assert _proven(house)
    assert house.estimate(SCOPE, ADULTS, BIZDATE) == 3


def test_a_recorded_partition_with_a_repeated_key_is_not_trusted(house: DuckDBWarehouse) -> None:
    _load(house, [1, 2, 2, 3])
    house.record_partitions("p.t", "uid", "ds")
    assert not _proven(house)
    assert house.estimate(SCOPE, ADULTS, BIZDATE) == 3


@pytest.mark.parametrize(
    ("change", "members"),
    [
        ("INSERT INTO p.t VALUES (2, 40, '20240502')", 3),  # a duplicate added
        ("UPDATE p.t SET uid = 2 WHERE uid = 1", 2),  # same count, a key made a duplicate
        ("UPDATE p.t SET uid = 3 WHERE uid = 2", 2),  # same count and range: the checksum sees it
        ("DELETE FROM p.t WHERE uid = 3", 2),
    ],
)
def test_a_partition_changed_behind_tagports_back_is_not_trusted_any_more(
    house: DuckDBWarehouse, change: str, members: int
) -> None:
    _load(house, [1, 2, 3])
    house.record_partitions("p.t", "uid", "ds")
    con = house.connect(write=True)
    con.execute(change)
    con.close()
    assert not _proven(house)
    assert house.estimate(SCOPE, ADULTS, BIZDATE) == members


def test_a_text_key_cast_to_a_number_is_not_trusted(house: DuckDBWarehouse) -> None:
    """'1' and '01' are two keys but one BIGINT: a unique text key proves nothing."""
    table = pa.table({"uid": ["1", "01", "2"], "age": [30, 31, 32], "ds": [DS] * 3})
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    house.write_batches("p.t", reader, replace=True)
    house.record_partitions("p.t", "uid", "ds")
    assert not _proven(house)
    assert _proven(house, Scan(SCAN.ref, "uid", IdType.STRING))
    assert house.estimate(SCOPE, ADULTS, BIZDATE) == 2


def test_recording_one_partition_leaves_the_others_as_recorded(house: DuckDBWarehouse) -> None:
    _load(house, [1, 2, 3])
    con = house.connect(write=True)
    con.execute("INSERT INTO p.t VALUES (7, 50, '20240501'), (7, 51, '20240501')")
    con.close()
    assert house.record_partitions("p.t", "uid", "ds") == 2
    assert house.record_partitions("p.t", "uid", "ds", DS) == 1
    yesterday = Scan(PartitionRef("p.t", "ds", "20240501"), "uid", IdType.BIGINT)
    assert _proven(house) and not _proven(house, yesterday)


def test_recorded_statistics_are_not_a_table_of_the_warehouse(house: DuckDBWarehouse) -> None:
    _load(house, [1])
    house.record_partitions("p.t", "uid", "ds")
    assert [f"{t.project}.{t.name}" for t in house.tables()] == ["p.t"]
