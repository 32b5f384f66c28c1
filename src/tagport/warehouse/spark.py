"""The Spark warehouse: tables as Parquet under `<home>/warehouse.spark` (`parquet_tables`),
audiences and exports computed by a Spark session from the same sqlglot queries as DuckDB's,
rendered for Spark. The only module that imports pyspark, and only once a query needs it: the
CLI starts without it, and the `tagport[spark]` extra is optional.

One session per process (`spark_session`), started on first use — a JVM, seconds — and reused
by every warehouse and thread; each operation gets a light `newSession()` of its own, in which
every `PROJECT.TABLE` a query reads becomes a temporary view over that table's current Parquet
version. No query reaches a table or file any other way. Loading, listing and readiness need no
Spark at all: tagport writes the Parquet itself and reads row counts from the footers.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from tagport.domain.catalog import AudienceGroupSpec
from tagport.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    TagportError,
    TerminalError,
    TransientError,
)
from tagport.warehouse import confine, files, queries
from tagport.warehouse.base import (
    AudienceScope,
    ExportPlan,
    KeyRange,
    PartitionRef,
    QueryResult,
    Readiness,
    TableInfo,
    Warehouse,
    export_schema,
)
from tagport.warehouse.parquet_tables import ParquetTables, data_files, escape

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tagport.targets.base import SlicedExport, SliceSink

Explain = Callable[[BaseException, dict[str, str]], TagportError]
"""Turns a Spark error met doing something (and the views the query read, by table) into the
tagport error a person reads."""
EXPORTS = ".exports"
"""Under the warehouse root: each export's result, written by Spark and read back in batches."""
EXPORT_LEFTOVER_SECONDS = 24 * 3600
"""An export's files older than this were left by a process that died reading them."""
STREAM_ROWS = 250_000
"""An export is cut into streams of about this many members at least (as DuckDB's chunks): a
smaller one is not worth a connection to the target of its own."""
TASK_BATCH_ROWS = 50_000
"""Rows per Arrow batch a Spark task hands its Python worker (Spark's default, 10,000, costs a
bulk load four times the batches)."""
PARTITION_COLUMN = "ds"
"""A text column of this name partitions a table written whole (`write_batches`, an import
without a partition value), as the partition column of tag sources does by default."""


@dataclass(frozen=True)
class SparkConfig:
    """How the process's Spark session is started (the first warehouse to start it decides)."""

    master: str = "local[2,2]"
    """Local mode, two cores, each task tried twice (Spark's `local[N]` tries a task once: a task
    killed while it loads a target would fail the run)."""
    driver_memory: str = "1g"
    shuffle_partitions: int = 4
    local_dir: Path | None = None
    """Spark's scratch space and the JVM's temporary files; a temporary directory if None."""


# --- the session --------------------------------------------------------------------------------

_LOG4J = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
appender.stderr.filter.threshold.type = ThresholdFilter
appender.stderr.filter.threshold.level = error
logger.tasks.name = org.apache.spark.executor.Executor
logger.tasks.level = off
logger.jobs.name = org.apache.spark.scheduler.TaskSetManager
logger.jobs.level = off
"""
"""Spark's own logging: errors only (its warnings about the host name and native libraries say
nothing a tagport user can act on; errors reach tagport as exceptions anyway). A failed task
(retried, or failing the job, which tagport reports) is not logged at all. The level stays
at PySpark's default, WARN, filtered at the appender: at any other level PySpark announces on
stderr that it sets the default."""


class _Session:
    """The process's one SparkSession, created under a lock on first use."""

    lock = threading.Lock()
    current: SparkSession | None = None


def spark_session(config: SparkConfig) -> SparkSession:
    """The process's Spark session, started on first use and reused afterwards."""
    with _Session.lock:
        if _Session.current is None:
            _Session.current = _start(config)
        return _Session.current


