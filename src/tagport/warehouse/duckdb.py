"""The embedded warehouse: one DuckDB file, a schema per project. The only module that imports
DuckDB (`partition_stats` is handed its connections).

A DuckDB file admits one writing process (or several read-only ones). Connections are therefore
short-lived: opened per call, read-only unless the call writes, and a busy file is retried for a
bounded time before a TransientError says who to wait for. A batch of calls in one process may
hold the file open instead (`held`): each call then takes a cursor of the held connection.
"""

from __future__ import annotations

import atexit
import queue
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from tagport.domain.catalog import AudienceGroupSpec
from tagport.errors import (
    ConfigError,
    Conflict,
    ExternalError,
    InvalidInput,
    TagportError,
    TerminalError,
    TransientError,
)
from tagport.warehouse import files, partition_stats, queries
from tagport.warehouse.base import (
    AudienceScope,
    ExportColumn,
    ExportPlan,
    KeyRange,
    PartitionRef,
    QueryResult,
    Readiness,
    TableInfo,
    Warehouse,
    export_schema,
)

_LOCKED = ("lock", "conflicting", "being used")
Explain = Callable[[duckdb.Error], TagportError]
"""Turns a DuckDB error met doing something into the tagport error a person reads."""
CHUNK_ROWS = 250_000
"""Most members per export query (see `DuckDBWarehouse.export_readers`); fewer where the memory
limit asks (`range_members`)."""
BYTES_PER_VALUE = 40
"""Memory budget of a range query per member and output column: a sorted range of 9 columns
took about 200 bytes a member (100,000 members ran in a 30MB limit, 200,000 not in 40MB); twice
that leaves the rest of the limit to the scans and the cached blocks of the sources."""
QUERIES_AT_ONCE = 2
"""Range queries an export's ranges are sized to run side by side, at least: a lone stream's
thread starts the next range while the target still reads the last one's batches."""
MOST_RANGES = queries.SAMPLE_SIZE // 10
"""Ranges one export is cut into, at most: each cut from ten sampled IDs or more, so that no
range is much larger than its share (a fixed 64 made the ranges of 30M members too large for
the 160MB limit: the export ran out of memory)."""
AHEAD = 4
"""Batches a lone export stream keeps ready (200,000 rows of 50,000): enough to bridge the next
range's joins, before its first row, so a fast target (PostgreSQL COPY) never waits: 4.4–4.8 s
for 5M rows where 2 ahead took 5.0–5.2 s; 10M rows took 7.7–8.1 s with 4 or 8 ahead, and 4
held 10–15 MB less."""
AHEAD_SHARED = 2
"""Batches each of several streams keeps ready: they feed a target slower than themselves
(MySQL), where 4 or 8 ahead gained nothing and held 15–35 MB more."""


_HELD: dict[Path, duckdb.DuckDBPyConnection] = {}
"""Files held open by this process (`DuckDBWarehouse.held`), by resolved path."""
_HELD_LOCK = threading.Lock()


def _render(expression: exp.Expr) -> str:
    return expression.transform(_any_value_as_is).sql(dialect=DuckDBWarehouse.dialect)


def _any_value_as_is(node: exp.Expr) -> exp.Expr:
    """`ANY_VALUE(x IGNORE NULLS)` (what Spark needs, `queries._one`) as DuckDB's `ANY_VALUE(x)`,
    which skips NULLs by itself: sqlglot renders it so anyway, warning on stderr each time."""
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.parent, exp.AnyValue):
        value: exp.Expr = node.this
        return value
    return node


def _busy(error: duckdb.Error) -> bool:
    text = str(error).lower()
    return isinstance(error, duckdb.IOException) and any(word in text for word in _LOCKED)


_SUGGESTION = re.compile(r"\s*Did you mean .*", re.DOTALL)
"""DuckDB suggests similar catalog names, from any schema: never shown to whoever wrote the SQL."""


def _message(error: duckdb.Error) -> str:
    """The first paragraph of a DuckDB error, without suggestions of other tables' names."""
    return _SUGGESTION.sub("", str(error).split("\n\n")[0]).strip()


