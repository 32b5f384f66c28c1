"""Target tables of offline services: reaching them, one-click creation, and the load itself.

This is where the catalog meets `tagport.targets`: a data source row becomes connection
parameters (its password decrypted or read from the environment), a task's exported fields
become a table design, and a task's published configuration plus a bizdate become a load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.config import Settings
from tagport.domain.catalog import DataSourceType
from tagport.domain.naming import codename_field
from tagport.domain.states import ScheduleType, TaskAction, TaskStatus, require_task_action
from tagport.domain.tasks import FieldMapping, OfflineServiceSpec, Output
from tagport.domain.values import IdType, ValueType
from tagport.errors import ConfigError, InvalidInput, PermissionDenied, TerminalError
from tagport.services import catalog
from tagport.services.datasources import find_datasource, password_of, require_connectable
from tagport.services.permissions import Actor
from tagport.services.projects import cross_project_safe_mode
from tagport.services.publication import authorize_task, find_task
from tagport.services.table_permissions import (
    CREATE_TABLE,
    TableRef,
    record_grant,
    write_refusal,
)
from tagport.services.tasks import OfflineServiceKind
from tagport.services.warehouse import (
    export_plan,
    export_readers,
    open_warehouse,
    record_sources,
    sliced_export,
)
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.targets import (
    Batches,
    ColumnDesign,
    ConnectionParams,
    LoadProgress,
    PartitionDesign,
    PartitionValue,
    TableDdl,
    TableDesign,
    TableInfo,
    Target,
    chained,
    open_target,
    target_class,
)
from tagport.targets.ddl import propose_table_name
from tagport.warehouse.base import ExportColumn, ExportPlan

DEFAULT_PARTITION_FIELD = "ds"


class TargetAccess:
    """Opens the target of a data source row (a project target is the home's warehouse)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def params(self, session: Session, ds: t.DataSource, schema: str | None) -> ConnectionParams:
        if ds.type == DataSourceType.PROJECT.value:
            assert ds.project is not None
            database = open_warehouse(self.settings).project_database()
            if database is None:
                raise ConfigError(
                    f"data source {ds.name}: project targets write DuckDB warehouse tables; "
                    f"the {self.settings.warehouse} warehouse cannot take them yet"
                )
            return ConnectionParams(database=str(database), schema=ds.project.name)
        require_connectable(ds, self.settings)
        return ConnectionParams(
            host=ds.host,
            port=ds.port,
            database=ds.database,
            username=ds.username,
            password=password_of(session, ds, self.settings),
            schema=schema,
        )

    def open(self, session: Session, ds: t.DataSource, schema: str | None = None) -> Target:
        return open_target(DataSourceType(ds.type), self.params(session, ds, schema))

    def describe(
        self, session: Session, ds: t.DataSource, schema: str | None, table: str
    ) -> TableInfo:
        """The target table's columns (NotFound when it does not exist)."""
        with self.open(session, ds, schema) as target:
            return target.describe_table(table, schema)


def table_design(
    session: Session,
    spec: OfflineServiceSpec,
    ds_type: DataSourceType,
    name: str | None = None,
    comment: str | None = None,
) -> TableDesign:
    """The table one-click creation proposes: entity ID (key), each tag output, partition."""
    audience = session.scalars(
        select(t.AudienceGroup).where(t.AudienceGroup.code == spec.audience)
    ).one()
    entity = audience.entity
    columns = [
        ColumnDesign(
            entity.id_field,
            IdType(entity.id_type),
            f"{entity.name} ID",
            is_key=True,
            nullable=False,
        )
    ]
    for output in spec.tags:
        tag = session.scalars(select(t.Tag).where(t.Tag.code == output.tag)).one()
        if Output.VALUE in output.outputs:
            columns.append(ColumnDesign(tag.code, ValueType.parse(tag.value_type), tag.name))
        if Output.CODENAME in output.outputs:
            columns.append(
                ColumnDesign(
                    codename_field(tag.code), ValueType.parse("string"), f"{tag.name} (code name)"
                )
            )
    partition_field = spec.target.partition_field
    if ds_type is DataSourceType.PROJECT and partition_field is None:
        partition_field = DEFAULT_PARTITION_FIELD  # project tables are partitioned by default
    if ds_type is DataSourceType.ADB_PG:
        partition_field = None  # AnalyticDB PG targets are never partitioned
    partition = (
        PartitionDesign(partition_field, spec.target.partition_format) if partition_field else None
    )
    table = name or spec.target.table
    if table is None:
        raise InvalidInput.one("target", "table", "not set: name the table to design")
    return TableDesign(
        table,
        tuple(columns),
        comment or f"{audience.name} ({audience.code}), exported by tagport",
        partition,
    )


def target_table(spec: OfflineServiceSpec, task: str, kind: DataSourceType) -> str:
    """The task's target table, or the name one-click creation proposes when it is not set:
    derived from the task, valid for the dialect (characters and identifier length)."""
    if spec.target.table is not None:
        return spec.target.table
    limit = target_class(kind).capabilities.identifier_max_length
    return propose_table_name(task, spec.audience, limit)


def generate_ddl(db: Database, settings: Settings, name: str, *, actor: Actor | None = None) -> str:
    """The CREATE TABLE statement one-click creation would run for a task's draft (only for
    those who may see the task, when `actor` is given)."""
    with db.uow() as uow:
        task = find_task(uow.session, name)
        if actor is not None:
            OfflineServiceKind().authorize_view(uow.session, actor, task)
        spec = OfflineServiceSpec.model_validate(task.draft)
        ds = find_datasource(uow.session, spec.target.datasource)
        kind = DataSourceType(ds.type)
        design = table_design(uow.session, spec, kind, target_table(spec, task.name, kind))
        with TargetAccess(settings).open(uow.session, ds, spec.target.schema_) as target:
            return target.create_table_sql(design, spec.target.schema_)


@dataclass(frozen=True)
class CreatedTable:
    table: TableInfo
    mapping: list[FieldMapping]


def create_table(
    db: Database,
    settings: Settings,
    actor: Actor,
    name: str,
    sql: str | None = None,
    now: datetime | None = None,
) -> CreatedTable:
    """Create a task's target table (the generated statement, or `sql` as edited by the user).

    Every check runs before any DDL: the task's status and the actor's rights, the statement
    (targets.ddl), the table being new, and the draft as it will be saved. The creator gets
    write permission on the new table and the draft is mapped to it by same-name mapping; if
    that fails, the table just created is dropped again.
    """
    with db.uow() as uow:
        session = uow.session
        task = find_task(session, name)
        authorize_task(session, actor, task, "create the target table of")
        # The draft changes (table, mapping): only where an edit is allowed.
        require_task_action(
            TaskStatus(task.status), ScheduleType(task.schedule_type), TaskAction.EDIT
        )
        spec = OfflineServiceSpec.model_validate(task.draft)
        ds = find_datasource(session, spec.target.datasource)
        _check_project_target(session, actor, task, ds)
        schema, kind = spec.target.schema_, DataSourceType(ds.type)
        design = table_design(session, spec, kind, target_table(spec, task.name, kind))
        with TargetAccess(settings).open(session, ds, schema) as target:
            ddl = target.check_create_sql(sql or target.create_table_sql(design, schema), schema)
            if spec.target.table is not None and ddl.name != spec.target.table:
                raise InvalidInput.one(
                    "sql",
                    "statement",
                    f"creates {ddl.name}; the task's target table is {spec.target.table}",
                )
            updated = _mapped_to(spec, ddl, design)
            catalog.check(session, actor, updated)
            table = target.create_table(ddl, schema)
            try:
                user = session.get(t.User, actor.id)
                assert user is not None
                ref = TableRef(ds.name, schema or "", table.name)
                record_grant(
                    session, user, ds, ref, actor.id, CREATE_TABLE, None, now or t.utcnow()
                )
                catalog.upsert(session, actor, updated)
                mapping = updated.column_mapping(
                    task_id_field(session, spec), list(table.column_names)
                )
                uow.commit()
            except Exception as exc:
                raise _undo(target, table, exc) from exc
        return CreatedTable(table, mapping)


def _mapped_to(spec: OfflineServiceSpec, ddl: TableDdl, design: TableDesign) -> OfflineServiceSpec:
    """The draft pointing at the table `ddl` creates, mapped by same name. Its date partition
    field: as configured, else the table's partition column, else the designed one (a project
    table's `ds` is an ordinary column in DuckDB)."""
    designed = design.partition.column if design.partition else None
    partition = (
        spec.target.partition_field
        or ddl.partition_column
        or (designed if designed in ddl.column_names else None)
    )
    target = spec.target.model_copy(update={"table": ddl.name, "partition_field": partition})
    return spec.model_copy(update={"target": target, "mapping": "same_name"})


def _undo(target: Target, table: TableInfo, error: Exception) -> TerminalError:
    """Drop the table just created because a later step failed; say so (issue 10, item 3)."""
    shown = ".".join(p for p in (table.schema, table.name) if p)
    try:
        target.drop_table(table.name, table.schema)
    except Exception as drop_error:
        return TerminalError(
            f"creating table {shown} failed after the CREATE TABLE ({error}); dropping it "
            f"again failed too ({drop_error}): drop it by hand"
        )
    return TerminalError(
        f"creating table {shown} failed after the CREATE TABLE ({error}); "
        "the table was dropped again"
    )


def task_id_field(session: Session, spec: OfflineServiceSpec) -> str:
    audience = session.scalars(
        select(t.AudienceGroup).where(t.AudienceGroup.code == spec.audience)
    ).one()
    return audience.entity.id_field


def _check_project_target(
    session: Session, actor: Actor, task: t.OfflineService, ds: t.DataSource
) -> None:
    """Project targets: only joined projects with write-through; safe mode keeps tasks home."""
    if ds.type != DataSourceType.PROJECT.value or ds.project is None:
        return
    project = ds.project
    if not actor.is_super_admin and actor.id not in {u.id for u in project.members}:
        raise PermissionDenied(f"{actor.login} has not joined project {project.name}")
    if not project.write_through:
        raise InvalidInput.one(
            f"data source {ds.name}", "project", f"project {project.name} has no write-through"
        )
    own = task.application.project
    if own.id != project.id and cross_project_safe_mode(session, own.name):
        raise PermissionDenied(
            f"cross-project safe mode: tables of project {own.name}'s tasks may not be "
            f"created in project {project.name}"
        ).with_code("safe_mode.cross_project_ddl")


def require_write(db: Database, name: str, config: OfflineServiceSpec) -> None:
    """Before every run: the task's owner still holds write permission on its target (a
    permission may expire or be returned after publication)."""
    with db.uow() as uow:
        task = find_task(uow.session, name)
        target = config.target
        ref = TableRef(target.datasource, target.schema_ or "", target.table or "")
        refusal = write_refusal(uow.session, task.owner, ref, t.utcnow())
        if refusal is not None:
            raise refusal.error()


@dataclass(frozen=True)
class LoadResult:
    table: str
    rows: int
    bytes: int
    """Arrow bytes of the exported batches (the size of the data, not of its encoding)."""
    mode: str
    seconds: float
    streams: int = 1
    """How many streams (ID ranges, a target connection each) the rows were loaded through."""


Progress = Callable[[LoadProgress], None]


def load(
    db: Database,
    settings: Settings,
    config: OfflineServiceSpec,
    bizdate: date,
    progress: Progress | None = None,
) -> LoadResult:
    """Export the task's audience for `bizdate` and replace the target with it, atomically.

    The target's columns decide the export's shape: every mapped column in the table's order
    (the partition field included); unmapped columns keep their defaults.
    """
    started = time.monotonic()
    schema = config.target.schema_
    with db.uow() as uow:
        session = uow.session
        ds = find_datasource(session, config.target.datasource)
        kind = DataSourceType(ds.type)
        params = TargetAccess(settings).params(session, ds, schema)
        id_field = task_id_field(session, config)
    if config.target.table is None:
        raise TerminalError(f"task {config.name} has no target table; run task create-table")
    with open_target(kind, params) as target:
        # Recover before reading the table: after a crash between non-atomic renames the
        # target exists only as its `_dpfx_tmp` leftover.
        table = target.describe_for_write(config.target.table, schema)
    partition_field = config.target.partition_field or (
        table.partition_columns[0] if table.partition_columns else None
    )
    by_column = {
        m.target.lower(): m.source
        for m in config.column_mapping(id_field, list(table.column_names))
    }
    if partition_field:
        by_column[partition_field.lower()] = partition_field
    columns = [
        ExportColumn(c.name, by_column[c.name.lower()])
        for c in table.columns
        if c.name.lower() in by_column
    ]
    key = [c.name for c in columns if c.source.lower() == id_field.lower()]
    plan = export_plan(
        db,
        config.audience,
        bizdate,
        config.tags,
        columns,
        key,
        partition_field,
        config.target.partition_format,
        reader=config.owner,
        ordered=target_class(kind).capabilities.sorted_load,
    )
    partition = (
        PartitionValue(partition_field, config.target.partition_format, bizdate)
        if partition_field
        else None
    )
    with ExitStack() as cleanup:
        batches, measure = _export_batches(settings, plan, kind, cleanup)
        with open_target(kind, params) as target:
            result = target.write(
                table.name, batches, schema=schema, partition=partition, progress=progress
            )
    size, streams = measure()
    if kind is DataSourceType.PROJECT and params.schema:
        # A project table may itself be a tag source: record what the write left in it.
        value = partition.value if partition else None
        record_sources(
            db, open_warehouse(settings), f"{params.schema}.{table.name}", partition_field, value
        )
    return LoadResult(
        result.table, result.rows, size, result.mode, time.monotonic() - started, streams
    )


def _export_batches(
    settings: Settings, plan: ExportPlan, kind: DataSourceType, cleanup: ExitStack
) -> tuple[Batches, Callable[[], tuple[int, int]]]:
    """What a write of `plan` loads, and what tells its Arrow bytes and streams once loaded.

    As many streams as the setting asks (else the target type's default) and the target takes
    at once: slices of the export that the warehouse's own tasks load, where the engine does
    that (Spark) and the target takes them; else streams of ID ranges that the write loads side
    by side.
    """
    capabilities = target_class(kind).capabilities
    streams = capabilities.streams(settings.load_streams)
    sliced = sliced_export(settings, plan, streams) if capabilities.slice_loads else None
    if sliced is not None:
        return sliced, lambda: (sliced.bytes, sliced.slices)
    exports = export_readers(settings, plan, streams)
    sizes = [0] * len(exports)  # a slot per stream: streams are read on threads of their own
    readers = [counted(reader, sizes, i) for i, reader in enumerate(exports)]
    if kind is DataSourceType.PROJECT:
        # The project target writes the warehouse file the export reads, and DuckDB admits
        # one writer or many readers: finish reading (to a spool file) before writing.
        spool = cleanup.enter_context(TemporaryDirectory(dir=settings.ensure_home()))
        readers = [spooled(chained(readers), Path(spool) / "export.parquet")]
    return readers, lambda: (sum(sizes), len(exports))


def counted(reader: pa.RecordBatchReader, sizes: list[int], key: int) -> pa.RecordBatchReader:
    """`reader`, adding the bytes of each batch it yields to `sizes[key]`."""

    def batches() -> Iterator[pa.RecordBatch]:
        with reader:
            for batch in reader:
                sizes[key] += batch.nbytes
                yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def spooled(reader: pa.RecordBatchReader, path: Path) -> pa.RecordBatchReader:
    """Drain `reader` into a Parquet file and read it back batch by batch (memory stays flat)."""
    with reader, pq.ParquetWriter(path, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    parquet = pq.ParquetFile(path)
    return pa.RecordBatchReader.from_batches(parquet.schema_arrow, parquet.iter_batches())