def _forget_session() -> None:
    """Drop a session whose JVM is gone, so that the next operation starts a new one.

    PySpark keeps the dead session, context and gateway in class attributes and would hand
    them out again; stopping them cannot reach the JVM, so they are cleared by hand."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    with _Session.lock:
        session, _Session.current = _Session.current, None
        if session is None:
            return
        with suppress(Exception):  # the JVM is gone: stopping it can only half succeed
            session.stop()
        SparkContext._gateway = None
        SparkContext._jvm = None
        SparkContext._active_spark_context = None
        SparkSession._instantiatedSession = None
        SparkSession._activeSession = None


def _conf(config: SparkConfig, local: Path) -> dict[str, str]:
    """The session's settings: small and local, UTC, ANSI casts, partition values as text."""
    log4j = local / "log4j2.properties"
    log4j.write_text(_LOG4J, encoding="utf-8")
    java = f"-Dlog4j2.configurationFile=file:{log4j} -Djava.io.tmpdir={local}"
    conf = {
        "spark.app.name": "tagport",
        "spark.driver.memory": config.driver_memory,
        "spark.driver.extraJavaOptions": java,
        "spark.local.dir": str(local),
        "spark.sql.warehouse.dir": str(local / "catalog"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(TASK_BATCH_ROWS),
    }
    if config.master.startswith("local"):
        conf |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    return conf


def _start(config: SparkConfig) -> SparkSession:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("TAGPORT_WAREHOUSE=spark needs pyspark: install tagport[spark]") from None
    from pyspark.errors import PySparkException

    # Tasks that load a target themselves (`_Slices`) run tagport in Spark's Python workers:
    # this interpreter, with tagport and the drivers installed, unless PYSPARK_PYTHON says
    # otherwise (PySpark reads only that: `spark.pyspark.python` is spark-submit's).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    local = config.local_dir or Path(_temporary_directory())
    local.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.master(config.master)
    for key, value in _conf(config, local).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except (PySparkException, OSError) as error:
        raise ConfigError(
            f"cannot start Spark ({config.master}): {_first_line(str(error))}; "
            "Spark needs Java 17 (java on the PATH or JAVA_HOME)"
        ) from None
    _quiet_query_loggers()
    return session


def _temporary_directory() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="tagport-spark-")


def _quiet_query_loggers() -> None:
    """PySpark logs every failed query with its Java stack to stderr; tagport reports the error
    itself, once, in its own words."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


# --- errors -------------------------------------------------------------------------------------

_SUGGESTION = re.compile(r"\s*(Did you mean|Verify the spelling).*", re.DOTALL)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def _message(error: BaseException, views: dict[str, str]) -> str:
    """The first line of a Spark error, naming tables as the SQL did rather than their views,
    without suggestions."""
    text = _first_line(str(error))
    for qualified, view in views.items():
        text = text.replace(f"`{view}`", qualified).replace(view, qualified)
    return _SUGGESTION.sub("", text).strip()


def _spark_errors() -> tuple[type[BaseException], ...]:
    """What Spark raises: its own exceptions, py4j's, and a refused or broken connection to
    the JVM (py4j lets those through when the JVM has died)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JError, ConnectionError)


_RAISED_IN_TASK = re.compile(r"^(?!org\.|java\.|scala\.)([\w.]+): (.+)$", re.MULTILINE)
"""The last line of a Python traceback: the exception's class and its message (not a line of a
JVM stack)."""


def _task_error(error: BaseException, doing: str) -> TagportError | None:
    """An error raised in a task's Python code (loading a target: `_Slices`) as the error it
    was there, told by its message rather than Spark's traceback; None for any other error."""
    from pyspark.errors import PythonException

    text = str(error)
    if not isinstance(error, PythonException) and "PythonException" not in text:
        return None
    raised = _RAISED_IN_TASK.findall(text)
    if not raised:
        return None
    kind, message = raised[-1]
    if kind == f"tagport.errors.{TransientError.__name__}":
        return TransientError(f"{doing}: {message.strip()}")
    if not kind.startswith("tagport.errors."):  # not one of tagport's: say which it was
        message = f"{kind.rsplit('.', 1)[-1]}: {message}"
    return TerminalError(f"{doing}: {message.strip()}")