def _translate(error: duckdb.Error, doing: str) -> ExternalError | InvalidInput:
    """A DuckDB error as the tagport error a person can act on."""
    message = _message(error)
    if isinstance(error, duckdb.ParserException):
        return InvalidInput.one("sql", "", message)
    if _busy(error):
        return TransientError(f"{doing}: the warehouse is busy: {message}")
    if isinstance(error, duckdb.OutOfMemoryException):
        return TerminalError(
            f"{doing}: the warehouse ran out of its memory limit ({message}); raise "
            "TAGPORT_DUCKDB_MEMORY_LIMIT, or run fewer load streams (TAGPORT_LOAD_STREAMS) or "
            "fewer runs at once"
        )
    return TerminalError(f"{doing}: {message}")


def _not_the_sql(error: duckdb.Error) -> bool:
    """An error no SQL a person wrote is to blame for: the warehouse busy, the query
    interrupted, memory exhausted (by this query and whatever ran beside it)."""
    return _busy(error) or isinstance(
        error, duckdb.InterruptException | duckdb.OutOfMemoryException
    )


class DuckDBWarehouse(Warehouse):
    """The warehouse in a DuckDB file (`<TAGPORT_HOME>/warehouse.duckdb` by default)."""

    dialect = "duckdb"

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = 30.0,
        memory_limit: str | None = None,
        threads: int | None = None,
        unique_sources: bool = False,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        """`unique_sources`: trust every tag source to hold one row per key and partition,
        skipping the per-source GROUP BY that otherwise makes rows unique (see
        docs/warehouse.md); without it, only partitions recorded and still proven unique are
        trusted (`partition_stats`)."""
        self.path = path
        self.busy_timeout = busy_timeout
        self.memory_limit = memory_limit
        self.threads = threads
        self.trust_all = unique_sources
        self.chunk_rows = chunk_rows

    def project_database(self) -> Path:
        return self.path

    # --- connections ----------------------------------------------------------------------------

    @property
    def temp_directory(self) -> Path:
        """Where joins spill: the one directory the engine may open besides its own file."""
        return self.path.parent / "warehouse.tmp"

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"temp_directory": str(self.temp_directory)}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            config["threads"] = self.threads
        return config

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the file open (for writing) while a batch of calls runs in this process: every
        connection to it is then a cursor of this one (under a millisecond) instead of an
        opening of the file (~30 ms: its catalog read, a checkpoint at the last close). Other
        processes wait meanwhile, as they wait for any writer. Nested holds share the first."""
        key = self.path.resolve()
        with _HELD_LOCK:
            if key in _HELD:
                held = None
            else:
                held = _HELD[key] = self.connect(write=True)
        if held is None:
            yield
            return
        try:
            yield
        finally:
            with _HELD_LOCK:
                del _HELD[key]
            held.close()

    def connect(self, *, write: bool = False, share: bool = True) -> duckdb.DuckDBPyConnection:
        """A connection, waiting up to `busy_timeout` while another process holds the file;
        a cursor of the held connection while this process holds it, unless not `share`
        (a statement a person wrote runs on a read-only connection, never on a writable one)."""
        held = _HELD.get(self.path.resolve()) if _HELD and share else None
        if held is not None:
            return held.cursor()
        if not write and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            duckdb.connect(str(self.path)).close()
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=not write, config=self._config())
            except duckdb.Error as error:
                if not _busy(error):
                    raise _translate(error, f"opening the warehouse {self.path}") from None
                if time.monotonic() >= deadline:
                    raise TransientError(
                        f"the warehouse {self.path} is busy: another process is writing to it; "
                        f"waited {self.busy_timeout:g} s, try again when it has finished"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            try:
                self._confine(con)
            except BaseException:
                con.close()
                raise
            return con

    def _confine(self, con: duckdb.DuckDBPyConnection) -> None:
        """Defence in depth for SQL a person wrote: no file, URL or extension outside the
        warehouse's own file and spill directory, and settings nobody can change back.

        The settings belong to the database instance, which DuckDB shares among a process's
        connections to the file: the first connection locks them, later ones find them locked.
        Imports never need a path either: they hand DuckDB Arrow data.
        """
        locked = con.execute("SELECT current_setting('lock_configuration')").fetchall()
        if not locked[0][0]:
            spill = exp.Array(expressions=[exp.Literal.string(f"{self.temp_directory}/")])
            con.execute("SET allowed_directories = " + _render(spill))
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        external = con.execute("SELECT current_setting('enable_external_access')").fetchall()
        if external[0][0]:
            raise ConfigError(
                f"the warehouse {self.path} is open in this process without confinement; "
                "close that connection first"
            )

    @contextmanager
    def _session(
        self,
        doing: str,
        *,
        write: bool = False,
        share: bool = True,
        explain: Explain | None = None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection closed afterwards; DuckDB errors translated (by `explain` if given)."""
        con = self.connect(write=write, share=share)
        try:
            yield con
        except duckdb.Error as error:
            raise (explain or (lambda e: _translate(e, doing)))(error) from None
        finally:
            con.close()

    def _explainer(
        self, scope: AudienceScope, audience: AudienceGroupSpec, bizdate: date, doing: str
    ) -> Explain:
        """How an error computing `audience` is told: as a problem of the SQL a person wrote
        when there is some, naming the group and the first row whose value is not an ID."""

        def explain(error: duckdb.Error) -> TagportError:
            groups = [g for g in queries.audiences_run(scope, audience) if g.sql is not None]
            if not groups or _not_the_sql(error):
                return _translate(error, doing)
            id_type = scope.entity.id_type.value
            for group in groups:
                probe = queries.bad_id_query(scope, group, bizdate)
                try:
                    with self._session(doing) as con:
                        rows = con.execute(_render(probe)).fetchall() if probe else []
                except TagportError:
                    continue  # this SQL fails by itself: the error below says how
                if rows:
                    row = rows[0]
                    value = repr(row[1]) if len(repr(row[1])) <= 60 else repr(row[1])[:57] + "..."
                    message = f"row {row[0]} of its result: {value} is not a {id_type} entity ID"
                    return InvalidInput.one(f"audience group {group.code}", "sql", message)
            if audience.sql is None:
                return _translate(error, doing)
            return InvalidInput.one(f"audience group {audience.code}", "sql", _message(error))

        return explain

    # --- tables ---------------------------------------------------------------------------------

    def _exists(self, con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema, name],
        ).fetchall()  # all: a result left unfinished blocks the connection's next call
        return bool(found[0][0])

    def _columns(self, con: duckdb.DuckDBPyConnection, select: exp.Select) -> list[str]:
        described = con.sql("DESCRIBE " + _render(select)).fetchall()
        return [str(row[0]) for row in described]

    def import_table(
        self,
        table: str,
        file: Path,
        *,
        partition_value: str | None = None,
        partition_column: str = "ds",
        replace: bool = False,
        allow_empty: bool = False,
    ) -> int:
        project, _, name = table.partition(".")
        target = queries.table_of(table)
        with self._session(f"importing {file} into {table}", write=True) as con:
            exists = self._exists(con, project, name)
            if exists and partition_value is None and not replace:
                raise Conflict(
                    f"table {table} exists; import with --ds D to write one partition, "
                    "or --replace to replace the whole table"
                )
            into = exists and partition_value is not None
            expected = self._schema(con, target) if into else None
            skip = partition_column if partition_value is not None else None
            data = files.read_table_file(file, expected, skip=skip, allow_empty=allow_empty)
            if partition_value is not None:
                value = pa.array([partition_value] * data.num_rows, pa.string())
                data = data.append_column(partition_column, value)
            con.register("tagport_import", data)
            source = exp.select(exp.Star()).from_(exp.to_identifier("tagport_import"))
            con.execute("BEGIN TRANSACTION")
            _ensure_schema(con, project)
            if into:
                old = exp.EQ(
                    this=exp.column(partition_column, quoted=True),
                    expression=exp.Literal.string(partition_value),
                )
                con.execute(_render(exp.delete(target, where=old))).fetchall()
                write: exp.Expr = exp.Insert(this=target, expression=source, by_name=True)
            else:
                write = exp.Create(this=target, kind="TABLE", expression=source, replace=True)
            con.execute(_render(write)).fetchall()
            con.execute("COMMIT")
            con.unregister("tagport_import")
        return int(data.num_rows)

    def _schema(self, con: duckdb.DuckDBPyConnection, table: exp.Table) -> pa.Schema:
        """An existing table's columns as an Arrow schema."""
        empty = exp.select(exp.Star()).from_(table).limit(0)
        return con.sql(_render(empty)).to_arrow_table().schema

    def write_batches(self, table: str, batches: pa.RecordBatchReader, *, replace: bool) -> int:
        with self._session(f"writing {table}", write=True) as con:
            con.execute("BEGIN TRANSACTION")
            written = self._write(con, table, batches, replace=replace)
            con.execute("COMMIT")
        return written

    def _write(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        batches: pa.RecordBatchReader,
        *,
        replace: bool,
    ) -> int:
        """Batches into `table` inside the caller's transaction."""
        project, _, name = table.partition(".")
        target = queries.table_of(table)
        schema = exp.Create(
            this=exp.to_identifier(project, quoted=True), kind="SCHEMA", exists=True
        )
        con.execute(_render(schema))
        written = 0
        first = True
        for batch in _nonempty(batches):
            con.register("tagport_batch", batch)
            scan = exp.select(exp.Star()).from_(exp.to_identifier("tagport_batch"))
            if first and (replace or not self._exists(con, project, name)):
                create = exp.Create(this=target, kind="TABLE", expression=scan, replace=True)
                con.execute(_render(create))
            elif batch.num_rows:
                con.execute(_render(exp.Insert(this=target, expression=scan, by_name=True)))
            con.unregister("tagport_batch")
            first = False
            written += batch.num_rows
        return written

    def tables(self, project: str | None = None) -> list[TableInfo]:
        found = []
        with self._session("listing tables") as con:
            rows = con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND (? IS NULL OR table_schema = ?) "
                "AND table_schema NOT IN "
                "('main', 'information_schema', 'pg_catalog', 'tagport_meta') "
                "ORDER BY 1, 2",
                [project, project],
            ).fetchall()
            for schema, name in rows:
                table = queries.table_of(f"{schema}.{name}")
                columns = self._columns(con, exp.select(exp.Star()).from_(table))
                # fetchall, never fetchone: a result left unfinished blocks the next statement
                # on a cursor of a held connection.
                counted = con.execute(_render(exp.select("count(*)").from_(table))).fetchall()
                partitions: list[str] = []
                if "ds" in columns:
                    partitions = [
                        str(r[0])
                        for r in con.execute(
                            _render(
                                exp.select(exp.column("ds", quoted=True))
                                .distinct()
                                .from_(table)
                                .order_by(exp.column("ds", quoted=True))
                            )
                        ).fetchall()
                    ]
                found.append(TableInfo(schema, name, int(counted[0][0]), columns, partitions))
        return found

    def query(self, sql: str, limit: int = 1000) -> QueryResult:
        with self._session("running the query", share=False) as con:
            statements = con.extract_statements(sql)
            if len(statements) != 1:
                raise InvalidInput.one("sql", "", f"give one statement, not {len(statements)}")
            reader = con.sql(sql).to_arrow_reader(min(limit + 1, 100_000))
            batches, rows = [], 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > limit:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        return QueryResult(table.slice(0, limit), rows > limit)

    def readiness(self, needed: Sequence[PartitionRef], bizdate: date) -> Readiness:
        missing = []
        with self._session("checking source partitions") as con:
            for ref in needed:
                project, _, name = ref.table.partition(".")
                if not self._exists(con, project, name):
                    missing.append(ref)
                    continue
                if ref.column is None or ref.value is None:
                    continue
                probe = queries.partition_probe(ref.table, ref.column, ref.value)
                if not con.execute(_render(probe)).fetchall():
                    missing.append(ref)
        return Readiness(bizdate, list(needed), missing)

    # --- audiences ------------------------------------------------------------------------------

    def store_audience(self, code: str, ids: pa.Array, fingerprint: str = "") -> int:
        table = pa.table({queries.AUDIENCE_ID_COLUMN: ids})
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        qualified = f"{queries.AUDIENCE_SCHEMA}.{code}"
        with self._session(f"storing the IDs of audience group {code}", write=True) as con:
            con.execute("BEGIN TRANSACTION")
            written = self._write(con, qualified, reader, replace=True)
            comment = exp.Comment(
                this=queries.audience_table(code),
                kind="TABLE",
                expression=exp.Literal.string(fingerprint),
            )
            con.execute(_render(comment))
            con.execute("COMMIT")
        return written

    def audience_fingerprint(self, code: str) -> str | None:
        with self._session("looking up stored audience IDs") as con:
            rows = con.execute(
                "SELECT comment FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [queries.AUDIENCE_SCHEMA, code],
            ).fetchall()
        return str(rows[0][0] or "") if rows else None

    def record_partitions(
        self, table: str, key: str, partition: str | None, value: str | None = None
    ) -> int:
        with self._session(f"recording what {table} holds", write=True) as con:
            con.execute("BEGIN TRANSACTION")
            recorded = partition_stats.record(con, table, key, partition, value)
            con.execute("COMMIT")
        return recorded

    def _unique(
        self, con: duckdb.DuckDBPyConnection, build: Callable[[queries.Unique], exp.Expr]
    ) -> queries.Unique:
        """Which scans of the query `build` makes are proven unique: the query is built once
        to learn its scans, each scan checked against what was recorded."""
        if self.trust_all:
            return queries.everything_unique
        scans: set[queries.Scan] = set()

        def ask(scan: queries.Scan) -> bool:
            scans.add(scan)
            return False

        build(ask)
        proven = {scan for scan in scans if partition_stats.proven_unique(con, scan)}
        return proven.__contains__

    def estimate(self, scope: AudienceScope, audience: AudienceGroupSpec, bizdate: date) -> int:
        doing = f"estimating audience group {audience.code}"
        explain = self._explainer(scope, audience, bizdate, doing)
        with self._session(doing, explain=explain) as con:

            def build(unique: queries.Unique) -> exp.Expr:
                return queries.count_query(scope, audience, bizdate, unique=unique)

            unique = self._unique(con, build)
            try:
                rows = con.execute(_render(build(unique))).fetchall()
            except duckdb.OutOfMemoryException:
                # One query over every member did not fit the memory limit (30M members on
                # sources it must de-duplicate, at 160MB): count by ID range, as an export does.
                return self._count_in_ranges(con, scope, audience, bizdate, unique)
        return int(rows[0][0]) if rows else 0

    def _count_in_ranges(
        self,
        con: duckdb.DuckDBPyConnection,
        scope: AudienceScope,
        audience: AudienceGroupSpec,
        bizdate: date,
        unique: queries.Unique,
    ) -> int:
        """The audience's size, summed over ID ranges of its members: the ranges an export of
        its IDs is cut into, a quarter the size again while those do not fit the limit."""
        ids = ExportColumn(scope.entity.id_field, scope.entity.id_field)
        rows, sample = self._sample(
            con, ExportPlan(audience, scope, bizdate, [], [ids], [ids.name])
        )

        def render(within: KeyRange | None) -> str:
            return _render(
                queries.count_query(scope, audience, bizdate, unique=unique, within=within)
            )

        members = range_members(self.chunk_rows, self.memory_limit, 1, QUERIES_AT_ONCE)
        while True:
            ranges = queries.id_ranges(rows, sample, members, MOST_RANGES)
            try:
                return sum(
                    int(con.execute(sql, parameters or None).fetchall()[0][0])
                    for sql, parameters in _steps(ranges, render)
                )
            except duckdb.OutOfMemoryException:
                if len(ranges) >= MOST_RANGES or members < 4:
                    raise
                members //= 4

    def members(
        self,
        scope: AudienceScope,
        audience: AudienceGroupSpec,
        bizdate: date,
        offset: int,
        limit: int,
    ) -> list[str | int]:
        doing = f"listing members of audience group {audience.code}"
        explain = self._explainer(scope, audience, bizdate, doing)
        with self._session(doing, explain=explain) as con:

            def build(unique: queries.Unique) -> exp.Expr:
                return queries.page_query(scope, audience, bizdate, offset, limit, unique=unique)

            sql = _render(build(self._unique(con, build)))
            return [row[0] for row in con.execute(sql).fetchall()]

    # --- export ---------------------------------------------------------------------------------

    def export_sql(
        self,
        plan: ExportPlan,
        within: KeyRange | None = None,
        unique: queries.Unique | None = None,
    ) -> str:
        """The export's SQL; with `within`, for the parameters `queries.range_parameters`;
        `unique`: the scans proven unique (checked here when not given)."""
        if unique is None:
            with self._session(f"exporting audience group {plan.audience.code}") as con:
                unique = self.export_unique(con, plan)
        return _render(queries.export_query(plan, unique=unique, within=within))

    def export_unique(self, con: duckdb.DuckDBPyConnection, plan: ExportPlan) -> queries.Unique:
        """The export's scans proven unique (see `partition_stats`)."""
        return self._unique(con, lambda unique: queries.export_query(plan, unique=unique))

    def export_reader(self, plan: ExportPlan, batch_size: int = 100_000) -> pa.RecordBatchReader:
        return self.export_readers(plan, 1, batch_size)[0]

    def export_readers(
        self, plan: ExportPlan, count: int, batch_size: int = 100_000
    ) -> list[pa.RecordBatchReader]:
        """The export in ID ranges of at most `chunk_rows` members, fewer where the memory limit
        asks (`range_members`), one query each, shared out in order among at most `count`
        streams, each run ahead of its reader by a thread.

        Each range's joins and sort fit in memory, where one query over everything spills
        (twice the time at the 160MB limit on 5M members), and the first rows leave after one
        range's work instead of the whole export's. A stream's ranges come in ID order, so a
        plan that asks for sorted rows gets each stream sorted. Connections stay open
        throughout: a read-only DuckDB file admits no writer meanwhile, so every range reads the
        same data.
        """
        schema = export_schema(plan)
        doing = f"exporting audience group {plan.audience.code}"
        explain = self._explainer(plan.scope, plan.audience, plan.bizdate, doing)
        cons = [self.connect()]
        try:
            ranges = self._ranges(cons[0], plan, count)
            unique = self.export_unique(cons[0], plan)
            steps = _steps(ranges, lambda within: self.export_sql(plan, within, unique))
            lanes = max(1, min(count, len(steps)))
            cuts = [len(steps) * i // lanes for i in range(lanes + 1)]
            cons += [self.connect() for _ in range(lanes - 1)]
        except BaseException as error:
            for con in cons:
                con.close()
            if isinstance(error, duckdb.Error):
                raise explain(error) from None
            raise
        ahead = AHEAD if lanes == 1 else AHEAD_SHARED
        return [
            pa.RecordBatchReader.from_batches(
                schema, _run_ahead(con, steps[start:end], batch_size, schema, ahead, explain)
            )
            for con, (start, end) in zip(cons, pairwise(cuts), strict=True)
        ]

    def _ranges(
        self, con: duckdb.DuckDBPyConnection, plan: ExportPlan, streams: int = 1
    ) -> Sequence[KeyRange | None]:
        """ID ranges splitting the export into chunks that fit the memory limit side by side
        (`range_members`), as many as `streams` of them at once."""
        if plan.id_column() is None:
            return [None]
        rows, ids = self._sample(con, plan)
        at_once = max(QUERIES_AT_ONCE, streams)
        members = range_members(
            self.chunk_rows, self.memory_limit, len(plan.output_columns()), at_once
        )
        return queries.id_ranges(rows, ids, members, MOST_RANGES)

    def _sample(
        self, con: duckdb.DuckDBPyConnection, plan: ExportPlan
    ) -> tuple[int, Sequence[str | int] | None]:
        """The row count of the largest source `plan` reads and a sample of their IDs
        (`queries.key_sample_query`), which the ranges are cut from."""
        sample = queries.key_sample_query(plan, queries.SAMPLE_SIZE)
        rows, ids = con.execute(_render(sample)).fetchall()[0]
        return int(rows), ids


Steps = list[tuple[str, dict[str, str | int]]]
"""Queries to run in order, each with the parameters it binds."""


def _steps(ranges: Sequence[KeyRange | None], render: Callable[[KeyRange | None], str]) -> Steps:
    """A query per range (`render`'s, for the range's parameters; None: everything at once),
    rendered once per shape of range, open or closed at each end: rendering is the slow part."""
    shapes: dict[tuple[bool, bool] | None, str] = {}
    steps: Steps = []
    for within in ranges:
        shape = None if within is None else (within[0] is not None, within[1] is not None)
        if shape not in shapes:
            shapes[shape] = render(within)
        steps.append((shapes[shape], {} if within is None else queries.range_parameters(within)))
    return steps


def range_members(most: int, memory_limit: str | None, columns: int, at_once: int) -> int:
    """Members per export range query: `most`, or fewer where `at_once` queries of `columns`
    output columns would not fit `memory_limit` side by side (`BYTES_PER_VALUE` a value)."""
    if memory_limit is None:
        return most
    fits = size_bytes(memory_limit) // (at_once * max(1, columns) * BYTES_PER_VALUE)
    return max(1, min(most, fits))


_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([KMGT])(i?)B")


def size_bytes(size: str) -> int:
    """Bytes of a memory size as the settings spell it, with DuckDB's units (`160MB`: 160 * 1000²
    bytes; `1.5GiB`: 1.5 * 1024³)."""
    match = _SIZE.fullmatch(size.strip())
    if match is None:
        raise ConfigError(f"{size!r} is not a memory size such as 160MB or 1.5GiB")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** ("KMGT".index(unit) + 1))


