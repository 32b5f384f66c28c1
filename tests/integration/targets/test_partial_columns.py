"""A write of some columns: the others take their defaults (or NULL), in every replace mode."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from tagport.domain.dates import PartitionFormat
from tagport.errors import TerminalError
from tagport.targets.base import PartitionValue, Target

DAY = PartitionValue("ds", PartitionFormat.YYYYMMDD, dt.date(2024, 5, 1))


def reader(ids: list[int], with_ds: bool = False) -> pa.RecordBatchReader:
    columns = {"user_id": pa.array(ids, pa.int64()), "city": pa.array([f"c{i}" for i in ids])}
    if with_ds:
        columns["ds"] = pa.array([DAY.value] * len(ids))
    table = pa.table(columns)
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


def names(target: Target, fixture: str, table: str) -> str:
    quote = "`" if fixture == "mysql_target" else '"'
    schema = target.params.schema
    return f"{quote}{schema}{quote}.{table}" if schema else table


@pytest.mark.parametrize("fixture", ["pg_target", "mysql_target", "project_target"])
@pytest.mark.parametrize("partitioned", [False, True])
def test_unwritten_columns_take_their_defaults(
    request: pytest.FixtureRequest, fixture: str, partitioned: bool
) -> None:
    target: Target = request.getfixturevalue(fixture)
    text = "varchar(50)" if fixture == "mysql_target" else "text"
    table = names(target, fixture, "members")
    ds = ", ds varchar(10) NOT NULL" if partitioned else ""
    key = "user_id, ds" if partitioned else "user_id"
    target.create_table(
        f"CREATE TABLE {table} (user_id bigint NOT NULL, note {text}, city {text}, "
        f"origin {text} NOT NULL DEFAULT 'tagport'{ds}, PRIMARY KEY ({key}))"
    )
    partition = DAY if partitioned else None
    target.write("members", reader([1, 2, 3], partitioned), partition=partition)
    target.write("members", reader([2, 3, 4], partitioned), partition=partition)
    rows = target._query(  # type: ignore[attr-defined]
        f"SELECT user_id, note, city, origin FROM {table} ORDER BY user_id"
    )
    assert [tuple(r) for r in rows] == [(i, None, f"c{i}", "tagport") for i in (2, 3, 4)]


@pytest.mark.parametrize("fixture", ["pg_target", "project_target"])
def test_columns_out_of_order_or_without_the_key_are_refused(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    target: Target = request.getfixturevalue(fixture)
    table = names(target, fixture, "members")
    target.create_table(f"CREATE TABLE {table} (user_id bigint PRIMARY KEY, city text)")
    swapped = pa.table({"city": ["x"], "user_id": pa.array([1], pa.int64())})
    with pytest.raises(TerminalError, match="not columns of the table in its order"):
        target.write(
            "members", pa.RecordBatchReader.from_batches(swapped.schema, swapped.to_batches())
        )
    keyless = pa.table({"city": ["x"]})
    with pytest.raises(TerminalError, match=r"primary key column\(s\) \['user_id'\]"):
        target.write(
            "members", pa.RecordBatchReader.from_batches(keyless.schema, keyless.to_batches())
        )


@pytest.mark.parametrize("fixture", ["pg_target", "mysql_target"])
def test_a_partition_write_without_its_partition_column_is_refused(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    """A partition's rows must carry the partition column: else the day's rows would be deleted
    and the staged ones inserted without their day."""
    target: Target = request.getfixturevalue(fixture)
    table = names(target, fixture, "members")
    target.create_table(
        f"CREATE TABLE {table} (user_id bigint NOT NULL, city varchar(50), "
        "ds varchar(10) NOT NULL, PRIMARY KEY (user_id))"
    )
    target.write("members", reader([1, 2], with_ds=True), partition=DAY)
    unrelated = PartitionValue("day", PartitionFormat.YYYYMMDD, DAY.bizdate)
    with pytest.raises(
        TerminalError, match=r"^target table 'members' has no partition column 'day'$"
    ):
        target.write("members", reader([3], with_ds=True), partition=unrelated)
    with pytest.raises(
        TerminalError, match=r"^target table 'members' has no partition column 'ds'$"
    ):
        target.write("members", reader([3]), partition=DAY)
    rows = target._query(f"SELECT user_id, ds FROM {table} ORDER BY user_id")  # type: ignore[attr-defined]
    assert [tuple(r) for r in rows] == [(1, DAY.value), (2, DAY.value)]
    assert target.list_tables() == ["members"]