def _translate(error: BaseException, doing: str, views: dict[str, str]) -> TagportError:
    """A Spark error as the tagport error a person can act on."""
    from py4j.protocol import Py4JError, Py4JJavaError
    from pyspark.errors import ParseException

    in_task = _task_error(error, doing)
    if in_task is not None:
        return in_task
    message = _message(error, views)
    if isinstance(error, ParseException):
        return InvalidInput.one("sql", "", message)
    lost = isinstance(error, ConnectionError) or (
        isinstance(error, Py4JError) and not isinstance(error, Py4JJavaError)
    )
    if lost:
        _forget_session()
        return TransientError(f"{doing}: the Spark session was lost: {message}")
    if "FILE_NOT_EXIST" in message or "FileNotFoundException" in message:
        return TransientError(f"{doing}: a table was replaced while it was read: {message}")
    return TerminalError(f"{doing}: {message}")


# --- reading tables in Spark --------------------------------------------------------------------

_SPARK_TYPES: list[tuple[Callable[[pa.DataType], bool], str]] = [
    (pa.types.is_int8, "TINYINT"),
    (pa.types.is_int16, "SMALLINT"),
    (pa.types.is_int32, "INT"),
    (pa.types.is_int64, "BIGINT"),
    (pa.types.is_float32, "FLOAT"),
    (pa.types.is_float64, "DOUBLE"),
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_string, "STRING"),
    (pa.types.is_binary, "BINARY"),
    (pa.types.is_date32, "DATE"),
]


def spark_ddl(schema: pa.Schema) -> str:
    """A stored table's schema as Spark DDL, each column typed as Spark reads its Parquet."""
    columns = []
    for field in schema:
        kind = field.type
        if pa.types.is_timestamp(kind):
            spark = "TIMESTAMP" if kind.tz else "TIMESTAMP_NTZ"
        elif pa.types.is_decimal(kind):
            spark = f"DECIMAL({kind.precision},{kind.scale})"
        else:
            spark = next(name for check, name in _SPARK_TYPES if check(kind))
        columns.append(f"`{field.name.replace('`', '``')}` {spark}")
    return ", ".join(columns)


class _Reads:
    """One operation's Spark session and the views it made of warehouse tables."""

    def __init__(self, session: SparkSession, tables: ParquetTables) -> None:
        self.session = session
        self.tables = tables
        self.views: dict[str, str] = {}
        """`PROJECT.TABLE` -> the view reading it."""

    def frame(self, query: exp.Expr, args: dict[str, str | int] | None = None) -> DataFrame:
        """`query` in Spark, every `PROJECT.TABLE` read through a view of its Parquet; `args`
        bound to its named parameters."""
        tree = query.copy()
        for table in list(tree.find_all(exp.Table)):
            if table.db and not table.catalog and isinstance(table.this, exp.Identifier):
                self._read_through_view(table)
        return self.session.sql(tree.sql(dialect=SparkWarehouse.dialect), args=args or None)

    def _read_through_view(self, table: exp.Table) -> None:
        qualified = f"{table.db}.{table.name}"
        if qualified not in self.views:
            self.views[qualified] = f"tagport_t{len(self.views)}_{uuid.uuid4().hex[:8]}"
            self._register(qualified, self.views[qualified])
        if not table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name, quoted=True)))
        table.set("this", exp.to_identifier(self.views[qualified], quoted=True))
        table.set("db", None)

    def _register(self, qualified: str, view: str) -> None:
        """A view of the table's current version; none for a missing table (Spark then says
        it is not found, and the message names the table)."""
        version = self.tables.version(qualified)
        meta = self.tables.meta(qualified, version)
        if version is None or meta is None:
            return
        reader = self.session.read.schema(spark_ddl(meta.schema)).option("basePath", str(version))
        reader.parquet(str(version)).createOrReplaceTempView(view)

    def close(self) -> None:
        for view in self.views.values():
            self.session.catalog.dropTempView(view)


