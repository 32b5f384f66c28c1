"""The target interface: what every database family offers tagport, and the data it exchanges.

Capabilities are data, not branches: the generic algorithm in `targets.sql` reads them, and each
dialect module declares its own. Nothing here imports a driver.
"""

from __future__ import annotations

import itertools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from types import TracebackType
from typing import Protocol, TypeAlias, runtime_checkable

import pyarrow as pa

from tagport.config import MAX_LOAD_STREAMS
from tagport.domain.dates import PartitionFormat
from tagport.domain.values import IdType, ValueType
from tagport.errors import Conflict, NotFound, TerminalError

SwapHook = Callable[[str], None]
"""Called with the name of each point a write passes (see `set_swap_hook`)."""


def _pass(point: str) -> None:
    """The default hook: production writes pass every point without effect."""


_swap_hook: SwapHook = _pass


def set_swap_hook(hook: SwapHook | None) -> SwapHook:
    """Test seam: call `hook(point)` at each named point of every write; None restores the no-op.

    Returns the previous hook. Crash tests kill a load at each point to prove that the next run
    recovers and readers only ever see complete content. The points, in order:
    `recovered` (leftovers of an earlier run handled), `staging_created`, `staging_loaded`,
    `target_renamed_away` (only where that rename is its own statement), `staging_renamed_in`,
    `old_dropped`, then `target_emptied` and `rows_inserted` for the project target, and
    `replaced` once the new content is committed.
    """
    global _swap_hook
    previous, _swap_hook = _swap_hook, hook or _pass
    return previous


def reached(point: str) -> None:
    """Tell the swap hook the write passed `point`."""
    _swap_hook(point)


@dataclass(frozen=True)
class Capabilities:
    """What a target type can do; the swap and DDL generation choose their path from these."""

    schemas: bool
    partitioned_tables: bool
    transactional_ddl: bool
    atomic_multi_rename: bool
    identifier_max_length: int
    bulk_path: str
    distributed_by: bool = False
    """Greenplum-style `DISTRIBUTED BY` clause on CREATE TABLE."""
    sorted_load: bool = False
    """The table is clustered on its primary key: rows sorted by the key load much faster."""
    load_streams: int = 1
    """How many streams a load uses unless `TAGPORT_LOAD_STREAMS` says otherwise: bulk loads
    on as many connections at once, each fed its own contiguous key range (see `Batches`)."""
    max_load_streams: int = MAX_LOAD_STREAMS
    """The most streams a write loads at once (1: the target cannot take several; more are
    chained into the last one)."""
    slice_loads: bool = False
    """A warehouse's own tasks may load slices of an export straight into the staging table,
    each on a connection of its own, exactly once (`SlicedExport`, `targets.sql.SliceLoader`)."""

    def streams(self, asked: int | None = None) -> int:
        """How many streams a load into this target uses: as many as `asked` (the setting),
        else `load_streams`, never more than `max_load_streams`."""
        return max(1, min(asked or self.load_streams, self.max_load_streams))


@dataclass(frozen=True)
class ConnectionParams:
    """How to reach a target; callers build it from a DataSourceSpec (the password in clear).

    For the `project` target, `database` is the DuckDB file and `schema` the project.
    """

    host: str | None = None
    port: int | None = None
    database: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    connect_timeout: int = 10


@dataclass(frozen=True)
class ColumnInfo:
    """A column as the database reports it."""

    name: str
    type: str
    nullable: bool
    default: str | None = None


@dataclass(frozen=True)
class TableInfo:
    """A table as the database reports it: columns in order, primary key, partition columns."""

    schema: str | None
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    partition_columns: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def only(self, names: Sequence[str]) -> TableInfo:
        """This table as a write of `names` sees it: the other columns keep their defaults."""
        wanted = {n.lower() for n in names}
        return replace(self, columns=tuple(c for c in self.columns if c.name.lower() in wanted))


@dataclass(frozen=True)
class ColumnDesign:
    """One column of a table to create: an exported field and its tag value type (or ID type)."""

    name: str
    type: ValueType | IdType
    comment: str | None = None
    is_key: bool = False
    nullable: bool = True


@dataclass(frozen=True)
class PartitionDesign:
    """The date partition field: a text column holding the bizdate rendered in `format`."""

    column: str
    format: PartitionFormat = PartitionFormat.YYYYMMDD
    comment: str | None = "data timestamp"


