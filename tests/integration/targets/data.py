"""Arrow test data shaped like an export: entity ID + 8 tag columns (+ the partition column)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tagport.domain.values import IdType, ValueType
from tagport.targets.base import ColumnDesign, PartitionDesign, TableDesign, Target, set_swap_hook

TAGS: tuple[tuple[str, str], ...] = (
    ("city", "string"),
    ("city_codename", "string"),
    ("age", "long"),
    ("score", "double"),
    ("balance", "decimal(18,4)"),
    ("vip", "boolean"),
    ("birthday", "date"),
    ("last_seen", "datetime"),
)


def design(name: str, partition: PartitionDesign | None = None) -> TableDesign:
    columns = [ColumnDesign("user_id", IdType.BIGINT, "user ID", is_key=True)]
    columns += [ColumnDesign(n, ValueType.parse(t), f"tag {n}") for n, t in TAGS]
    return TableDesign(name, tuple(columns), f"export {name}", partition)


def export_table(rows: int, seed: int = 0, partition: str | None = None) -> pa.Table:
    """`rows` members with deterministic values; nulls, quotes, tabs and backslashes included."""
    rng = np.random.default_rng(seed)
    ids = np.arange(rows, dtype=np.int64) * 7 + seed
    cities = np.array(["Hangzhou", "Bei\tjing", 'Shang"hai', "C:\\x", "", "杭州", "a,b", "n\nl"])
    city = pa.array(cities[rng.integers(0, len(cities), rows)])
    null_mask = pa.array(rng.integers(0, 10, rows) == 0)
    # decimal(18,4) built from unscaled int64 values (little-endian int128 buffers)
    unscaled = rng.integers(-(10**12), 10**12, rows)
    words = np.empty((rows, 2), np.int64)
    words[:, 0], words[:, 1] = unscaled, np.where(unscaled < 0, -1, 0)
    balance = pa.Array.from_buffers(
        pa.decimal128(18, 4), rows, [None, pa.py_buffer(words.tobytes())]
    )
    data = {
        "user_id": pa.array(ids),
        "city": pc.if_else(null_mask, pa.nulls(rows, pa.string()), city),
        "city_codename": pc.binary_join_element_wise(pa.array(["name"] * rows), city, "-"),
        "age": pa.array(rng.integers(0, 100, rows)),
        "score": pa.array(rng.random(rows)),
        "balance": balance,
        "vip": pa.array(rng.integers(0, 2, rows) == 1),
        "birthday": pa.array(
            (np.datetime64("1970-01-01") + rng.integers(0, 20000, rows)).astype("datetime64[D]")
        ),
        "last_seen": pa.array(
            (np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 10**8, rows)).astype(
                "datetime64[us]"
            )
        ),
    }
    if partition is not None:
        data["ds"] = pa.array([partition] * rows)
    return pa.table(data)


def as_reader(table: pa.Table, batch_rows: int = 65_536) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(batch_rows))


def swap_points(target: Target, table: str = "members") -> list[str]:
    """The points a swap into `table` passes (those the crash tests kill a write at, in
    test_crash.py), in the order the swap hook is told them."""
    points: list[str] = []

    def hook(point: str) -> None:
        points.append(point)

    previous = set_swap_hook(hook)
    try:
        assert target.write(table, as_reader(export_table(10))).mode == "swap"
    finally:
        assert set_swap_hook(previous) is hook  # it hands back the hook it replaces
    return points
