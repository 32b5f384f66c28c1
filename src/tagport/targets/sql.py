"""The staging-and-swap algorithm, written once, and the generic SQL it speaks.

`Dialect` renders statements (quoting, CREATE TABLE, renames, upserts); a family overrides only
what differs. `SqlTarget` runs the algorithm over a DB-API connection that a dialect module opens:

    recover leftovers (first: the target itself may be one) → create `{t}_dpfx_b` like `{t}`
    → bulk load it (streams of batches, or slices that a warehouse's tasks load themselves, each
      once, recorded in the ledger `{t}_dpfx_slices`: `SliceLoader`) → replace the target:
      * swap      rename `{t}`→`{t}_dpfx_tmp`, `{t}_dpfx_b`→`{t}`, drop `{t}_dpfx_tmp`
      * in_place  (views or foreign keys depend on `{t}`) delete + insert from staging, one tx
      * partition delete the bizdate's rows + upsert from staging, one transaction
"""

from __future__ import annotations

import hashlib
import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass

import pyarrow as pa

from tagport.domain.naming import IDENTIFIER
from tagport.errors import ExternalError, InvalidInput, TerminalError
from tagport.targets.base import (
    Batches,
    Capabilities,
    ColumnDdl,
    PartitionValue,
    ProgressCallback,
    ProgressMeter,
    SlicedExport,
    TableDdl,
    TableDesign,
    TableInfo,
    Target,
    WriteResult,
    already_exists,
    chained,
    reached,
    schema_of,
    streams_of,
)
from tagport.targets.ddl import check_create
from tagport.targets.typemap import PARTITION_TYPES, Family, column_type

STAGING_SUFFIX = "_dpfx_b"
OLD_SUFFIX = "_dpfx_tmp"
LEDGER_SUFFIX = "_dpfx_slices"
LEFTOVER_MARK = "_dpfx_"
SLICE_PROGRESS_SECONDS = 2.0
"""How often a sliced load reads its ledger to report progress."""


@dataclass(frozen=True)
class Statement:
    """One SQL statement, its bound parameters, and the swap point it reaches (if any)."""

    sql: str
    params: tuple[object, ...] = ()
    point: str | None = None


def ran(statement: Statement) -> None:
    """Called by each family's `_run` after a statement: tells the swap hook its point."""
    if statement.point is not None:
        reached(statement.point)


def shorten(name: str, suffix: str, limit: int) -> str:
    """`name + suffix`, cut to `limit` characters deterministically (hash of the full name)."""
    full = name + suffix
    if len(full) <= limit:
        return full
    digest = hashlib.sha1(full.encode()).hexdigest()[:8]
    return f"{name[: limit - len(suffix) - 9]}_{digest}{suffix}"