@dataclass(frozen=True)
class TableDesign:
    """Input of one-click table creation: name, comment, columns, optional partition field."""

    name: str
    columns: tuple[ColumnDesign, ...]
    comment: str | None = None
    partition: PartitionDesign | None = None

    @property
    def key(self) -> tuple[str, ...]:
        """Primary key columns: the entity ID, plus the partition column for partitioned tables."""
        keys = tuple(c.name for c in self.columns if c.is_key)
        return keys + ((self.partition.column,) if self.partition else ())


@dataclass(frozen=True)
class ColumnDdl:
    """One column as CREATE TABLE states it: the type spelled by the target, and only the
    clauses one-click creation allows (NOT NULL, a literal default already rendered as SQL
    by tagport, a comment)."""

    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class TableDdl:
    """A table to create, as tagport renders it: from a TableDesign (one click) or from a
    checked, user-edited statement. Nothing else reaches the database."""

    name: str
    columns: tuple[ColumnDdl, ...]
    primary_key: tuple[str, ...] = ()
    comment: str | None = None
    partition_column: str | None = None
    """Declarative list partitioning on this column (the generated clause of the dialect)."""
    distributed_by: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class PartitionValue:
    """Which partition a run replaces: the column and the bizdate rendered in its format."""

    column: str
    format: PartitionFormat
    bizdate: date

    @property
    def value(self) -> str:
        return self.format.render(self.bizdate)


@dataclass(frozen=True)
class LoadProgress:
    """Rows written so far and time spent, reported after every batch."""

    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        """Rows per second (0 before any time has passed)."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[LoadProgress], None]


class ProgressMeter:
    """Counts rows of a load and tells the callback after each batch (from any thread)."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.rows = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self._lock:
            self.rows += rows
            if self.callback is not None:
                self.callback(LoadProgress(self.rows, time.monotonic() - self.started))


SliceSink = Callable[[str, pa.RecordBatchReader], int]
"""Loads one slice of an export, named by an ID stable across retries, and returns its rows. It
pickles, so that a warehouse's tasks call it where they run; a slice already loaded is not
loaded again."""


@runtime_checkable
class SlicedExport(Protocol):
    """An export its warehouse loads itself: each of its tasks hands the sink one slice of the
    rows (`Capabilities.slice_loads`). `load` returns when every slice is loaded, and raises when
    one could not be; then `slices` and `bytes` (Arrow bytes handed over) say what it loaded."""

    slices: int
    bytes: int

    @property
    def schema(self) -> pa.Schema: ...

    def load(self, sink: SliceSink) -> None: ...


Batches: TypeAlias = "pa.RecordBatchReader | Sequence[pa.RecordBatchReader] | SlicedExport"
"""What a write loads: one stream of batches, or several streams of the same columns holding
disjoint rows — contiguous key ranges in key order, each sorted when the export is — which a
target loads at once, each on a connection of its own, up to `max_load_streams` of them (a
target that takes one loads them one after another). The caller chooses how many
(`Capabilities.streams`). Or, for a target with `slice_loads`, an export that the warehouse's
own tasks load (`SlicedExport`)."""


def schema_of(batches: Batches) -> pa.Schema:
    """The columns a write's batches carry."""
    if isinstance(batches, (pa.RecordBatchReader, SlicedExport)):
        return batches.schema
    return batches[0].schema


def streams_of(batches: Batches) -> list[pa.RecordBatchReader]:
    """The streams a write loads; a sliced export only reaches targets with `slice_loads`."""
    if isinstance(batches, SlicedExport):
        raise TypeError("a sliced export is loaded by its slices (Capabilities.slice_loads)")
    return [batches] if isinstance(batches, pa.RecordBatchReader) else list(batches)


