"""MySQL / MariaDB: PyMySQL, `LOAD DATA LOCAL INFILE` streamed through a FIFO.

Bulk path: a thread encodes Arrow batches as CSV (Arrow's writer, `encode_csv`) and writes them
into a named pipe that PyMySQL sends as the "local file": no temporary file of the whole export.
A server (or client) that refuses local infile gets large multi-row INSERTs instead.

Swap: one `RENAME TABLE t TO t_dpfx_tmp, t_dpfx_b TO t` — atomic. Index names belong to their
table and `CREATE TABLE … LIKE` copies them; grants and views refer to tables by name, so both
keep working after the rename (no in-place path needed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pymysql
from pymysql import connections as pymysql_connections

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
from tagport.targets.ddl import check_create
from tagport.targets.postgres import translate_arrow
from tagport.targets.sql import Dialect, SqlTarget, Statement, ran
from tagport.targets.typemap import Family

MYSQL_CAPABILITIES = Capabilities(
    schemas=False,
    partitioned_tables=True,
    transactional_ddl=False,
    atomic_multi_rename=True,
    identifier_max_length=64,
    bulk_path="LOAD DATA LOCAL INFILE (CSV streamed through a FIFO)",
    sorted_load=True,
    load_streams=2,
    slice_loads=True,
)
INITIAL_PARTITION = "p_init"
INITIAL_VALUE = "00000000"
"""MySQL needs one partition at creation: a value no bizdate renders to."""
INSERT_BATCH_ROWS = 5_000
"""Rows per multi-row INSERT in the fallback path (PyMySQL splits by max_allowed_packet)."""

# Errors that mean "local infile refused": server setting (1148, 3948, 4166) or client (2068).
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 4166}
_TRANSIENT = {1205, 1213, 1040, 1053, 2002, 2003, 2006, 2013, 2055, 1927}
_AUTH = {1044, 1045, 1698}


class MySqlDialect(Dialect):
    family = Family.MYSQL
    sqlglot_dialect = "mysql"
    quote_char = "`"
    inline_comments = True

    def literal(self, text: str) -> str:
        return "'" + str(pymysql.converters.escape_string(text)) + "'"

    def table_options(self, table: TableDdl) -> str:
        options = ""
        if table.comment:
            options += f" COMMENT={self.literal(table.comment)}"
        if table.partition_column is not None:
            options += (
                f" PARTITION BY LIST COLUMNS({self.quote(table.partition_column)}) "
                f"(PARTITION {self.quote(INITIAL_PARTITION)} VALUES IN "
                f"({self.literal(INITIAL_VALUE)}))"
            )
        return options

    def create_like(
        self, source: str, staging: str, *, partitioned: bool, source_partitioned: bool = False
    ) -> list[str]:
        statements = [f"CREATE TABLE {staging} LIKE {source}"]
        if source_partitioned:
            statements.append(f"ALTER TABLE {staging} REMOVE PARTITIONING")
        return statements

    def rename(self, schema: str | None, table: str, new_name: str) -> str:
        return f"RENAME TABLE {self.qualify(schema, table)} TO {self.qualify(schema, new_name)}"

    def swap(self, schema: str | None, table: str) -> list[Statement]:
        old, staging = self.old_name(table), self.staging_name(table)
        q = self.qualify
        return [
            Statement(
                f"RENAME TABLE {q(schema, table)} TO {q(schema, old)}, "
                f"{q(schema, staging)} TO {q(schema, table)}",
                point="staging_renamed_in",  # one atomic statement: no point in between
            ),
            Statement(f"DROP TABLE {q(schema, old)}", point="old_dropped"),
        ]

    def upsert_from(
        self, target: str, source: str, columns: Sequence[str], key: Sequence[str]
    ) -> str:
        insert = self.insert_from(target, source, columns)
        updates = [c for c in columns if c not in key] or list(key)
        sets = ", ".join(f"{self.quote(c)} = VALUES({self.quote(c)})" for c in updates)
        return f"{insert} ON DUPLICATE KEY UPDATE {sets}"

    def add_partition(self, table: str, partition: PartitionValue) -> str:
        name = self.quote(f"p{partition.bizdate:%Y%m%d}")
        return (
            f"ALTER TABLE {self.quote(table)} ADD PARTITION "
            f"(PARTITION {name} VALUES IN ({self.literal(partition.value)}))"
        )


def translate_mysql(exc: Exception) -> ExternalError | None:
    """PyMySQL exception → TerminalError / TransientError with a readable message."""
    if not isinstance(exc, pymysql.MySQLError):
        return None
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code in _AUTH:
        return TerminalError(f"MySQL refused the login: {text}")
    if code == 1049:
        return TerminalError(f"MySQL: unknown database: {text}")
    if code == 2003:
        return TransientError(f"MySQL: connection refused: {text}")
    if code in _TRANSIENT:
        return TransientError(f"MySQL: {text} (retry may help)")
    if code in (1142, 1143, 1227):
        return TerminalError(f"MySQL: permission denied: {text}")
    if code == 1146:
        return TerminalError(f"MySQL: missing table: {text}")
    return TerminalError(f"MySQL: {text}")


class _GuardedResult(pymysql_connections.MySQLResult):  # type: ignore[misc]
    """A query result that answers a server's LOCAL INFILE request only with the stream tagport
    opened for the statement running now; any other request closes the connection."""

    def _read_load_local_packet(self, first_packet: Any) -> None:
        conn: GuardedConnection = self.connection
        requested = pymysql_connections.LoadLocalPacketWrapper(first_packet).filename
        allowed, conn.allowed_local_file = conn.allowed_local_file, None  # one request per grant
        if allowed is None or requested != allowed:
            # Send nothing, not even the empty "end of file" packet: a server that asks for a
            # file we did not offer is hostile or confused, so the connection ends here.
            conn._force_close()
            name = os.fsdecode(requested)
            raise TerminalError(
                f"MySQL server {conn.host}:{conn.port} asked for local file {name!r}, which "
                "tagport did not offer for this statement: refused and disconnected"
            )
        super()._read_load_local_packet(first_packet)


class GuardedConnection(pymysql_connections.Connection):  # type: ignore[misc]
    """A PyMySQL connection that never sends a file the server names, only the one stream
    `offering(path)` opens for a LOAD DATA LOCAL statement of ours (issue 17, finding 1)."""

    allowed_local_file: bytes | None = None

    @contextmanager
    def offering(self, path: str) -> Iterator[None]:
        """Within this block, a single request for exactly `path` is answered with it."""
        self.allowed_local_file = os.fsencode(path)
        try:
            yield
        finally:
            self.allowed_local_file = None

    def _read_query_result(self, unbuffered: bool = False) -> int:
        self._result = None
        result = _GuardedResult(self)
        if unbuffered:
            result.init_unbuffered_query()
        else:
            result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return result.affected_rows  # type: ignore[no-any-return]

    def set_character_set(self, charset: str, collation: str | None = None) -> None:
        # PyMySQL reads the answer to SET NAMES without looking at it: read it as a result, so
        # a file request there is refused like anywhere else.
        encoding = pymysql_connections.charset_by_name(charset).encoding
        names = f"SET NAMES {charset}" + (f" COLLATE {collation}" if collation else "")
        self._execute_command(pymysql_connections.COMMAND.COM_QUERY, names)
        self._read_query_result()
        self.charset, self.encoding, self.collation = charset, encoding, collation

    def show_warnings(self) -> Any:
        self._execute_command(pymysql_connections.COMMAND.COM_QUERY, "SHOW WARNINGS")
        result = _GuardedResult(self)
        result.read()
        return result.rows


CSV_OPTIONS = pacsv.WriteOptions(
    include_header=False, quoting_style="all_valid", null_string="NULL", batch_size=8192
)
LOAD_FORMAT = "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''"
"""How `encode_csv` writes and LOAD DATA reads (lines end in the default newline): every value
quoted with quotes doubled, nothing escaped, NULL as the bare word, which LOAD DATA reads as NULL
only when unquoted (so the text 'NULL' survives)."""


def encode_csv(batch: pa.RecordBatch) -> pa.Buffer:
    """Encode a batch as `LOAD_FORMAT` CSV (Arrow's C++ writer: 3.6× the Arrow-kernel text
    encoding it replaced, which matters with the server on the other core)."""
    if any(pa.types.is_boolean(c.type) for c in batch.columns):
        batch = pa.RecordBatch.from_arrays(
            [pc.cast(c, pa.int8()) if pa.types.is_boolean(c.type) else c for c in batch.columns],
            names=batch.schema.names,
        )
    out = pa.BufferOutputStream()
    pacsv.write_csv(batch, out, CSV_OPTIONS)
    return out.getvalue()


class _FifoFeeder:
    """Writes encoded batches into a named pipe from a thread, until done or stopped."""

    def __init__(self, path: str, batches: pa.RecordBatchReader, meter: ProgressMeter) -> None:
        self.path, self.batches, self.meter = path, batches, meter
        self.error: BaseException | None = None
        self.started_reading = False
        self.stopped = False
        self.opened = threading.Event()
        """Set once the writer's open of the pipe has returned (or failed)."""
        self.thread = threading.Thread(target=self._feed, name="tagport-load-data", daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        try:
            with open(self.path, "wb") as pipe:  # blocks until PyMySQL opens the pipe
                self.opened.set()
                if self.stopped:
                    return  # opened by finish(): PyMySQL never read, leave the batches unread
                self.started_reading = True
                for batch in self.batches:
                    pipe.write(encode_csv(batch))
                    self.meter.add(batch.num_rows)
        except BaseException as exc:
            self.error = exc
        finally:
            self.opened.set()

    def finish(self) -> None:
        """Unblock the writer if PyMySQL never opened the pipe, and wait for it."""
        if self.thread.is_alive() and not self.started_reading:
            self.stopped = True
            # A reader held open until the writer's open has returned: one opened and closed
            # at once would miss a writer not yet in open(), which would then block for ever
            # (a refused LOAD DATA can come back before the thread gets there).
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            try:
                self.opened.wait()
            finally:
                os.close(fd)
        self.thread.join()


class MySqlTarget(SqlTarget):
    """A MySQL or MariaDB database (the connection's database is the only "schema")."""

    capabilities = MYSQL_CAPABILITIES
    dialect = MySqlDialect(MYSQL_CAPABILITIES)

    def __init__(self, params: ConnectionParams, *, local_infile: bool = True) -> None:
        super().__init__(params)
        self.local_infile = local_infile
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            with self._edge():
                self._conn = GuardedConnection(
                    host=self.params.host or "localhost",
                    port=self.params.port or 3306,
                    user=self.params.username,
                    password=self.params.password or "",
                    database=self.params.database,
                    connect_timeout=self.params.connect_timeout,
                    local_infile=self.local_infile,
                    charset="utf8mb4",
                    autocommit=True,
                )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _schema(self, schema: str | None) -> str | None:
        return None  # tables live in the connection's database

    def check_create_sql(self, sql: str, schema: str | None = None) -> TableDdl:
        # A qualified name must name the connection's database.
        return check_create(self.dialect, sql, self.params.database)

    def _translate(self, exc: Exception) -> ExternalError | None:
        return translate_mysql(exc) or translate_arrow(exc)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self.conn
        conn.begin()
        try:
            yield
        except BaseException:
            with suppress(pymysql.MySQLError):  # a lost connection has rolled back already
                conn.rollback()
            raise
        conn.commit()

    def _run(self, statements: Sequence[Statement], *, transaction: bool) -> None:
        with self._transaction() if transaction else nullcontext(), self.conn.cursor() as cur:
            for s in statements:
                cur.execute(s.sql, s.params or None)
                ran(s)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._edge(), self.conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            return list(cur.fetchall())

    def test_connection(self) -> None:
        self._query("SELECT 1")

    def server_version(self) -> str:
        return str(self._query("SELECT VERSION()")[0][0])

    def list_schemas(self) -> list[str]:
        rows = self._query("SHOW DATABASES")
        hidden = {"information_schema", "mysql", "performance_schema", "sys"}
        return [str(r[0]) for r in rows if str(r[0]) not in hidden]

    def list_tables(self, schema: str | None = None) -> list[str]:
        rows = self._query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_type = 'BASE TABLE' ORDER BY 1"
        )
        return [str(r[0]) for r in rows]

    def _table_exists(self, schema: str | None, table: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() "
                "AND table_name = %s",
                (table,),
            )
        )

    def describe_table(self, table: str, schema: str | None = None) -> TableInfo:
        cols = self._query(
            "SELECT column_name, column_type, is_nullable = 'YES', column_default "
            "FROM information_schema.columns WHERE table_schema = DATABASE() "
            "AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        if not cols:
            raise NotFound("table", table)
        pk = self._query(
            "SELECT column_name FROM information_schema.key_column_usage "
            "WHERE table_schema = DATABASE() AND table_name = %s AND constraint_name = 'PRIMARY' "
            "ORDER BY ordinal_position",
            (table,),
        )
        parts = self._query(
            "SELECT partition_expression FROM information_schema.partitions "
            "WHERE table_schema = DATABASE() AND table_name = %s "
            "AND partition_expression IS NOT NULL LIMIT 1",
            (table,),
        )
        partition_columns: tuple[str, ...] = ()
        if parts:
            expression = str(parts[0][0])
            partition_columns = tuple(p.strip().strip("`") for p in expression.split(","))
        return TableInfo(
            schema=None,
            name=table,
            columns=tuple(
                # MariaDB reports "no default" of a nullable column as the text NULL
                ColumnInfo(str(n), str(t), bool(nl), None if d in (None, "NULL") else str(d))
                for n, t, nl, d in cols
            ),
            primary_key=tuple(str(r[0]) for r in pk),
            partition_columns=partition_columns,
        )

    def _has_dependents(self, schema: str | None, table: str) -> bool:
        return False  # views and grants bind by name: the rename swap keeps them working

    def _ensure_partition(self, schema: str | None, info: TableInfo, p: PartitionValue) -> None:
        if info.partition_columns != (p.column,):
            return
        rows = self._query(
            "SELECT partition_method, partition_description FROM information_schema.partitions "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            (info.name,),
        )
        if not rows or str(rows[0][0]) != "LIST COLUMNS":
            return  # RANGE or KEY partitioning places the rows itself
        wanted = self.dialect.literal(p.value)
        values = {v.strip() for r in rows for v in str(r[1]).split(",")}
        if wanted not in values:
            self._run([Statement(self.dialect.add_partition(info.name, p))], transaction=False)

    def _sibling(self) -> MySqlTarget:
        return MySqlTarget(self.params, local_infile=self.local_infile)

    def _bulk_load(
        self, table: str, info: TableInfo, batches: pa.RecordBatchReader, meter: ProgressMeter
    ) -> None:
        columns = ", ".join(self.dialect.quote(c) for c in info.column_names)
        folder = tempfile.mkdtemp(prefix="tagport-load-")
        path = os.path.join(folder, "rows.tsv")
        os.mkfifo(path, 0o600)
        warnings: list[tuple[object, ...]] = []
        refused = False
        try:
            feeder = _FifoFeeder(path, batches, meter)
            try:
                with self.conn.offering(path), self.conn.cursor() as cur:
                    cur.execute(
                        f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
                        f"{LOAD_FORMAT} ({columns})",
                        (path,),
                    )
                    cur.execute("SHOW WARNINGS LIMIT 3")
                    warnings = list(cur.fetchall())
            except pymysql.MySQLError as exc:
                refused = bool(exc.args) and exc.args[0] in _LOCAL_INFILE_REFUSED
                feeder.finish()
                if not refused or feeder.started_reading:
                    raise
            except BaseException:
                feeder.finish()  # e.g. the server asked for another file: unblock the feeder
                raise
            feeder.finish()
            if feeder.error is not None and not refused:
                raise feeder.error
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if refused:
            self._insert_rows(table, columns, len(info.columns), batches, meter)
            return
        # LOCAL makes the server downgrade bad values to warnings: refuse them instead.
        if warnings:
            detail = "; ".join(str(w[2]) for w in warnings)
            raise TerminalError(f"exported values do not fit the target's columns: {detail}")

    def _insert_rows(
        self,
        table: str,
        columns: str,
        width: int,
        batches: pa.RecordBatchReader,
        meter: ProgressMeter,
    ) -> None:
        """Fallback when local infile is refused: multi-row INSERTs of INSERT_BATCH_ROWS rows."""
        marks = ", ".join(["%s"] * width)
        statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        with self.conn.cursor() as cur:
            for batch in batches:
                for offset in range(0, batch.num_rows, INSERT_BATCH_ROWS):
                    part = batch.slice(offset, INSERT_BATCH_ROWS)
                    rows = list(zip(*(c.to_pylist() for c in part.columns), strict=True))
                    cur.executemany(statement, rows)
                meter.add(batch.num_rows)