class Dialect:
    """Generic SQL (PostgreSQL-flavoured ANSI); families override the statements that differ."""

    family: Family = Family.POSTGRES
    sqlglot_dialect = "postgres"
    placeholder = "%s"
    quote_char = '"'
    inline_comments = False
    """True: comments sit in CREATE TABLE (MySQL); False: separate COMMENT ON statements."""

    def __init__(self, capabilities: Capabilities) -> None:
        self.capabilities = capabilities

    # names
    def quote(self, name: str) -> str:
        """Validate `name` as a plain identifier and quote it."""
        if not IDENTIFIER.matches(name):
            raise InvalidInput.one("identifier", name, IDENTIFIER.explanation)
        limit = self.capabilities.identifier_max_length
        if len(name) > limit:
            raise InvalidInput.one("identifier", name, f"longer than {limit} characters")
        return f"{self.quote_char}{name}{self.quote_char}"

    def qualify(self, schema: str | None, table: str) -> str:
        if schema and self.capabilities.schemas:
            return f"{self.quote(schema)}.{self.quote(table)}"
        return self.quote(table)

    def staging_name(self, table: str) -> str:
        return shorten(table, STAGING_SUFFIX, self.capabilities.identifier_max_length)

    def old_name(self, table: str) -> str:
        return shorten(table, OLD_SUFFIX, self.capabilities.identifier_max_length)

    def ledger_name(self, table: str) -> str:
        return shorten(table, LEDGER_SUFFIX, self.capabilities.identifier_max_length)

    def literal(self, text: str) -> str:
        """A string literal for DDL, where drivers cannot bind (comments, partition bounds)."""
        return "'" + text.replace("'", "''") + "'"

    # one-click creation: a TableDesign becomes a TableDdl, which is rendered
    def table_ddl(self, design: TableDesign) -> TableDdl:
        """The table a design asks for, in this family's column types."""
        if not design.columns:
            raise InvalidInput.one("table", "columns", "a table needs at least one column")
        columns = [
            ColumnDdl(
                c.name,
                column_type(self.family, c.type),
                not_null=c.is_key or not c.nullable,
                comment=c.comment,
            )
            for c in design.columns
        ]
        partition = design.partition
        if partition is not None:
            columns.append(
                ColumnDdl(
                    partition.column,
                    PARTITION_TYPES[self.family],
                    not_null=True,
                    comment=partition.comment,
                )
            )
        partitioned = partition is not None and self.capabilities.partitioned_tables
        return TableDdl(
            design.name,
            tuple(columns),
            design.key,
            design.comment,
            partition.column if partitioned and partition else None,
            tuple(c.name for c in design.columns if c.is_key)
            if self.capabilities.distributed_by
            else (),
        )

    def column_sql(self, column: ColumnDdl) -> str:
        default = "" if column.default is None else f" DEFAULT {column.default}"
        null = " NOT NULL" if column.not_null else ""
        comment = ""
        if self.inline_comments and column.comment:
            comment = f" COMMENT {self.literal(column.comment)}"
        return f"{self.quote(column.name)} {column.type}{default}{null}{comment}"

    def table_options(self, table: TableDdl) -> str:
        """What follows the column list: partitioning, distribution, inline table comment."""
        if table.partition_column is not None:
            return f" PARTITION BY LIST ({self.quote(table.partition_column)})"
        return ""

    def comment_statements(self, table: TableDdl, schema: str | None) -> list[str]:
        if self.inline_comments:
            return []
        name = self.qualify(schema, table.name)
        out = []
        if table.comment:
            out.append(f"COMMENT ON TABLE {name} IS {self.literal(table.comment)}")
        for column in table.columns:
            if column.comment:
                out.append(
                    f"COMMENT ON COLUMN {name}.{self.quote(column.name)} "
                    f"IS {self.literal(column.comment)}"
                )
        return out

    def create_table(self, design: TableDesign, schema: str | None) -> list[str]:
        """CREATE TABLE plus comment statements for `design`."""
        return self.render_create(self.table_ddl(design), schema)

    def render_create(self, table: TableDdl, schema: str | None) -> list[str]:
        """The statements that create `table`: the only CREATE TABLE text tagport runs."""
        lines = [self.column_sql(c) for c in table.columns]
        if table.primary_key:
            lines.append(self.primary_key_sql(table.name, table.primary_key))
        body = ",\n  ".join(lines)
        create = (
            f"CREATE TABLE {self.qualify(schema, table.name)} (\n  {body}\n)"
            + self.table_options(table)
        )
        return [create, *self.comment_statements(table, schema)]

    def primary_key_sql(self, table: str, key: Sequence[str]) -> str:
        return "PRIMARY KEY (" + ", ".join(self.quote(k) for k in key) + ")"

    # staging and swap
    def create_like(
        self, source: str, staging: str, *, partitioned: bool, source_partitioned: bool = False
    ) -> list[str]:
        """Create `staging` with the target's columns, defaults, constraints and indexes.

        `partitioned`: the run replaces one partition; `source_partitioned`: the target table
        itself is partitioned (MySQL's LIKE copies the partitioning, which staging must drop).
        """
        return [f"CREATE TABLE {staging} (LIKE {source} INCLUDING ALL)"]

    def drop(self, table: str) -> str:
        return f"DROP TABLE IF EXISTS {table}"

    # the ledger of a sliced load (`SliceLoader`)
    def create_ledger(self, ledger: str) -> str:
        columns = "slice_id VARCHAR(200) PRIMARY KEY, row_count BIGINT NOT NULL"
        return f"CREATE TABLE {ledger} ({columns})"

    def slice_lookup(self, ledger: str) -> str:
        return f"SELECT row_count FROM {ledger} WHERE slice_id = {self.placeholder}"

    def slice_record(self, ledger: str, slice_id: str, rows: int) -> Statement:
        marks = f"{self.placeholder}, {self.placeholder}"
        insert = f"INSERT INTO {ledger} (slice_id, row_count) VALUES ({marks})"
        return Statement(insert, (slice_id, rows))

    def sliced_rows(self, ledger: str) -> str:
        return f"SELECT COALESCE(SUM(row_count), 0) FROM {ledger}"

    def rename(self, schema: str | None, table: str, new_name: str) -> str:
        return f"ALTER TABLE {self.qualify(schema, table)} RENAME TO {self.quote(new_name)}"

    def swap(self, schema: str | None, table: str) -> list[Statement]:
        """Renames that put the staging table in place of the target, and drop the old one."""
        old, staging = self.old_name(table), self.staging_name(table)
        return [
            Statement(self.rename(schema, table, old), point="target_renamed_away"),
            Statement(self.rename(schema, staging, table), point="staging_renamed_in"),
            Statement(f"DROP TABLE {self.qualify(schema, old)}", point="old_dropped"),
        ]

    def insert_from(self, target: str, source: str, columns: Sequence[str]) -> str:
        cols = ", ".join(self.quote(c) for c in columns)
        return f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {source}"

    def upsert_from(
        self, target: str, source: str, columns: Sequence[str], key: Sequence[str]
    ) -> str:
        """Insert every staged row; on a key conflict the staged (new) row wins."""
        insert = self.insert_from(target, source, columns)
        if not key:
            return insert
        updates = [c for c in columns if c not in key]
        conflict = ", ".join(self.quote(k) for k in key)
        if not updates:
            return f"{insert} ON CONFLICT ({conflict}) DO NOTHING"
        sets = ", ".join(f"{self.quote(c)} = EXCLUDED.{self.quote(c)}" for c in updates)
        return f"{insert} ON CONFLICT ({conflict}) DO UPDATE SET {sets}"

    def replace_all(self, target: str, staging: str, columns: Sequence[str]) -> list[Statement]:
        """In-place replacement inside one transaction (for targets that views depend on)."""
        return [
            Statement(f"DELETE FROM {target}"),
            Statement(self.insert_from(target, staging, columns)),
        ]

    def replace_partition(
        self, target: str, staging: str, info: TableInfo, partition: PartitionValue
    ) -> list[Statement]:
        """Delete the bizdate's rows and upsert the staged ones, inside one transaction."""
        where = f"DELETE FROM {target} WHERE {self.quote(partition.column)} = {self.placeholder}"
        return [
            Statement(where, (partition.value,)),
            Statement(self.upsert_from(target, staging, info.column_names, info.primary_key)),
        ]


