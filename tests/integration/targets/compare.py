"""Row-by-row comparison of a loaded table with the Arrow data that was written."""

from __future__ import annotations

import io
from collections.abc import Iterator
from itertools import islice
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pymysql
import pymysql.cursors
from pymysql.constants import FIELD_TYPE
from pymysql.converters import conversions

from tagport.targets.base import Target
from tagport.targets.mysql import MySqlTarget
from tagport.targets.postgres import PostgresTarget
from tagport.targets.project import ProjectTarget

CHUNK = 50_000


def stored_rows(target: Target, table: str, where: str = "") -> Iterator[tuple[Any, ...]]:
    """The table's rows ordered by user_id, streamed in chunks."""
    if isinstance(target, PostgresTarget):
        sql = f'SELECT * FROM "{target.params.schema}"."{table}" {where} ORDER BY user_id'
        with target.conn.transaction(), target.conn.cursor(name="cmp") as cur:
            cur.itersize = CHUNK
            cur.execute(sql)
            yield from cur
    elif isinstance(target, MySqlTarget):
        # Dates, datetimes and decimals come back as text (PyMySQL parses them slowly in
        # Python); expected_rows renders the same columns as text through Arrow.
        conv = dict(conversions)
        for field in (FIELD_TYPE.DATETIME, FIELD_TYPE.DATE, FIELD_TYPE.NEWDECIMAL):
            conv[field] = str
        params = target.params
        conn = pymysql.connect(
            host=params.host,
            port=params.port,
            user=params.username,
            password=params.password or "",
            database=params.database,
            conv=conv,
        )
        with conn, conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(f"SELECT * FROM `{table}` {where} ORDER BY user_id")
            while rows := cur.fetchmany(CHUNK):
                yield from rows
    else:
        assert isinstance(target, ProjectTarget)
        result = target.conn.execute(
            f'SELECT * FROM "{target.params.schema}"."{table}" {where} ORDER BY user_id'
        )
        while rows := result.fetchmany(CHUNK):
            yield from rows


def expected_rows(data: pa.Table, *, mysql: bool = False) -> Iterator[tuple[Any, ...]]:
    ordered = data.sort_by("user_id")
    if mysql:
        for i, field in enumerate(ordered.schema):
            kind = field.type
            if pa.types.is_boolean(kind):
                ordered = ordered.set_column(i, field.name, pc.cast(ordered[i], pa.int64()))
            elif pa.types.is_temporal(kind) or pa.types.is_decimal(kind):
                ordered = ordered.set_column(i, field.name, pc.cast(ordered[i], pa.string()))
    for batch in ordered.to_batches(CHUNK):
        columns = [c.to_pylist() for c in batch.columns]
        yield from zip(*columns, strict=True)


def stored_arrow(target: Target, table: str, schema: pa.Schema, where: str) -> pa.Table | None:
    """The table as Arrow (PostgreSQL: COPY … TO STDOUT as CSV; project: DuckDB), else None."""
    if isinstance(target, ProjectTarget):
        sql = f'SELECT * FROM "{target.params.schema}"."{table}" {where} ORDER BY user_id'
        return target.conn.sql(sql).to_arrow_table()
    if isinstance(target, PostgresTarget):
        sql = (
            f'COPY (SELECT * FROM "{target.params.schema}"."{table}" {where} ORDER BY user_id) '
            "TO STDOUT (FORMAT CSV)"
        )
        buffer = io.BytesIO()
        with target.conn.cursor() as cur, cur.copy(sql) as copy:
            for chunk in copy:
                buffer.write(chunk)
        buffer.seek(0)
        return pacsv.read_csv(
            buffer,
            read_options=pacsv.ReadOptions(column_names=schema.names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=schema,
                true_values=["t"],
                false_values=["f"],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    return None


def assert_same_rows(target: Target, table: str, data: pa.Table, where: str = "") -> None:
    """Every stored row equals the written row with the same user_id, and nothing else is stored.

    Where the table can be read as Arrow the rows are compared column by column in Arrow; the
    row loop below runs for MySQL, and to name the first differing row when Arrow disagrees.
    """
    fast = stored_arrow(target, table, data.schema, where)
    if fast is not None:
        expected = data.sort_by("user_id")
        if fast.num_rows == expected.num_rows and fast.cast(expected.schema).equals(expected):
            return
    expected = expected_rows(data, mysql=isinstance(target, MySqlTarget))
    stored = stored_rows(target, table, where)
    count = 0
    while True:
        want = list(islice(expected, CHUNK))
        got = [tuple(r) for r in islice(stored, CHUNK)]
        assert len(got) == len(want), f"row count differs after {count} rows"
        for a, b in zip(got, want, strict=True):
            assert a == b, f"row differs: stored {a!r}, written {b!r}"
        count += len(want)
        if not want:
            break
    assert count == data.num_rows