# --- the warehouse ------------------------------------------------------------------------------


class SparkWarehouse(Warehouse):
    """The warehouse as Parquet tables under `root`, computed by Spark."""

    dialect = "spark"

    def __init__(
        self,
        root: Path,
        config: SparkConfig | None = None,
        *,
        unique_sources: bool = False,
        chunk_rows: int = STREAM_ROWS,
    ) -> None:
        """`unique_sources`: trust every tag source to hold one row per key and partition and
        skip the per-source GROUP BY (as `DuckDBWarehouse(unique_sources=True)`);
        `chunk_rows`: the fewest members an export stream is cut for."""
        self.root = root
        self.chunk_rows = chunk_rows
        self.config = config or SparkConfig()
        self.tables_store = ParquetTables(root)
        self.unique: queries.Unique = (
            queries.everything_unique if unique_sources else queries.nothing_unique
        )

    @contextmanager
    def _reads(self, doing: str, explain: Explain | None = None) -> Iterator[_Reads]:
        """A Spark session for one operation; Spark's errors translated (by `explain` if given)."""
        errors = _spark_errors()
        try:
            reads = _Reads(spark_session(self.config).newSession(), self.tables_store)
        except errors as error:
            raise _translate(error, doing, {}) from None
        try:
            yield reads
        except errors as error:
            if explain is not None:
                raise explain(error, reads.views) from None
            raise _translate(error, doing, reads.views) from None
        finally:
            with suppress(*errors):  # a lost session: its views are gone with it
                reads.close()

    def _explainer(self, scope: AudienceScope, audience: AudienceGroupSpec, doing: str) -> Explain:
        """An error computing an audience that runs SQL a person wrote is told as a problem of
        that SQL, naming the group; any other as what it is."""

        def explain(error: BaseException, views: dict[str, str]) -> TagportError:
            translated = _translate(error, doing, views)
            groups = [g for g in queries.audiences_run(scope, audience) if g.sql is not None]
            if isinstance(translated, TransientError) or not groups:
                return translated
            if _task_error(error, doing) is not None:  # a target's error, not the SQL's
                return translated
            group = audience if audience.sql is not None else groups[0]
            message = _message(error, views)
            return InvalidInput.one(f"audience group {group.code}", "sql", message)

        return explain

    def _check_sql(self, scope: AudienceScope, audience: AudienceGroupSpec) -> None:
        """The allow-list for every SQL the audience runs, here too: Spark has no switch that
        keeps SQL from reading files, so the tables a query may read are only those the
        views give it, and its functions only those the allow-list names."""
        for group in queries.audiences_run(scope, audience):
            if group.sql is None:
                continue
            problems = confine.audience_sql_problems(group.sql, None)
            if problems:
                raise InvalidInput.one(f"audience group {group.code}", "sql", problems[0])

    # --- tables ---------------------------------------------------------------------------------

    def import_table(
        self,
        table: str,
        file: Path,
        *,
        partition_value: str | None = None,
        partition_column: str = PARTITION_COLUMN,
        replace: bool = False,
        allow_empty: bool = False,
    ) -> int:
        meta = self.tables_store.meta(table)
        if meta is not None and partition_value is None and not replace:
            raise Conflict(
                f"table {table} exists; import with --ds D to write one partition, "
                "or --replace to replace the whole table"
            )
        into = meta is not None and partition_value is not None
        if into and meta is not None and meta.partition != partition_column:
            how = f"by {meta.partition}" if meta.partition else "not"
            raise Conflict(
                f"table {table} is partitioned {how}, not by {partition_column}; "
                "import with --replace to replace the whole table"
            )
        expected = meta.schema if into and meta is not None else None
        skip = partition_column if partition_value is not None else None
        data = files.read_table_file(file, expected, skip=skip, allow_empty=allow_empty)
        if into and partition_value is not None and meta is not None:
            return self.tables_store.write_partition(
                table, partition_column, partition_value, data, meta
            )
        if partition_value is not None:
            value = pa.array([partition_value] * data.num_rows, pa.string())
            data = data.append_column(partition_column, value)
        reader = pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
        partition = _partition_of(data.schema, partition_column)
        return self.tables_store.write(table, reader, partition=partition)

    def write_batches(self, table: str, batches: pa.RecordBatchReader, *, replace: bool) -> int:
        exists = self.tables_store.version(table) is not None
        return self.tables_store.write(
            table,
            batches,
            partition=_partition_of(batches.schema, PARTITION_COLUMN),
            append=exists and not replace,
        )

    def tables(self, project: str | None = None) -> list[TableInfo]:
        found = []
        for qualified in self.tables_store.names(project):
            version = self.tables_store.version(qualified)
            meta = self.tables_store.meta(qualified, version)
            if version is None or meta is None:
                continue  # replaced or dropped while listed
            partitions: list[str] = []
            if meta.partition == PARTITION_COLUMN:
                values = self.tables_store.partitions(version, meta.partition)
                partitions = sorted(v for v in values if v is not None)
            schema, name = qualified.split(".", 1)
            rows = self.tables_store.table_rows(version, meta)
            found.append(TableInfo(schema, name, rows, meta.schema.names, partitions))
        return found

    def query(self, sql: str, limit: int = 1000) -> QueryResult:
        """One SELECT through the allow-list (the same as SQL audiences'), every table read
        through a view of the warehouse's Parquet; at most `limit` rows reach the driver."""
        tree = confine.checked_query(sql, None)
        with self._reads("running the query") as reads:
            table = reads.frame(tree).limit(limit + 1).toArrow()
        return QueryResult(table.slice(0, limit), table.num_rows > limit)

    def readiness(self, needed: Sequence[PartitionRef], bizdate: date) -> Readiness:
        missing = [ref for ref in needed if not self._present(ref)]
        return Readiness(bizdate, list(needed), missing)

    def _present(self, ref: PartitionRef) -> bool:
        """Whether the table exists and, for a partition, holds a row in it."""
        version = self.tables_store.version(ref.table)
        meta = self.tables_store.meta(ref.table, version)
        if version is None or meta is None:
            return False
        if ref.column is None or ref.value is None:
            return True
        if meta.partition == ref.column:
            folder = version / f"{ref.column}={escape(ref.value)}"
            return folder.is_dir() and self.tables_store.rows(folder) > 0
        probe = queries.partition_probe(ref.table, ref.column, ref.value)
        with self._reads("checking source partitions") as reads:
            return bool(reads.frame(probe).collect())

    # --- audiences ------------------------------------------------------------------------------

    def store_audience(self, code: str, ids: pa.Array, fingerprint: str = "") -> int:
        table = pa.table({queries.AUDIENCE_ID_COLUMN: ids})
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        qualified = f"{queries.AUDIENCE_SCHEMA}.{code}"
        return self.tables_store.write(qualified, reader, partition=None, comment=fingerprint)

    def audience_fingerprint(self, code: str) -> str | None:
        meta = self.tables_store.meta(f"{queries.AUDIENCE_SCHEMA}.{code}")
        return None if meta is None else meta.comment

    def estimate(self, scope: AudienceScope, audience: AudienceGroupSpec, bizdate: date) -> int:
        self._check_sql(scope, audience)
        query = queries.count_query(scope, audience, bizdate, unique=self.unique)
        doing = f"estimating audience group {audience.code}"
        with self._reads(doing, self._explainer(scope, audience, doing)) as reads:
            rows = reads.frame(query).collect()
        return int(rows[0][0]) if rows else 0

    def members(
        self,
        scope: AudienceScope,
        audience: AudienceGroupSpec,
        bizdate: date,
        offset: int,
        limit: int,
    ) -> list[str | int]:
        self._check_sql(scope, audience)
        query = queries.page_query(scope, audience, bizdate, offset, limit, unique=self.unique)
        doing = f"listing members of audience group {audience.code}"
        with self._reads(doing, self._explainer(scope, audience, doing)) as reads:
            return [row[0] for row in reads.frame(query).collect()]

    # --- export ---------------------------------------------------------------------------------

    def export_reader(self, plan: ExportPlan, batch_size: int = 100_000) -> pa.RecordBatchReader:
        """The export as one stream (see `export_readers`)."""
        return self.export_readers(plan, 1, batch_size)[0]

    def export_readers(
        self, plan: ExportPlan, count: int, batch_size: int = 100_000
    ) -> list[pa.RecordBatchReader]:
        """The export, computed by Spark into Parquet files under the warehouse's `.exports` and
        read back in batches, so the driver holds one batch a stream at a time, whatever the
        audience's size. The files go when the readers are exhausted or dropped.

        With `count` > 1 the export is cut into at most `count` ID ranges placed as DuckDB
        places its chunks (`queries.id_ranges`, from a sample of the IDs) and written in one
        job, a folder per range (`laned_export_query`): each stream reads one folder, a
        contiguous block of IDs, in ID order; a sorted export stays sorted (its files come in
        order).
        """
        schema = export_schema(plan)
        self._check_sql(plan.scope, plan.audience)
        out = self.root / EXPORTS / uuid.uuid4().hex
        out.parent.mkdir(parents=True, exist_ok=True)
        sweep_exports(out.parent, time.time() - EXPORT_LEFTOVER_SECONDS)
        doing = f"exporting audience group {plan.audience.code}"
        try:
            with self._reads(doing, self._explainer(plan.scope, plan.audience, doing)) as reads:
                folders = self._write_export(reads, plan, count, len(schema), out)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        spool = _Spool(out)
        return [
            pa.RecordBatchReader.from_batches(schema, _read_back(f, schema, batch_size, spool))
            for f in folders
        ]

    def sliced_export(self, plan: ExportPlan, count: int = 1) -> SlicedExport:
        """The export loaded by Spark's own tasks, each into the target over a connection of
        its own (`_Slices`): no row passes through this process."""
        return _Slices(self, plan, count)

    def _write_export(
        self, reads: _Reads, plan: ExportPlan, count: int, width: int, out: Path
    ) -> list[Path]:
        """Run the export into `out`; the folders of its streams, in ID order (those of ranges
        that hold no row left out, one at least)."""
        names = [f"c{i}" for i in range(width)]
        ranges = self._ranges(reads, plan, count) if count > 1 else [None]
        if len(ranges) == 1:
            query = queries.export_query(plan, unique=self.unique)
            reads.frame(query).toDF(*names).write.parquet(str(out))
            return [out]
        query = queries.laned_export_query(plan, len(ranges), unique=self.unique)
        frame = reads.frame(query, queries.lane_parameters(ranges)).toDF(*names, "lane")
        frame.write.partitionBy("lane").parquet(str(out))
        folders = [out / f"lane={i}" for i in range(len(ranges))]
        return [f for f in folders if f.is_dir()] or [out]  # no rows: no lane folder

    def _ranges(self, reads: _Reads, plan: ExportPlan, count: int) -> list[KeyRange | None]:
        """At most `count` ID ranges of at least about `chunk_rows` members each."""
        if plan.id_column() is None:
            return [None]
        sample = reads.frame(queries.key_sample_query(plan, queries.SAMPLE_SIZE)).collect()
        rows, ids = sample[0][0], sample[0][1]
        return queries.id_ranges(int(rows or 0), ids, self.chunk_rows, count)