def chained(streams: Sequence[pa.RecordBatchReader]) -> pa.RecordBatchReader:
    """One reader of every stream's batches, stream after stream."""
    if len(streams) == 1:
        return streams[0]
    return pa.RecordBatchReader.from_batches(streams[0].schema, itertools.chain(*streams))


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows loaded, how the target was replaced, and time spent."""

    table: str
    rows: int
    mode: str
    """`swap` (renames), `in_place` (views depend on it), or `partition` (one partition)."""
    seconds: float


class Target(ABC):
    """One connection to a target database; use as a context manager and close it."""

    capabilities: Capabilities

    def __init__(self, params: ConnectionParams) -> None:
        self.params = params

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release the connection (idempotent)."""

    # introspection
    @abstractmethod
    def test_connection(self) -> None:
        """Connect and run a trivial query; raise Terminal/TransientError with a clear reason."""

    @abstractmethod
    def server_version(self) -> str:
        """The server's product version as it reports it (what a connection test shows)."""

    @abstractmethod
    def list_schemas(self) -> list[str]:
        """Schemas (databases for MySQL, projects for the project target) the user can see."""

    @abstractmethod
    def list_tables(self, schema: str | None = None) -> list[str]:
        """Base tables of `schema` (default: the connection's schema)."""

    @abstractmethod
    def describe_table(self, table: str, schema: str | None = None) -> TableInfo:
        """Columns, primary key and partition columns; NotFound if the table does not exist."""

    # one-click creation
    @abstractmethod
    def create_table_sql(self, design: TableDesign, schema: str | None = None) -> str:
        """The CREATE TABLE script (with comments) for `design` in this target's dialect."""

    @abstractmethod
    def check_create_sql(self, sql: str, schema: str | None = None) -> TableDdl:
        """Check a user-edited script against the allow-list of `targets.ddl` (one CREATE TABLE
        in `schema`, its comments); return the table it creates. Nothing runs."""

    @abstractmethod
    def create_table(self, ddl: str | TableDdl, schema: str | None = None) -> TableInfo:
        """Create a table that does not exist yet from its checked form (a script is checked
        first) and return it. Only tagport's rendering of the TableDdl runs; a table that
        already exists is refused (Conflict) before anything runs."""

    @abstractmethod
    def drop_table(self, table: str, schema: str | None = None) -> None:
        """Drop a table: undoes a creation whose later steps failed."""

    # writing
    @abstractmethod
    def write(
        self,
        table: str,
        batches: Batches,
        *,
        schema: str | None = None,
        partition: PartitionValue | None = None,
        progress: ProgressCallback | None = None,
    ) -> WriteResult:
        """Replace the table's content (or the bizdate's partition) with `batches`, atomically.

        The batches' columns are target columns in the table's order, the primary key among
        them; columns left out take their defaults (or NULL).
        """

    @abstractmethod
    def recover(self, table: str, schema: str | None = None) -> list[str]:
        """Restore the table from crash leftovers if missing, drop leftovers; return actions."""

    def describe_for_write(self, table: str, schema: str | None = None) -> TableInfo:
        """The table a write will replace, read after recovering leftovers of a crashed run.

        Recovery comes first: a crash between non-atomic renames leaves the table only under
        `{t}_dpfx_tmp`, and recovery is what puts it back.
        """
        self.recover(table, schema)
        try:
            return self.describe_table(table, schema)
        except NotFound as exc:
            missing = TerminalError(f"target table {table!r} does not exist")
            raise missing.with_code("target.table_missing") from exc

    def prepare_write(
        self, table: str, schema: str | None, names: Sequence[str]
    ) -> tuple[TableInfo, TableInfo]:
        """Before a write: recover leftovers, read the table, check the batches' columns.

        Returns the table and the table as the write sees it (only the written columns).
        """
        info = self.describe_for_write(table, schema)
        problem = column_order_problem(info.column_names, names, info.primary_key)
        if problem:
            raise TerminalError(f"target table {table!r}: {problem}")
        return info, info.only(names)


def already_exists(table: str, schema: str | None) -> Conflict:
    """One-click creation never takes over an existing table (issue 17, finding 3)."""
    shown = f"{schema}.{table}" if schema else table
    return Conflict(f"table {shown} already exists; one-click creation only creates new tables")


def column_order_problem(
    expected: Sequence[str], given: Sequence[str], key: Sequence[str] = ()
) -> str | None:
    """Why the batches' columns cannot be written to a table of columns `expected` with primary
    key `key` (they must be table columns, in table order, key included), or None."""
    table = [c.lower() for c in expected]
    positions = [table.index(c.lower()) if c.lower() in table else -1 for c in given]
    if -1 in positions or positions != sorted(positions) or len(set(positions)) != len(positions):
        return f"columns {list(given)} are not columns of the table in its order {list(expected)}"
    missing = [k for k in key if k.lower() not in {c.lower() for c in given}]
    if missing:
        return f"the primary key column(s) {missing} are not written"
    return None
