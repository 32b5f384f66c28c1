"""What the DuckDB warehouse knows it holds: per source partition and key column, the row count,
whether the key is unique, its range and a checksum of its values.

Whatever loads a partition through tagport records them (an import, the demo data). A query
then reads a partition recorded as unique with a plain scan instead of a GROUP BY on the key
(2-6x cheaper), after checking that the partition still is what was recorded: its row count,
key range and key checksum, one streaming aggregate without a hash table. A table changed
behind tagport's back fails the check and is made unique the slow, safe way; a partition never
recorded is too. Never trusted blindly, never wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from tagport.domain.values import IdType
from tagport.warehouse.queries import Scan

if TYPE_CHECKING:  # the connection is handed in by duckdb.py, the module that imports DuckDB
    import duckdb

SCHEMA = "tagport_meta"
TABLE = f'"{SCHEMA}"."partition_stats"'
WHOLE = ""
"""The partition column and value recorded for an unpartitioned table."""
_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    table_name VARCHAR, partition_column VARCHAR, partition_value VARCHAR, key_column VARCHAR,
    rows BIGINT, keys BIGINT, unique_key BOOLEAN, min_key VARCHAR, max_key VARCHAR,
    key_sum VARCHAR, recorded_at TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (table_name, partition_column, partition_value, key_column))
"""
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
LOSSLESS = {IdType.BIGINT: _INTEGERS, IdType.STRING: _INTEGERS | {"VARCHAR"}}
"""Key column types whose cast to the entity ID type keeps distinct values distinct: only
for these does a unique key stay unique in the query (two strings may cast to one number)."""


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def _table(qualified: str) -> str:
    project, _, name = qualified.partition(".")
    return f"{_q(project)}.{_q(name)}"


def _aggregates(key: str) -> str:
    k = _q(key)
    return (
        f"count(*), count({k}), CAST(min({k}) AS VARCHAR), CAST(max({k}) AS VARCHAR), "
        f"CAST(sum(hash({k})) AS VARCHAR)"
    )


def record(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    partition: str | None,
    value: str | None = None,
) -> int:
    """Record every partition of `table` (only `value` when given) for `key`, inside the
    caller's transaction; returns the partitions recorded. Costs two GROUP BYs per load."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
    con.execute(_CREATE)
    where, params = "", list[object]()
    if partition is not None and value is not None:
        where, params = f" WHERE {_q(partition)} = ?", [value]
    delete = f"DELETE FROM {TABLE} WHERE table_name = ? AND key_column = ? AND partition_column = ?"
    con.execute(
        delete + (" AND partition_value = ?" if where else ""),
        [table, key, partition or WHOLE, *params],
    )
    by = f"CAST({_q(partition)} AS VARCHAR)" if partition else "''"
    source = f"{_table(table)}{where}" + (" GROUP BY 1" if partition else "")
    rows = con.execute(f"SELECT {by}, {_aggregates(key)} FROM {source}", params).fetchall()
    # The distinct count in a query of its own: beside the other aggregates DuckDB asked for
    # 32MB at once for 10M keys and ran out of a 64MB limit; alone it runs there, as fast.
    distinct = dict(
        con.execute(f"SELECT {by}, count(DISTINCT {_q(key)}) FROM {source}", params).fetchall()
    )
    for part, count, keys, low, high, total in rows:
        unique = distinct[part] == keys
        con.execute(
            f"INSERT INTO {TABLE} (table_name, partition_column, partition_value, key_column, "
            "rows, keys, unique_key, min_key, max_key, key_sum) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [table, partition or WHOLE, part, key, count, keys, unique, low, high, total],
        )
    return len(rows)


def proven_unique(con: duckdb.DuckDBPyConnection, scan: Scan) -> bool:
    """Whether `scan` was recorded with a unique key and still holds what was recorded."""
    ref = scan.ref
    project, _, name = ref.table.partition(".")
    known = _one(
        con,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND column_name = ?",
        [project, name, scan.key],
    )
    if known is None or str(known[0]) not in LOSSLESS[scan.id_type] or not _recorded_any(con):
        return False
    recorded = _one(
        con,
        f"SELECT rows, keys, min_key, max_key, key_sum FROM {TABLE} WHERE table_name = ? "
        "AND partition_column = ? AND partition_value = ? AND key_column = ? AND unique_key",
        [ref.table, ref.column or WHOLE, ref.value or WHOLE, scan.key],
    )
    if recorded is None:
        return False
    where, params = "", list[object]()
    if ref.column is not None and ref.value is not None:
        where, params = f" WHERE {_q(ref.column)} = ?", [ref.value]
    now = _one(con, f"SELECT {_aggregates(scan.key)} FROM {_table(ref.table)}{where}", params)
    return now is not None and tuple(now) == tuple(recorded)


def _recorded_any(con: duckdb.DuckDBPyConnection) -> bool:
    found = _one(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [SCHEMA, "partition_stats"],
    )
    return bool(found and found[0])


def _one(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object]
) -> tuple[object, ...] | None:
    """The first row of a query, its result consumed (a connection with an unfinished result
    refuses the next statement)."""
    rows = con.execute(sql, params).fetchall()
    return tuple(rows[0]) if rows else None
