"""PostgreSQL (and the base of openGauss, Greenplum, AnalyticDB PG): psycopg 3, binary COPY.

Bulk path: Arrow batches are cast to the column types of the table and encoded as PostgreSQL
binary COPY by `pgpq` (no CSV parsing on the server; 0.52× `psql \\copy` of the same rows, see
docs/benchmarks.md). Columns whose type has no Arrow twin fall back to COPY … (FORMAT CSV).

Swap: all statements in one transaction, so readers wait on the rename lock and then see the new
table; the new table's index and constraint names are renamed to the old ones after the old
table is dropped (same transaction), and the old grants, owner and table comment are re-applied.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pgpq
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import errors as pgerr
from psycopg import sql as pgsql

from tagport.errors import ExternalError, NotFound, TerminalError, TransientError
from tagport.targets.base import (
    Capabilities,
    ColumnInfo,
    ConnectionParams,
    PartitionValue,
    ProgressMeter,
    TableInfo,
)
from tagport.targets.sql import Dialect, SqlTarget, Statement, ran, shorten

PG_CAPABILITIES = Capabilities(
    schemas=True,
    partitioned_tables=True,
    transactional_ddl=True,
    atomic_multi_rename=True,
    identifier_max_length=63,
    bulk_path="COPY FROM STDIN (FORMAT BINARY) via pgpq",
    slice_loads=True,
)

_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")
_SIMPLE_ARROW: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "double precision": pa.float64(),
    "real": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "text": pa.string(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
}


def arrow_type_for(pg_type: str) -> pa.DataType | None:
    """The Arrow type whose binary COPY encoding fits a PostgreSQL column type, if any."""
    if pg_type in _SIMPLE_ARROW:
        return _SIMPLE_ARROW[pg_type]
    if pg_type.startswith(("character varying", "character(")):
        return pa.string()
    match = _NUMERIC.fullmatch(pg_type)
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    return None


class PgDialect(Dialect):
    """Statements of the PostgreSQL family that differ from the generic ones."""

    def literal(self, text: str) -> str:
        return pgsql.Literal(text).as_string(None)

    def partition_name(self, table: str, partition: PartitionValue) -> str:
        digits = partition.bizdate.strftime("%Y%m%d")
        return _short(f"{table}_p{digits}", self.capabilities.identifier_max_length)

    def add_partition(self, schema: str | None, table: str, partition: PartitionValue) -> str:
        name = self.qualify(schema, self.partition_name(table, partition))
        return (
            f"CREATE TABLE {name} PARTITION OF {self.qualify(schema, table)} "
            f"FOR VALUES IN ({self.literal(partition.value)})"
        )

    def create_like(
        self, source: str, staging: str, *, partitioned: bool, source_partitioned: bool = False
    ) -> list[str]:
        if partitioned:
            # A plain heap without indexes: rows are upserted into the partition afterwards.
            return [f"CREATE TABLE {staging} (LIKE {source} INCLUDING DEFAULTS)"]
        # Indexes are built after the load (one sort per index beats maintaining them row by
        # row during COPY); `_build_indexes` re-creates them from the target's definitions.
        return [f"CREATE TABLE {staging} (LIKE {source} INCLUDING ALL EXCLUDING INDEXES)"]


def _ident(name: str) -> str:
    """Quote the name of an existing object (role, index) read from the catalog."""
    return pgsql.Identifier(name).as_string(None)


def _short(name: str, limit: int) -> str:
    return shorten(name, "", limit) if len(name) > limit else name


_AUTH_MESSAGES = ("password authentication failed", "role", "pg_hba.conf", "authentication")
_TRANSIENT_STATES = ("08", "40", "53", "55P03", "57P01", "57P02", "57P03", "57014")


def translate_pg(exc: Exception) -> ExternalError | None:
    """psycopg exception → TerminalError / TransientError with a readable message."""
    if not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate or ""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, pgerr.InvalidPassword) or state.startswith("28"):
        return TerminalError(f"PostgreSQL refused the login: {text}")
    if isinstance(exc, pgerr.InvalidCatalogName):
        return TerminalError(f"PostgreSQL: unknown database: {text}")
    if isinstance(exc, pgerr.InsufficientPrivilege):
        return TerminalError(f"PostgreSQL: permission denied: {text}")
    if isinstance(exc, pgerr.UndefinedTable):
        return TerminalError(f"PostgreSQL: missing table: {text}")
    if state.startswith(_TRANSIENT_STATES):
        return TransientError(f"PostgreSQL: {text} (retry may help)")
    if isinstance(exc, psycopg.OperationalError) and not state:
        # Connection-time failures carry no SQLSTATE in psycopg: read the server's message.
        lowered = text.lower()
        if "database" in lowered and "does not exist" in lowered:
            return TerminalError(f"PostgreSQL: unknown database: {text}")
        if any(m in lowered for m in _AUTH_MESSAGES):
            return TerminalError(f"PostgreSQL refused the login: {text}")
        if "refused" in lowered:
            return TransientError(f"PostgreSQL: connection refused: {text}")
        return TransientError(f"PostgreSQL: connection failed: {text}")
    if state.startswith("22"):
        return TerminalError(f"PostgreSQL: data does not fit the column types: {text}")
    return TerminalError(f"PostgreSQL: {text}")


def translate_arrow(exc: Exception) -> ExternalError | None:
    """Casting the batches to the table's column types failed: a type mismatch."""
    if isinstance(exc, (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)):
        return TerminalError(f"exported values do not fit the target's column types: {exc}")
    return None