class _Slices:
    """An export whose Spark tasks each load one slice of it into the target
    (`targets.base.SlicedExport`): rows go from the task to the target over the task's own
    connection; the driver receives one count per slice.

    The result is cut into `count` slices by ID, as many loads at once as Spark has cores: by
    hash, or for a sorted export by range, each slice then a contiguous block of IDs sorted.
    A slice is named by its index, and a retried task recomputes the same rows (a hash is
    fixed, and a job's ranges are placed once, when it is planned), so the sink recognises a
    slice loaded before.
    """

    def __init__(self, warehouse: SparkWarehouse, plan: ExportPlan, count: int) -> None:
        self.warehouse = warehouse
        self.plan = plan
        self.count = max(1, count)
        self.schema = export_schema(plan)
        self.slices = 0
        self.bytes = 0

    def load(self, sink: SliceSink) -> None:
        warehouse, plan = self.warehouse, self.plan
        warehouse._check_sql(plan.scope, plan.audience)
        doing = f"exporting audience group {plan.audience.code}"
        explain = warehouse._explainer(plan.scope, plan.audience, doing)
        with warehouse._reads(doing, explain) as reads:
            # `count` slices, not fewer: adaptive execution would merge small slices (down to
            # Spark's parallelism), which would load fewer streams than the target was given.
            reads.session.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
            frame = self._sliced(reads)
            loaded = frame.mapInArrow(_slice_task(self.schema, sink), "bytes BIGINT").collect()
        self.slices, self.bytes = len(loaded), sum(row[0] for row in loaded)

    def _sliced(self, reads: _Reads) -> DataFrame:
        """The export's rows in `count` partitions, by ID (sorted within each when asked)."""
        names = [f"c{i}" for i in range(len(self.schema))]
        query = queries.export_query(
            replace(self.plan, ordered=False), unique=self.warehouse.unique
        )
        frame = reads.frame(query).toDF(*names)
        id_column = self.plan.id_column()
        if id_column is None:
            return frame.repartition(self.count)
        key = names[self.schema.get_field_index(id_column)]
        if self.plan.ordered:
            return frame.repartitionByRange(self.count, key).sortWithinPartitions(key)
        return frame.repartition(self.count, key)