class SqlTarget(Target):
    """A target reached through a DB-API driver; runs the staging-and-swap algorithm."""

    dialect: Dialect

    # driver primitives each family implements
    @abstractmethod
    def _run(self, statements: Sequence[Statement], *, transaction: bool) -> None:
        """Run statements; with `transaction`, all or nothing."""

    @abstractmethod
    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run a query and return its rows."""

    @abstractmethod
    def _bulk_load(
        self, table: str, info: TableInfo, batches: pa.RecordBatchReader, meter: ProgressMeter
    ) -> None:
        """Load every batch into `table` (qualified, quoted) through the family's bulk path."""

    def _bulk_load_streams(
        self,
        table: str,
        info: TableInfo,
        streams: Sequence[pa.RecordBatchReader],
        meter: ProgressMeter,
    ) -> None:
        """Load several streams: at once, on a connection each, up to `max_load_streams` of
        them (the caller chose how many streams to hand over; extra ones are chained).

        One bulk load keeps one server backend busy; disjoint key blocks loaded side by side
        use more of the server (see docs/targets.md). Every stream runs to its end; the first
        error is raised, and the caller drops the staging table.
        """
        width = self.capabilities.max_load_streams
        if width > 1 and len(streams) > width:  # fold the extra streams into the last lane
            streams = [*streams[: width - 1], chained(streams[width - 1 :])]
        if width <= 1 or len(streams) == 1:
            self._bulk_load(table, info, chained(streams), meter)
            return
        siblings = [self._sibling() for _ in streams[1:]]
        try:
            with ThreadPoolExecutor(len(streams), thread_name_prefix="tagport-load") as pool:
                futures = [
                    pool.submit(target._bulk_load, table, info, stream, meter)
                    for target, stream in zip([self, *siblings], streams, strict=True)
                ]
            errors = [e for f in futures if (e := f.exception()) is not None]
        finally:
            for sibling in siblings:
                sibling.close()
        if errors:
            raise errors[0]

    def _sibling(self) -> SqlTarget:
        """Another connection to the same target, for a parallel load stream."""
        return type(self)(self.params)

    def _transaction(self) -> AbstractContextManager[None]:
        """A transaction on this connection: committed when the block ends, rolled back when
        it raises. Families whose capabilities offer `slice_loads` implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not load slices")

    def _load(
        self, staging: str, ledger: str, info: TableInfo, batches: Batches, meter: ProgressMeter
    ) -> None:
        """Load the write's batches into `staging`: streams here, a sliced export by the
        warehouse's own tasks, recording each slice in `ledger`."""
        if isinstance(batches, SlicedExport):
            self._load_slices(staging, ledger, info, batches, meter)
        else:
            self._bulk_load_streams(staging, info, streams_of(batches), meter)

    def _load_slices(
        self,
        staging: str,
        ledger: str,
        info: TableInfo,
        export: SlicedExport,
        meter: ProgressMeter,
    ) -> None:
        """Let the warehouse's tasks load `export` into `staging`, each slice once
        (`SliceLoader`); the ledger of loaded slices tells the progress while they run and the
        rows once they are done. The ledger goes when the load ends, as the staging table does
        (at the next run's recovery, if this process dies first)."""
        d = self.dialect
        self._run([Statement(d.create_ledger(ledger))], transaction=False)
        try:
            loader = SliceLoader(self._sibling(), staging, ledger, info)
            with ThreadPoolExecutor(1, thread_name_prefix="tagport-slices") as pool:
                job = pool.submit(export.load, loader)
                while not wait([job], timeout=SLICE_PROGRESS_SECONDS).done:
                    self._count_slices(ledger, meter)
                job.result()
            self._count_slices(ledger, meter)
        finally:
            with suppress(Exception):
                self._run([Statement(d.drop(ledger))], transaction=False)

    def _count_slices(self, ledger: str, meter: ProgressMeter) -> None:
        """Tell the meter the rows of the slices loaded so far."""
        rows = int(str(self._query(self.dialect.sliced_rows(ledger))[0][0]))
        if rows > meter.rows:
            meter.add(rows - meter.rows)

    def _load_slice(self, loader: SliceLoader, slice_id: str, batches: pa.RecordBatchReader) -> int:
        """One slice, in one transaction with its ledger row: loaded and recorded, or, when the
        ledger has it already (an earlier attempt committed), its recorded rows."""
        d = self.dialect
        with self._transaction():
            done = self._query(d.slice_lookup(loader.ledger), (slice_id,))
            if done:
                return int(str(done[0][0]))
            meter = ProgressMeter(None)
            self._bulk_load(loader.staging, loader.info, batches, meter)
            self._run([d.slice_record(loader.ledger, slice_id, meter.rows)], transaction=False)
        return meter.rows

    @abstractmethod
    def _translate(self, exc: Exception) -> ExternalError | None:
        """The tagport error for a driver exception, or None if `exc` is not a driver error."""

    @abstractmethod
    def _table_exists(self, schema: str | None, table: str) -> bool: ...

    @abstractmethod
    def _has_dependents(self, schema: str | None, table: str) -> bool:
        """True when views (or foreign keys) depend on the table, so it must not be renamed."""

    def _swap(self, schema: str | None, table: str) -> None:
        """Replace the target by the staging table; dialects add grant/index bookkeeping."""
        self._run(self.dialect.swap(schema, table), transaction=self.capabilities.transactional_ddl)

    def _ensure_partition(self, schema: str | None, info: TableInfo, p: PartitionValue) -> None:
        """Create the bizdate's partition when the table is partitioned and it is missing."""

    @contextmanager
    def _edge(self) -> Iterator[None]:
        """Translate driver exceptions into TerminalError / TransientError."""
        try:
            yield
        except Exception as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc

    def _schema(self, schema: str | None) -> str | None:
        return schema if schema is not None else self.params.schema

    # one-click creation
    def create_table_sql(self, design: TableDesign, schema: str | None = None) -> str:
        statements = self.dialect.create_table(design, self._schema(schema))
        return ";\n".join(statements) + ";\n"

    def check_create_sql(self, sql: str, schema: str | None = None) -> TableDdl:
        return check_create(self.dialect, sql, self._schema(schema))

    def create_table(self, ddl: str | TableDdl, schema: str | None = None) -> TableInfo:
        schema = self._schema(schema)
        table = ddl if isinstance(ddl, TableDdl) else self.check_create_sql(ddl, schema)
        create, *comments = [Statement(s) for s in self.dialect.render_create(table, schema)]
        with self._edge():
            if self._table_exists(schema, table.name):
                raise already_exists(table.name, schema)
            if self.capabilities.transactional_ddl:
                self._run([create, *comments], transaction=True)
            else:
                self._run([create], transaction=False)
                try:
                    self._run(comments, transaction=False)
                except Exception as exc:
                    self.drop_table(table.name, schema)
                    raise TerminalError(
                        f"commenting {table.name} failed, so the table just created was "
                        f"dropped again: {self._translate(exc) or exc}"
                    ) from exc
        return self.describe_table(table.name, schema)

    def drop_table(self, table: str, schema: str | None = None) -> None:
        schema = self._schema(schema)
        with self._edge():
            drop = self.dialect.drop(self.dialect.qualify(schema, table))
            self._run([Statement(drop)], transaction=False)

    # writing
    def recover(self, table: str, schema: str | None = None) -> list[str]:
        schema = self._schema(schema)
        staging, old = self.dialect.staging_name(table), self.dialect.old_name(table)
        actions: list[str] = []
        with self._edge():
            if not self._table_exists(schema, table) and self._table_exists(schema, old):
                # A crash between the renames (only possible where renames are not atomic):
                # `old` holds the last complete content; put it back.
                self._run([Statement(self.dialect.rename(schema, old, table))], transaction=False)
                actions.append(f"restored {table} from {old}")
            for leftover in (staging, old, self.dialect.ledger_name(table)):
                if self._table_exists(schema, leftover):
                    drop = self.dialect.drop(self.dialect.qualify(schema, leftover))
                    self._run([Statement(drop)], transaction=False)
                    actions.append(f"dropped {leftover}")
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
        schema = self._schema(schema)
        started = time.monotonic()
        info, loaded = self.prepare_write(table, schema, schema_of(batches).names)
        if partition is None and info.partition_columns:
            # Swapping a partitioned table for a plain copy would drop its partitioning.
            raise TerminalError(
                f"target table {table!r} is partitioned by {', '.join(info.partition_columns)}: "
                "choose its date partition field"
            )
        if partition is not None and partition.column not in loaded.column_names:
            raise TerminalError(
                f"target table {table!r} has no partition column {partition.column!r}"
            )
        d = self.dialect
        target, staging = d.qualify(schema, table), d.qualify(schema, d.staging_name(table))
        meter = ProgressMeter(progress)
        with self._edge():
            create = d.create_like(
                target,
                staging,
                partitioned=partition is not None,
                source_partitioned=bool(info.partition_columns),
            )
            self._run([Statement(s) for s in create], transaction=False)
            reached("staging_created")
            try:
                ledger = d.qualify(schema, d.ledger_name(table))
                self._load(staging, ledger, loaded, batches, meter)
                reached("staging_loaded")
                if partition is not None:
                    self._ensure_partition(schema, info, partition)
                    self._run(
                        d.replace_partition(target, staging, loaded, partition), transaction=True
                    )
                    mode = "partition"
                elif self._has_dependents(schema, table):
                    self._run(d.replace_all(target, staging, loaded.column_names), transaction=True)
                    mode = "in_place"
                else:
                    self._swap(schema, table)
                    mode = "swap"
                reached("replaced")
            finally:
                # Best effort: a failure leaves the target untouched; the staging table goes
                # now, or at the next run's recovery if this connection is gone.
                with suppress(Exception):
                    self._run([Statement(d.drop(staging))], transaction=False)
        return WriteResult(table, meter.rows, mode, time.monotonic() - started)


@dataclass(frozen=True)
class SliceLoader:
    """Loads one slice of an export into a write's staging table, exactly once (a `SliceSink`).

    It pickles — it holds an unopened target, not a connection — so that a warehouse's task
    calls it where the task runs, on a connection of its own. One transaction a slice: look the
    slice up in the ledger, bulk load it, record it with its rows. A retried task whose earlier
    attempt died mid-load finds no record and none of its rows (rolled back); one whose earlier
    attempt committed finds the record and loads nothing. Two attempts at once: the second's
    record waits on the first's key and fails when it commits, and the task's retry finds it.
    """

    prototype: SqlTarget
    staging: str
    ledger: str
    info: TableInfo

    def __call__(self, slice_id: str, batches: pa.RecordBatchReader) -> int:
        target = self.prototype._sibling()
        try:
            with target._edge():
                return target._load_slice(self, slice_id, batches)
        finally:
            target.close()