class PostgresTarget(SqlTarget):
    """A PostgreSQL database; also the runtime of the PostgreSQL-compatible targets."""

    capabilities = PG_CAPABILITIES
    dialect: PgDialect = PgDialect(PG_CAPABILITIES)
    binary_copy = True
    lock_timeout_seconds = 60

    def __init__(self, params: ConnectionParams) -> None:
        super().__init__(params)
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            with self._edge():
                self._conn = psycopg.connect(
                    host=self.params.host,
                    port=self.params.port,
                    dbname=self.params.database,
                    user=self.params.username,
                    password=self.params.password,
                    connect_timeout=self.params.connect_timeout,
                    autocommit=True,
                    application_name="tagport",
                )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _translate(self, exc: Exception) -> ExternalError | None:
        return translate_pg(exc) or translate_arrow(exc)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def _run(self, statements: Sequence[Statement], *, transaction: bool) -> None:
        if transaction:
            with self.conn.transaction():
                for s in statements:
                    self.conn.execute(s.sql.encode(), s.params or None)
                    ran(s)
        else:
            for s in statements:
                self.conn.execute(s.sql.encode(), s.params or None)
                ran(s)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._edge():
            return list(self.conn.execute(sql.encode(), tuple(params) or None).fetchall())

    # introspection
    def test_connection(self) -> None:
        self._query("SELECT 1")

    def server_version(self) -> str:
        return str(self._query("SHOW server_version")[0][0])

    def list_schemas(self) -> list[str]:
        rows = self._query(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
            "AND nspname <> 'information_schema' ORDER BY 1"
        )
        return [str(r[0]) for r in rows]

    def list_tables(self, schema: str | None = None) -> list[str]:
        rows = self._query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "ORDER BY 1",
            (self._schema(schema) or "public",),
        )
        return [str(r[0]) for r in rows]

    def _oid(self, schema: str | None, table: str) -> int | None:
        rows = self._query("SELECT to_regclass(%s)::oid", (self.dialect.qualify(schema, table),))
        value = rows[0][0]
        return int(str(value)) if value is not None else None

    def _table_exists(self, schema: str | None, table: str) -> bool:
        return self._oid(schema, table) is not None

    def describe_table(self, table: str, schema: str | None = None) -> TableInfo:
        schema = self._schema(schema)
        oid = self._oid(schema, table)
        if oid is None:
            raise NotFound("table", f"{schema}.{table}" if schema else table)
        cols = self._query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (oid,),
        )
        pk = self._query(
            "SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), "
            "pg_attribute a WHERE i.indrelid = %s AND i.indisprimary "
            "AND a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord",
            (oid,),
        )
        parts = self._query(
            "SELECT a.attname FROM pg_partitioned_table p, "
            "unnest(p.partattrs) WITH ORDINALITY k(attnum, ord), pg_attribute a "
            "WHERE p.partrelid = %s AND a.attrelid = p.partrelid AND a.attnum = k.attnum "
            "ORDER BY k.ord",
            (oid,),
        )
        return TableInfo(
            schema=schema,
            name=table,
            columns=tuple(
                ColumnInfo(str(n), str(t), bool(nl), None if d is None else str(d))
                for n, t, nl, d in cols
            ),
            primary_key=tuple(str(r[0]) for r in pk),
            partition_columns=tuple(str(r[0]) for r in parts),
        )

    def _has_dependents(self, schema: str | None, table: str) -> bool:
        oid = self._oid(schema, table)
        rows = self._query(
            "SELECT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
            "WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = %s "
            "AND r.ev_class <> %s) "
            "OR EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = %s AND contype = 'f')",
            (oid, oid, oid),
        )
        return bool(rows[0][0])

    # partitions
    def _ensure_partition(self, schema: str | None, info: TableInfo, p: PartitionValue) -> None:
        if info.partition_columns != (p.column,):
            return  # not declaratively partitioned on this column: rows are replaced by value
        oid = self._oid(schema, info.name)
        bound = f"FOR VALUES IN ({self.dialect.literal(p.value)})"
        rows = self._query(
            "SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s AND pg_get_expr(c.relpartbound, c.oid) = %s",
            (oid, bound),
        )
        if not rows:
            self._run(
                [Statement(self.dialect.add_partition(schema, info.name, p))], transaction=False
            )

    # bulk load
    def _bulk_load(
        self, table: str, info: TableInfo, batches: pa.RecordBatchReader, meter: ProgressMeter
    ) -> None:
        types = [arrow_type_for(c.type) for c in info.columns]
        columns = ", ".join(self.dialect.quote(c) for c in info.column_names)
        if self.binary_copy and all(t is not None for t in types):
            schema = pa.schema(
                [pa.field(n, t) for n, t in zip(info.column_names, types, strict=True)]
            )
            encoder = pgpq.ArrowToPostgresBinaryEncoder(schema)
            copy_sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
            with self.conn.cursor() as cur, cur.copy(copy_sql.encode()) as copy:
                copy.write(encoder.write_header())
                for batch in batches:
                    cast = pa.Table.from_batches([batch]).rename_columns(schema.names).cast(schema)
                    for part in cast.to_batches():
                        copy.write(encoder.write_batch(part))
                    meter.add(batch.num_rows)
                copy.write(encoder.finish())
            return
        copy_sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT CSV)"
        options = pacsv.WriteOptions(include_header=False)
        with self.conn.cursor() as cur, cur.copy(copy_sql.encode()) as copy:
            for batch in batches:
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, options)
                copy.write(buffer.getvalue())
                meter.add(batch.num_rows)

    # swap with names, grants, owner and comment kept
    def _indexes(self, oid: int) -> list[tuple[str, str]]:
        rows = self._query(
            "SELECT c.relname, i.indisprimary::text || i.indisunique::text || "
            "regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '') "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s "
            "ORDER BY c.relname",
            (oid,),
        )
        return [(str(n), str(k)) for n, k in rows]

    def _build_indexes(self, schema: str | None, table: str) -> None:
        """Give the loaded staging table the target's indexes and index-backed constraints.

        Temporary names (`…_dpfx_n`) avoid clashes in the schema; the swap renames them to
        the target's names once the old table is gone.
        """
        d = self.dialect
        old_oid = self._oid(schema, table)
        rows = self._query(
            "SELECT c.relname, regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', ''), "
            "i.indisunique, pg_get_constraintdef(con.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid LEFT JOIN pg_constraint con "
            "ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid "
            "WHERE i.indrelid = %s ORDER BY c.relname",
            (old_oid,),
        )
        staging = d.qualify(schema, d.staging_name(table))
        statements = []
        for name, using, unique, constraint in rows:
            temporary = _ident(shorten(str(name), "_dpfx_n", d.capabilities.identifier_max_length))
            if constraint is not None:
                sql = f"ALTER TABLE {staging} ADD CONSTRAINT {temporary} {constraint}"
            else:
                kind = "UNIQUE INDEX" if unique else "INDEX"
                sql = f"CREATE {kind} {temporary} ON {staging} USING {using}"
            statements.append(Statement(sql))
        self._run(statements, transaction=False)

    def _swap(self, schema: str | None, table: str) -> None:
        d = self.dialect
        self._build_indexes(schema, table)
        with self.conn.transaction():
            # A reader holding the table for long must not stall the swap (and every reader
            # queued behind it) forever: give up with a TransientError and retry later.
            self.conn.execute(f"SET LOCAL lock_timeout = '{self.lock_timeout_seconds}s'".encode())
            old_oid, new_oid = self._oid(schema, table), self._oid(schema, d.staging_name(table))
            assert old_oid is not None and new_oid is not None
            old_indexes, new_indexes = self._indexes(old_oid), self._indexes(new_oid)
            grants = self._query(
                "SELECT coalesce(r.rolname, 'PUBLIC'), a.privilege_type, a.is_grantable "
                "FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee "
                "WHERE c.oid = %s AND a.grantee <> c.relowner",
                (old_oid,),
            )
            owner, comment = self._query(
                "SELECT nullif(pg_get_userbyid(relowner), current_user), "
                "obj_description(oid, 'pg_class') FROM pg_class WHERE oid = %s",
                (old_oid,),
            )[0]
            statements = d.swap(schema, table)
            taken: set[str] = set()
            for name, key in old_indexes:
                match = next((n for n, k in new_indexes if k == key and n not in taken), None)
                if match is not None and match != name:
                    taken.add(match)
                    statements.append(
                        Statement(
                            f"ALTER INDEX {d.qualify(schema, match)} RENAME TO {_ident(name)}"
                        )
                    )
            target = d.qualify(schema, table)
            for grantee, privilege, grantable in grants:
                who = "PUBLIC" if grantee == "PUBLIC" else _ident(str(grantee))
                option = " WITH GRANT OPTION" if grantable else ""
                statements.append(Statement(f"GRANT {privilege} ON {target} TO {who}{option}"))
            if owner is not None:
                statements.append(Statement(f"ALTER TABLE {target} OWNER TO {_ident(str(owner))}"))
            if comment is not None:
                statements.append(
                    Statement(f"COMMENT ON TABLE {target} IS {d.literal(str(comment))}")
                )
            self._run(statements, transaction=False)  # inside the transaction above
