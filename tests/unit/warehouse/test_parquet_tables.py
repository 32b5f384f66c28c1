"""The Spark warehouse's Parquet tables, without Spark: what a reader of the directory finds
after each write, and after a write that fails."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from tagport.errors import InvalidInput, TransientError
from tagport.warehouse.parquet_tables import ParquetTables, escape, unescape
from tagport.warehouse.spark import sweep_exports


def _reader(**columns: list[object]) -> pa.RecordBatchReader:
    table = pa.table(columns)
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def _rows(tables: ParquetTables, table: str) -> list[dict[str, object]]:
    """The table as any Hive-partitioned Parquet reader sees it (partition values as text)."""
    version = tables.version(table)
    meta = tables.meta(table, version)
    assert version is not None and meta is not None
    data = pads.dataset(
        str(version), schema=meta.schema, partitioning="hive", ignore_prefixes=[".", "_"]
    ).to_table()
    return sorted(data.to_pylist(), key=repr)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("value", ["20240502", "2024-05-02", "2024/05/02", "2024.05.02", "a=b%"])
def test_partition_values_round_trip_through_directory_names(value: str) -> None:
    name = escape(value)
    assert "/" not in name and "=" not in name
    assert unescape(name) == value
    assert unescape(escape(None)) is None


def test_a_table_is_replaced_whole_and_its_old_files_go(tmp_path: Path) -> None:
    tables = ParquetTables(tmp_path)
    tables.write("p.t", _reader(uid=[1, 2], ds=["d1", "d2"]), partition="ds")
    before = _files(tmp_path)
    tables.write("p.t", _reader(uid=[3], ds=["d3"]), partition="ds")
    assert _rows(tables, "p.t") == [{"uid": 3, "ds": "d3"}]
    assert not (_files(tmp_path) & before - {"p/.locks/t"})
    assert tables.names() == ["p.t"] and tables.names("q") == []


def test_a_partition_is_replaced_alone(tmp_path: Path) -> None:
    tables = ParquetTables(tmp_path)
    tables.write("p.t", _reader(uid=[1, 2], ds=["d1", "d2"]), partition="ds")
    meta = tables.meta("p.t")
    assert meta is not None
    assert tables.write_partition("p.t", "ds", "d2", pa.table({"uid": [5, 6]}), meta) == 2
    assert tables.write_partition("p.t", "ds", "d3", pa.table({"uid": [7]}), meta) == 1
    assert _rows(tables, "p.t") == sorted(
        [
            {"uid": 1, "ds": "d1"},
            {"uid": 5, "ds": "d2"},
            {"uid": 6, "ds": "d2"},
            {"uid": 7, "ds": "d3"},
        ],
        key=repr,
    )
    version = tables.version("p.t")
    assert version is not None
    assert len(list((version / ".parts").iterdir())) == 3  # the replaced d2 is gone


def test_a_failed_write_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    tables = ParquetTables(tmp_path)
    tables.write("p.t", _reader(uid=[1], ds=["d1"]), partition="ds")
    before = _files(tmp_path)
    meta = tables.meta("p.t")
    assert meta is not None
    with pytest.raises(pa.ArrowInvalid):
        tables.write_partition("p.t", "ds", "d1", pa.table({"uid": ["not a number"]}), meta)
    tables.write("p.t", _reader(uid=[1], ds=["d1"]), partition="ds")  # replaced meanwhile
    before = _files(tmp_path)
    with pytest.raises(TransientError, match="changed while it was imported into"):
        tables.write_partition(
            "p.t", "ds", "d1", pa.table({"uid": [5]}), replace(meta, comment="x")
        )

    def failing() -> pa.RecordBatchReader:
        good = pa.record_batch({"uid": [2], "ds": ["d2"]})
        bad = pa.record_batch({"uid": [None], "ds": [None]}, schema=good.schema)

        def batches() -> object:
            yield good
            yield bad
            raise OSError("disk full")

        return pa.RecordBatchReader.from_batches(good.schema, batches())  # type: ignore[arg-type]

    with pytest.raises(OSError, match="disk full"):
        tables.write("p.t", failing(), partition="ds")
    assert _rows(tables, "p.t") == [{"uid": 1, "ds": "d1"}]
    assert _files(tmp_path) == before


def test_appending_keeps_the_old_rows_without_copying_them(tmp_path: Path) -> None:
    tables = ParquetTables(tmp_path)
    tables.write("p.t", _reader(uid=[1], ds=["d1"]), partition="ds")
    version = tables.version("p.t")
    assert version is not None
    (old_file,) = (version / ".parts").rglob("*.parquet")
    tables.write("p.t", _reader(uid=[2, 3], ds=["d1", "d2"]), partition="ds", append=True)
    assert _rows(tables, "p.t") == sorted(
        [{"uid": 1, "ds": "d1"}, {"uid": 2, "ds": "d1"}, {"uid": 3, "ds": "d2"}], key=repr
    )
    new = tables.version("p.t")
    assert new is not None and new != version
    linked = [f for f in (new / ".parts").rglob("*.parquet") if f.name == old_file.name]
    assert len(linked) == 1 and os.stat(linked[0]).st_nlink == 1  # the old version is gone
    with pytest.raises(InvalidInput, match="do not match the table's columns"):
        tables.write("p.t", _reader(uid=["x"], ds=["d1"]), partition="ds", append=True)


def test_a_type_spark_cannot_read_is_refused_by_name(tmp_path: Path) -> None:
    tables = ParquetTables(tmp_path)
    with pytest.raises(InvalidInput, match="tags: type: list<item: int64> cannot be stored"):
        tables.write("p.t", _reader(uid=[1], tags=[[1, 2]]), partition=None)
    assert tables.names() == []


def test_exports_left_by_a_dead_process_are_swept_and_running_ones_kept(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for folder in (old, new):
        folder.mkdir()
        (folder / "part-0.parquet").write_bytes(b"")
    os.utime(old, (1_000, 1_000))
    sweep_exports(tmp_path, before=2_000)
    assert [p.name for p in tmp_path.iterdir()] == ["new"]
