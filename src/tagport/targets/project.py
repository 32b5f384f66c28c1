"""The warehouse project target: a DuckDB database file, one schema per project.

DuckDB runs DDL and DML in transactions and one process writes a file at a time, so the
replacement is one transaction (delete + insert from the Arrow stream) instead of renames: no
reader can observe a half state, views and constraints stay untouched, and a crash (even SIGKILL)
rolls back to the last committed content. Tables are "partitioned" by their date partition
column: a partitioned write replaces the rows of that value only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import duckdb
import pyarrow as pa

from tagport.errors import ExternalError, NotFound, TerminalError, TransientError
from tagport.targets.base import (
    Batches,
    Capabilities,
    ColumnInfo,
    ConnectionParams,
    PartitionValue,
    ProgressCallback,
    ProgressMeter,
    TableDdl,
    TableDesign,
    TableInfo,
    Target,
    WriteResult,
    already_exists,
    chained,
    reached,
    streams_of,
)
from tagport.targets.ddl import check_create
from tagport.targets.sql import LEFTOVER_MARK, Dialect
from tagport.targets.typemap import Family

PROJECT_CAPABILITIES = Capabilities(
    schemas=True,
    partitioned_tables=True,
    transactional_ddl=True,
    atomic_multi_rename=True,
    identifier_max_length=128,
    bulk_path="DuckDB INSERT … SELECT from an Arrow RecordBatchReader",
    max_load_streams=1,  # one writer: the DuckDB file the export reads
)


class DuckDbDialect(Dialect):
    family = Family.DUCKDB
    sqlglot_dialect = "duckdb"
    placeholder = "?"

    def table_ddl(self, design: TableDesign) -> TableDdl:
        # DuckDB has no partition DDL: the partition column is an ordinary key column.
        return replace(super().table_ddl(design), partition_column=None)

    def table_options(self, table: TableDdl) -> str:
        return ""  # the partition column is a key column; DuckDB has no partition DDL

    def upsert_from(
        self, target: str, source: str, columns: Sequence[str], key: Sequence[str]
    ) -> str:
        cols = ", ".join(self.quote(c) for c in columns)
        verb = "INSERT OR REPLACE" if key else "INSERT"
        return f"{verb} INTO {target} ({cols}) SELECT {cols} FROM {source}"


def translate_duckdb(exc: Exception) -> ExternalError | None:
    if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
        return TransientError(f"the warehouse file is busy (another process writes it): {exc}")
    if isinstance(exc, duckdb.CatalogException):
        return TerminalError(f"warehouse: missing table or schema: {exc}")
    if isinstance(exc, (duckdb.ConversionException, duckdb.ConstraintException)):
        return TerminalError(f"warehouse: values do not fit the table: {exc}")
    if isinstance(exc, duckdb.Error):
        return TerminalError(f"warehouse: {exc}")
    return None


class ProjectTarget(Target):
    """Tables of one warehouse project (`params.schema`) in the DuckDB file `params.database`."""

    capabilities = PROJECT_CAPABILITIES
    dialect = DuckDbDialect(PROJECT_CAPABILITIES)
    busy_timeout_seconds = 10.0

    def __init__(self, params: ConnectionParams) -> None:
        super().__init__(params)
        self._conn: duckdb.DuckDBPyConnection | None = None

    @contextmanager
    def _edge(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            translated = translate_duckdb(exc)
            if translated is None:
                raise
            raise translated from exc

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            if not self.params.database:
                raise TerminalError("the project target needs the warehouse file path")
            deadline = time.monotonic() + self.busy_timeout_seconds
            while True:
                try:
                    self._conn = duckdb.connect(self.params.database)
                    break
                except duckdb.IOException as exc:
                    # Another process writes the file: wait a bounded time, then report it.
                    if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                        raise translate_duckdb(exc) or exc from exc
                    time.sleep(0.2)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _schema(self, schema: str | None) -> str:
        return schema or self.params.schema or "main"

    def _query(self, sql: str, params: list[object] | None = None) -> list[tuple[Any, ...]]:
        with self._edge():
            return self.conn.execute(sql, params or []).fetchall()

    def test_connection(self) -> None:
        self._query("SELECT 1")

    def server_version(self) -> str:
        return "DuckDB " + str(self._query("SELECT version()")[0][0])

    def list_schemas(self) -> list[str]:
        rows = self._query(
            "SELECT schema_name FROM duckdb_schemas() WHERE NOT internal "
            "AND database_name = current_database() ORDER BY 1"
        )
        return [str(r[0]) for r in rows]

    def list_tables(self, schema: str | None = None) -> list[str]:
        rows = self._query(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? "
            "AND database_name = current_database() ORDER BY 1",
            [self._schema(schema)],
        )
        return [str(r[0]) for r in rows]

    def describe_table(self, table: str, schema: str | None = None) -> TableInfo:
        schema = self._schema(schema)
        cols = self._query(
            "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            "WHERE schema_name = ? AND table_name = ? AND database_name = current_database() "
            "ORDER BY column_index",
            [schema, table],
        )
        if not cols:
            raise NotFound("table", f"{schema}.{table}")
        pk = self._query(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name = ? "
            "AND table_name = ? AND constraint_type = 'PRIMARY KEY' "
            "AND database_name = current_database()",
            [schema, table],
        )
        return TableInfo(
            schema=schema,
            name=table,
            columns=tuple(ColumnInfo(str(n), str(t), bool(nl), d) for n, t, nl, d in cols),
            primary_key=tuple(pk[0][0]) if pk else (),
        )

    def create_table_sql(self, design: TableDesign, schema: str | None = None) -> str:
        statements = self.dialect.create_table(design, self._schema(schema))
        return ";\n".join(statements) + ";\n"

    def check_create_sql(self, sql: str, schema: str | None = None) -> TableDdl:
        return check_create(self.dialect, sql, self._schema(schema))

    def create_table(self, ddl: str | TableDdl, schema: str | None = None) -> TableInfo:
        schema = self._schema(schema)
        table = ddl if isinstance(ddl, TableDdl) else self.check_create_sql(ddl, schema)
        statements = self.dialect.render_create(table, schema)
        if table.name in self.list_tables(schema):
            raise already_exists(table.name, schema)
        with self._edge():
            self.conn.execute("BEGIN")
            try:
                self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.dialect.quote(schema)}")
                for statement in statements:
                    self.conn.execute(statement)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return self.describe_table(table.name, schema)

    def drop_table(self, table: str, schema: str | None = None) -> None:
        with self._edge():
            self.conn.execute(f"DROP TABLE {self.dialect.qualify(self._schema(schema), table)}")

    def recover(self, table: str, schema: str | None = None) -> list[str]:
        """Nothing is renamed here, but an older layout (or a hand-run swap) may have left
        `_dpfx_` tables: a missing table comes back from `{t}_dpfx_tmp`, the rest is dropped."""
        schema = self._schema(schema)
        d = self.dialect
        names = self.list_tables(schema)
        old = d.old_name(table)
        actions = []
        if table not in names and old in names:
            with self._edge():
                self.conn.execute(
                    f"ALTER TABLE {d.qualify(schema, old)} RENAME TO {d.quote(table)}"
                )
            names.remove(old)
            actions.append(f"restored {table} from {old}")
        for name in names:
            if name.startswith(table + LEFTOVER_MARK):
                with self._edge():
                    self.conn.execute(f"DROP TABLE {d.qualify(schema, name)}")
                actions.append(f"dropped {name}")
        reached("recovered")
        return actions

    def write(
        self,
        table: str,
        batches: Batches,
        *,
        schema: str | None = None,
        partition: PartitionValue | None = None,
        progress: ProgressCallback | None = None,
    ) -> WriteResult:
        batches = chained(streams_of(batches))
        schema = self._schema(schema)
        started = time.monotonic()
        info, loaded = self.prepare_write(table, schema, batches.schema.names)
        d = self.dialect
        target = d.qualify(schema, table)
        meter = ProgressMeter(progress)

        def counted() -> Iterator[pa.RecordBatch]:
            for batch in batches:
                yield batch
                meter.add(batch.num_rows)

        source = pa.RecordBatchReader.from_batches(batches.schema, counted())
        with self._edge():
            self.conn.execute("BEGIN")
            try:
                if partition is None:
                    self.conn.execute(f"DELETE FROM {target}")
                else:
                    self.conn.execute(
                        f"DELETE FROM {target} WHERE {d.quote(partition.column)} = ?",
                        [partition.value],
                    )
                reached("target_emptied")
                self.conn.register("tagport_source", source)
                self.conn.execute(
                    d.upsert_from(target, "tagport_source", loaded.column_names, info.primary_key)
                )
                self.conn.unregister("tagport_source")
                reached("rows_inserted")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        reached("replaced")
        mode = "partition" if partition is not None else "in_place"
        return WriteResult(table, meter.rows, mode, time.monotonic() - started)