class _RunAhead(Iterator[pa.RecordBatch]):
    """Batches of several queries (SQL and parameters), in order, computed by a thread up to
    `ahead` batches ahead.

    While the target ingests one batch DuckDB computes the next ones (and the next range's
    sort) on the other core. `close` interrupts DuckDB, stops the thread and closes the
    connection.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        steps: Steps,
        batch_size: int,
        schema: pa.Schema,
        ahead: int,
        explain: Explain,
    ) -> None:
        self.con, self.steps, self.batch_size, self.schema = con, steps, batch_size, schema
        self.explain = explain
        self.queue: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(ahead)
        self.stop = threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._produce, name="tagport-export", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        try:
            for sql, parameters in self.steps:
                result = self.con.sql(sql, params=parameters or None)
                for batch in result.to_arrow_reader(self.batch_size):
                    if not self._put(batch):
                        return
            self._put(None)
        except BaseException as error:  # handed to the reader, raised there
            self._put(error)

    def _put(self, item: pa.RecordBatch | BaseException | None) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> pa.RecordBatch:
        if self.closed:
            raise StopIteration
        item = self.queue.get()
        if item is None:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            if isinstance(item, duckdb.Error):
                raise self.explain(item) from None
            raise item
        return item if item.schema.equals(self.schema) else item.cast(self.schema)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.stop.set()
        if self.thread.is_alive():
            self.con.interrupt()
        self.thread.join()
        self.con.close()


def _run_ahead(
    con: duckdb.DuckDBPyConnection,
    steps: Steps,
    batch_size: int,
    schema: pa.Schema,
    ahead: int,
    explain: Explain,
) -> Iterator[pa.RecordBatch]:
    """The batches of `steps`, computed ahead from the first read on (a reader never read
    starts no thread), closed when exhausted or dropped: Arrow's `close` keeps the iterator, and
    the thread holds the `_RunAhead` itself, so this generator's end is the event to rely on."""
    batches = _RunAhead(con, steps, batch_size, schema, ahead, explain)
    _running.add(batches)
    try:
        yield from batches
    finally:
        batches.close()
        _running.discard(batches)


_running: weakref.WeakSet[_RunAhead] = weakref.WeakSet()


@atexit.register
def _stop_running() -> None:
    """Interrupt exports still running at exit: a thread left inside DuckDB aborts the process."""
    for batches in list(_running):
        batches.close()


def _ensure_schema(con: duckdb.DuckDBPyConnection, project: str) -> None:
    schema = exp.Create(this=exp.to_identifier(project, quoted=True), kind="SCHEMA", exists=True)
    con.execute(_render(schema))


def _nonempty(batches: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The batches, or one empty batch of the schema so an empty input still makes a table."""
    empty = True
    for batch in batches:
        empty = False
        yield batch
    if empty:
        yield pa.RecordBatch.from_pylist([], schema=batches.schema)