def _slice_task(
    schema: pa.Schema, sink: SliceSink
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """What each Spark task runs, in Spark's Python worker, on its partition of the export:
    hand the batches, shaped as the export's columns, to the sink under the slice's name; tell
    the driver their Arrow bytes."""

    def load(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        name = str(context.partitionId()) if context is not None else "0"
        size = 0

        def shaped() -> Iterator[pa.RecordBatch]:
            nonlocal size
            for batch in batches:
                size += batch.nbytes
                yield _shaped(batch, schema)

        sink(name, pa.RecordBatchReader.from_batches(schema, shaped()))
        yield pa.RecordBatch.from_arrays([pa.array([size], pa.int64())], names=["bytes"])

    return load


class _Spool:
    """An export's folder, deleted once no stream reads it any more (each stream's generator
    holds this object until it ends or is dropped)."""

    def __init__(self, folder: Path) -> None:
        weakref.finalize(self, shutil.rmtree, folder, True)


def sweep_exports(folder: Path, before: float) -> None:
    """Delete exports' files last changed before `before` (a dead process's leftovers)."""
    for leftover in folder.iterdir():
        with suppress(OSError):  # another process may be deleting it too
            if leftover.stat().st_mtime < before:
                shutil.rmtree(leftover)


def _partition_of(schema: pa.Schema, column: str) -> str | None:
    """`column` when the schema has it as text (the table is then partitioned by it)."""
    index = schema.get_field_index(column)
    return column if index >= 0 and pa.types.is_string(schema.field(index).type) else None


def _read_back(
    folder: Path, schema: pa.Schema, batch_size: int, spool: _Spool
) -> Iterator[pa.RecordBatch]:
    """Spark's result files in `folder` in order, as batches of the export's schema; the folder
    is deleted at the end, the export's whole folder with the last stream (`spool`)."""
    try:
        for file in data_files(folder):
            for batch in pq.ParquetFile(file).iter_batches(batch_size):
                yield _shaped(batch, schema)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        del spool


def _shaped(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch of positional columns (`c0` …) as the export's named, typed columns."""
    columns: list[Any] = [batch.column(i).cast(field.type) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
