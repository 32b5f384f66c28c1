"""Oracle: python-oracledb, array-bound `executemany` in batches, a rename-sequence swap.

No Oracle server runs here: the statements are compiled and snapshot-tested, the runtime paths
are not exercised against a database (docs/targets.md says so).

Swap window: Oracle commits every DDL statement, so `t → t_dpfx_tmp`, `t_dpfx_b → t` are two
steps; between them (milliseconds) a reader gets ORA-00942. The primary key (same constraint
name), grants and comments are re-applied after the old table is dropped. A crash inside the
window leaves `t_dpfx_tmp`, which the next run's recovery renames back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import oracledb
import pyarrow as pa

from tagport.errors import ExternalError, NotFound, TerminalError, TransientError
from tagport.targets.base import (
    Capabilities,
    ColumnInfo,
    ConnectionParams,
    PartitionValue,
    ProgressMeter,
    TableDdl,
    TableInfo,
)
from tagport.targets.postgres import translate_arrow
from tagport.targets.sql import Dialect, SqlTarget, Statement, ran
from tagport.targets.typemap import Family

ORACLE_CAPABILITIES = Capabilities(
    schemas=True,
    partitioned_tables=True,
    transactional_ddl=False,
    atomic_multi_rename=False,
    identifier_max_length=128,
    bulk_path="executemany with array binds (INSERT /*+ APPEND_VALUES */)",
    max_load_streams=1,  # a direct-path insert locks the table: streams would queue
)
BATCH_ROWS = 50_000
INITIAL_PARTITION = "p_init"
INITIAL_VALUE = "00000000"

_TRANSIENT = {54, 60, 3113, 3114, 3135, 12170, 12541, 12543, 30006, 51}
_AUTH = {1017, 28000, 1045}


class OracleDialect(Dialect):
    family = Family.ORACLE
    sqlglot_dialect = "oracle"
    placeholder = ":1"

    def table_options(self, table: TableDdl) -> str:
        if table.partition_column is None:
            return ""
        # AUTOMATIC list partitioning (12.2+) creates the bizdate's partition on first insert.
        return (
            f" PARTITION BY LIST ({self.quote(table.partition_column)}) AUTOMATIC "
            f"(PARTITION {self.quote(INITIAL_PARTITION)} VALUES ({self.literal(INITIAL_VALUE)}))"
        )

    def create_like(
        self, source: str, staging: str, *, partitioned: bool, source_partitioned: bool = False
    ) -> list[str]:
        # Columns, types and NOT NULL; the key is re-created on the staging table after loading.
        return [f"CREATE TABLE {staging} AS SELECT * FROM {source} WHERE 1 = 0"]

    def drop(self, table: str) -> str:
        # No IF EXISTS before 23c: recovery checks existence first.
        return f"DROP TABLE {table} PURGE"

    def swap(self, schema: str | None, table: str) -> list[Statement]:
        old, staging = self.old_name(table), self.staging_name(table)
        return [
            Statement(self.rename(schema, table, old), point="target_renamed_away"),
            Statement(self.rename(schema, staging, table), point="staging_renamed_in"),
            Statement(f"DROP TABLE {self.qualify(schema, old)} PURGE", point="old_dropped"),
        ]

    def upsert_from(
        self, target: str, source: str, columns: Sequence[str], key: Sequence[str]
    ) -> str:
        if not key:
            return self.insert_from(target, source, columns)
        q = self.quote
        on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in key)
        updates = [c for c in columns if c not in key]
        matched = ""
        if updates:
            sets = ", ".join(f"t.{q(c)} = s.{q(c)}" for c in updates)
            matched = f" WHEN MATCHED THEN UPDATE SET {sets}"
        cols = ", ".join(q(c) for c in columns)
        values = ", ".join(f"s.{q(c)}" for c in columns)
        return (
            f"MERGE INTO {target} t USING {source} s ON ({on}){matched} "
            f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})"
        )

    def insert_values(self, table: str, columns: Sequence[str]) -> str:
        marks = ", ".join(f":{i}" for i in range(1, len(columns) + 1))
        cols = ", ".join(self.quote(c) for c in columns)
        return f"INSERT /*+ APPEND_VALUES */ INTO {table} ({cols}) VALUES ({marks})"


def translate_oracle(exc: Exception) -> ExternalError | None:
    """python-oracledb exception → TerminalError / TransientError."""
    if not isinstance(exc, oracledb.Error):
        return None
    error = exc.args[0] if exc.args else None
    code = int(getattr(error, "code", 0) or 0)
    text = str(getattr(error, "message", exc)).strip()
    if code in _AUTH:
        return TerminalError(f"Oracle refused the login: {text}")
    if code in (12514, 12505):
        return TerminalError(f"Oracle: unknown service (database): {text}")
    if code == 942:
        return TerminalError(f"Oracle: missing table: {text}")
    if code == 1031:
        return TerminalError(f"Oracle: permission denied: {text}")
    if code in _TRANSIENT or isinstance(exc, oracledb.OperationalError):
        return TransientError(f"Oracle: {text} (retry may help)")
    return TerminalError(f"Oracle: {text}")


class OracleTarget(SqlTarget):
    """An Oracle schema (the user's own unless `schema` names another owner)."""

    capabilities = ORACLE_CAPABILITIES
    dialect: OracleDialect = OracleDialect(ORACLE_CAPABILITIES)

    def __init__(self, params: ConnectionParams) -> None:
        super().__init__(params)
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            with self._edge():
                self._conn = oracledb.connect(
                    user=self.params.username,
                    password=self.params.password,
                    dsn=f"{self.params.host}:{self.params.port or 1521}/{self.params.database}",
                    tcp_connect_timeout=float(self.params.connect_timeout),
                )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _schema(self, schema: str | None) -> str | None:
        return schema or self.params.schema or (self.params.username or "").upper() or None

    def _translate(self, exc: Exception) -> ExternalError | None:
        return translate_oracle(exc) or translate_arrow(exc)

    def _run(self, statements: Sequence[Statement], *, transaction: bool) -> None:
        with self.conn.cursor() as cur:
            try:
                for s in statements:
                    cur.execute(s.sql, list(s.params))
                    ran(s)
                self.conn.commit()
            except BaseException:
                self.conn.rollback()
                raise

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._edge(), self.conn.cursor() as cur:
            cur.execute(sql, list(params))
            return list(cur.fetchall())

    def test_connection(self) -> None:
        self._query("SELECT 1 FROM dual")

    def server_version(self) -> str:
        rows = self._query("SELECT version FROM product_component_version WHERE rownum = 1")
        return str(rows[0][0])

    def list_schemas(self) -> list[str]:
        rows = self._query(
            "SELECT username FROM all_users WHERE oracle_maintained = 'N' ORDER BY 1"
        )
        return [str(r[0]) for r in rows]

    def list_tables(self, schema: str | None = None) -> list[str]:
        rows = self._query(
            "SELECT table_name FROM all_tables WHERE owner = :1 ORDER BY 1", (self._schema(schema),)
        )
        return [str(r[0]) for r in rows]

    def _table_exists(self, schema: str | None, table: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM all_tables WHERE owner = :1 AND table_name = :2",
                (self._schema(schema), table),
            )
        )

    def describe_table(self, table: str, schema: str | None = None) -> TableInfo:
        owner = self._schema(schema)
        cols = self._query(
            "SELECT column_name, data_type, nullable, data_default FROM all_tab_columns "
            "WHERE owner = :1 AND table_name = :2 ORDER BY column_id",
            (owner, table),
        )
        if not cols:
            raise NotFound("table", f"{owner}.{table}")
        pk = self._query(
            "SELECT c.column_name FROM all_constraints k JOIN all_cons_columns c "
            "ON c.owner = k.owner AND c.constraint_name = k.constraint_name "
            "WHERE k.owner = :1 AND k.table_name = :2 AND k.constraint_type = 'P' "
            "ORDER BY c.position",
            (owner, table),
        )
        parts = self._query(
            "SELECT column_name FROM all_part_key_columns WHERE owner = :1 AND name = :2 "
            "AND object_type = 'TABLE' ORDER BY column_position",
            (owner, table),
        )
        return TableInfo(
            schema=owner,
            name=table,
            columns=tuple(
                ColumnInfo(str(n), str(t), str(nl) == "Y", None if d is None else str(d).strip())
                for n, t, nl, d in cols
            ),
            primary_key=tuple(str(r[0]) for r in pk),
            partition_columns=tuple(str(r[0]) for r in parts),
        )

    def _has_dependents(self, schema: str | None, table: str) -> bool:
        return False  # Oracle views bind by name and recompile on next use

    def _ensure_partition(self, schema: str | None, info: TableInfo, p: PartitionValue) -> None:
        """AUTOMATIC list partitioning creates the partition on insert."""

    def _bulk_load(
        self, table: str, info: TableInfo, batches: pa.RecordBatchReader, meter: ProgressMeter
    ) -> None:
        statement = self.dialect.insert_values(table, info.column_names)
        with self.conn.cursor() as cur:
            for batch in batches:
                for offset in range(0, batch.num_rows, BATCH_ROWS):
                    part = batch.slice(offset, BATCH_ROWS)
                    rows = list(zip(*(c.to_pylist() for c in part.columns), strict=True))
                    cur.executemany(statement, rows)
                    # APPEND_VALUES needs a commit before the next direct-path insert.
                    self.conn.commit()
                meter.add(batch.num_rows)

    def swap_statements(self, schema: str | None, table: str) -> list[Statement]:
        """The rename sequence plus re-applied primary key, grants and comments."""
        owner = self._schema(schema)
        d = self.dialect
        target = d.qualify(owner, table)
        pk = self._query(
            "SELECT constraint_name FROM all_constraints WHERE owner = :1 AND table_name = :2 "
            "AND constraint_type = 'P'",
            (owner, table),
        )
        info = self.describe_table(table, owner)
        grants = self._query(
            "SELECT grantee, privilege, grantable FROM all_tab_privs "
            "WHERE table_schema = :1 AND table_name = :2",
            (owner, table),
        )
        comments = self._query(
            "SELECT NULL, comments FROM all_tab_comments WHERE owner = :1 AND table_name = :2 "
            "AND comments IS NOT NULL UNION ALL SELECT column_name, comments FROM "
            "all_col_comments WHERE owner = :1 AND table_name = :2 AND comments IS NOT NULL",
            (owner, table),
        )
        statements = d.swap(owner, table)
        if pk:
            keys = ", ".join(d.quote(k) for k in info.primary_key)
            statements.append(
                Statement(f'ALTER TABLE {target} ADD CONSTRAINT "{pk[0][0]}" PRIMARY KEY ({keys})')
            )
        for grantee, privilege, grantable in grants:
            option = " WITH GRANT OPTION" if grantable == "YES" else ""
            statements.append(Statement(f'GRANT {privilege} ON {target} TO "{grantee}"{option}'))
        for column, comment in comments:
            on = f"COLUMN {target}.{d.quote(str(column))}" if column else f"TABLE {target}"
            statements.append(Statement(f"COMMENT ON {on} IS {d.literal(str(comment))}"))
        return statements

    def _swap(self, schema: str | None, table: str) -> None:
        self._run(self.swap_statements(schema, table), transaction=False)
