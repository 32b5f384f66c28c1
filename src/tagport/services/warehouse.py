"""Warehouse use cases: import tables, look around, estimate and page audiences, build the demo.

The catalog is read here (through each kind's `to_spec`) and handed to the warehouse as domain
specs; the warehouse never sees the metadata store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.config import Settings, WarehouseEngine
from tagport.domain.catalog import AudienceGroupSpec, Spec
from tagport.domain.dates import PartitionFormat, date_range
from tagport.domain.naming import CODE, IDENTIFIER
from tagport.domain.tasks import TagOutput
from tagport.errors import InvalidInput, NotFound, PermissionDenied, Problem
from tagport.services import catalog
from tagport.services.audiences import (
    AudienceGroupService,
    readable_projects,
    referenced_audiences,
)
from tagport.services.catalog import Document
from tagport.services.entities import EntityService
from tagport.services.permissions import (
    Actor,
    project_member_ids,
    require_any,
    require_super_admin,
)
from tagport.services.tags import TagService
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.targets.base import SlicedExport
from tagport.warehouse import confine, demo, imports, queries
from tagport.warehouse.base import (
    AudienceScope,
    ExportColumn,
    ExportPlan,
    QueryResult,
    Readiness,
    TableInfo,
    TagRef,
    Warehouse,
)
from tagport.warehouse.duckdb import DuckDBWarehouse

MAX_PAGE_SIZE = 10_000
BATCH_ROWS = 50_000
"""Rows per export batch: 100,000 was as fast and held 25–50 MB more in flight."""


def open_warehouse(settings: Settings) -> Warehouse:
    """The home's warehouse, on the engine the settings choose (`TAGPORT_WAREHOUSE`): the one
    place that knows which engines exist."""
    settings.ensure_home()
    return _ENGINES[settings.warehouse](settings)


def _duckdb(settings: Settings) -> Warehouse:
    return DuckDBWarehouse(settings.warehouse_path, memory_limit=settings.duckdb_memory_limit)


def _spark(settings: Settings) -> Warehouse:
    """Imported here: Spark is an optional extra, and loading it costs every other command."""
    from tagport.warehouse.spark import SparkConfig, SparkWarehouse

    config = SparkConfig(
        master=settings.spark_master,
        driver_memory=settings.spark_driver_memory,
        shuffle_partitions=settings.spark_shuffle_partitions,
        local_dir=settings.home / "warehouse.spark.tmp",
    )
    return SparkWarehouse(settings.spark_warehouse_path, config)


_ENGINES: dict[WarehouseEngine, Callable[[Settings], Warehouse]] = {
    WarehouseEngine.DUCKDB: _duckdb,
    WarehouseEngine.SPARK: _spark,
}


# --- reading the catalog ------------------------------------------------------------------------


def scope_of(session: Session, entity: t.Entity) -> AudienceScope:
    """The entity, every tag of it (with lookup codes) and every audience group of it."""
    tag_service, group_service = TagService(), AudienceGroupService()
    tags = {}
    for row in session.scalars(select(t.Tag).where(t.Tag.entity_id == entity.id)):
        codes = {c.code: c.name for c in row.lookup.codes} if row.lookup else None
        tags[row.code] = TagRef(tag_service.to_spec(session, row), codes)
    groups = {
        row.code: group_service.to_spec(session, row)
        for row in session.scalars(
            select(t.AudienceGroup).where(t.AudienceGroup.entity_id == entity.id)
        )
    }
    return AudienceScope(EntityService().to_spec(session, entity), tags, groups)


def _audience(session: Session, code: str) -> tuple[t.AudienceGroup, AudienceGroupSpec]:
    row = AudienceGroupService().find(session, code)
    if row is None:
        raise NotFound("audience group", code)
    return row, AudienceGroupService().to_spec(session, row)


def audience_scope(db: Database, code: str) -> tuple[AudienceGroupSpec, AudienceScope]:
    """An audience group's spec and the scope its queries compile in."""
    with db.uow() as uow:
        row, spec = _audience(uow.session, code)
        return spec, scope_of(uow.session, row.entity)


def readable_scope(
    db: Database, reader: Actor | str | None, code: str, tags: Sequence[str] = ()
) -> tuple[AudienceGroupSpec, AudienceScope]:
    """`audience_scope`, once every SQL the audience runs passes the allow-list for its owner
    and `reader` (an actor, or the login of a task's owner) may read what the audience (with
    `tags`) reads; None checks the SQL only."""
    with db.uow() as uow:
        session = uow.session
        row, spec = _audience(session, code)
        scope = scope_of(session, row.entity)
        _check_sql_of(session, row.entity, scope, spec)
        if reader is not None:
            _require_reader(session, reader, row.entity, scope, spec, tags)
        return spec, scope


def _require_reader(
    session: Session,
    reader: Actor | str,
    entity: t.Entity,
    scope: AudienceScope,
    spec: AudienceGroupSpec,
    tags: Sequence[str],
) -> None:
    """PermissionDenied unless `reader` may read every project the audience and `tags` read."""
    if isinstance(reader, Actor):
        user = session.get(t.User, reader.id)
    else:
        user = session.scalar(select(t.User).where(t.User.login == reader))
    if user is None:
        raise NotFound("user", reader if isinstance(reader, str) else reader.login)
    readable = readable_projects(session, user, entity)
    needed = queries.needed_partitions(scope, spec, date.today(), tags)  # any day: projects
    projects = {ref.table.partition(".")[0] for ref in needed} - {queries.AUDIENCE_SCHEMA}
    denied = sorted(projects - readable) if readable is not None else []
    if denied:
        raise PermissionDenied(
            f"{user.login} may not read audience group {spec.code}: it reads project(s) "
            f"{', '.join(denied)}, which {user.login} is not a member of"
        )


def _check_sql_of(
    session: Session, entity: t.Entity, scope: AudienceScope, spec: AudienceGroupSpec
) -> None:
    """The allow-list again at run time, for this audience and every one its rule refers to,
    each for its own owner: memberships and the catalog may have changed since it was saved."""
    problems: list[Problem] = []
    for group in queries.audiences_run(scope, spec):
        if group.sql is None:
            continue
        owner = session.scalar(select(t.User).where(t.User.login == group.owner))
        readable = readable_projects(session, owner, entity) if owner else frozenset()
        problems += [
            Problem(f"audience group {group.code}", "sql", message)
            for message in confine.audience_sql_problems(group.sql, readable)
        ]
    if problems:
        raise InvalidInput(problems)


def _ensure_imported(
    warehouse: Warehouse, scope: AudienceScope, spec: AudienceGroupSpec, seen: set[str]
) -> None:
    """Store the IDs of import groups (this one or any a rule refers to) not stored yet."""
    if spec.code in seen:
        return
    seen.add(spec.code)
    if spec.import_ is not None:
        file = Path(spec.import_)
        if warehouse.audience_fingerprint(spec.code) != _fingerprint(file):
            _store_import(warehouse, scope, spec.code, file)
    if spec.rule is not None:
        for code in sorted(referenced_audiences(spec.rule) & set(scope.audiences)):
            _ensure_imported(warehouse, scope, scope.audiences[code], seen)


def _ready(
    settings: Settings, db: Database, actor: Actor, code: str
) -> tuple[Warehouse, AudienceGroupSpec, AudienceScope]:
    spec, scope = readable_scope(db, actor, code)
    warehouse = open_warehouse(settings)
    _ensure_imported(warehouse, scope, spec, set())
    return warehouse, spec, scope


# --- tables -------------------------------------------------------------------------------------


def import_table(
    settings: Settings,
    db: Database,
    actor: Actor,
    table: str,
    file: Path,
    *,
    ds: date | None = None,
    replace: bool = False,
    partition_column: str = "ds",
    partition_format: PartitionFormat = PartitionFormat.YYYYMMDD,
    allow_empty: bool = False,
) -> int:
    """Load a CSV/Parquet file into `PROJECT.TABLE` (one partition with `ds`); rows written.
    A file without rows is refused unless `allow_empty`: it would replace data with nothing."""
    project, _, name = table.partition(".")
    if not (CODE.matches(project) and IDENTIFIER.matches(name)):
        raise InvalidInput.one(table, "table", "must be PROJECT.TABLE, e.g. tag_prod.user_profile")
    if not IDENTIFIER.matches(partition_column):
        raise InvalidInput.one(partition_column, "partition", IDENTIFIER.explanation)
    _require_project_member(db, actor, project, f"import into warehouse table {table}")
    value = partition_format.render(ds) if ds is not None else None
    warehouse = open_warehouse(settings)
    written = warehouse.import_table(
        table,
        file,
        partition_value=value,
        partition_column=partition_column,
        replace=replace,
        allow_empty=allow_empty,
    )
    record_sources(db, warehouse, table, partition_column if value is not None else None, value)
    return written


def record_sources(
    db: Database,
    warehouse: Warehouse,
    table: str,
    partition: str | None = None,
    value: str | None = None,
) -> None:
    """After a load of `table` (its partition `value` of column `partition`, or all of it):
    record what it holds for every tag source reading it, so that queries of proven-unique
    partitions skip de-duplication (`Warehouse.record_partitions`)."""
    with db.uow() as uow:
        sources = uow.session.execute(
            select(t.Tag.source_key, t.Tag.source_partition)
            .where(t.Tag.source_table == table)
            .distinct()
        ).all()
    for key, source_partition in sources:
        only = value if source_partition == partition else None
        warehouse.record_partitions(table, key, source_partition, only)


def _require_project_member(db: Database, actor: Actor, project: str, doing: str) -> None:
    """A project's warehouse tables are its members' (and super admins') to load."""
    if actor.is_super_admin:
        return
    with db.uow() as uow:
        row = uow.session.scalar(select(t.Project).where(t.Project.name == project))
        members = project_member_ids(row) if row is not None else set()
    require_any(actor, doing, members, f"a member of project {project}")


def list_tables(settings: Settings, project: str | None = None) -> list[TableInfo]:
    return open_warehouse(settings).tables(project)


def run_sql(settings: Settings, actor: Actor, sql: str, limit: int = 1000) -> QueryResult:
    """One read-only statement against the warehouse; at most `limit` rows. Super admins only,
    through the same allow-list and confined engine as SQL audiences."""
    require_super_admin(actor, "run ad-hoc warehouse SQL")
    query = confine.checked_query(sql, None)
    return open_warehouse(settings).query(query.sql(dialect=queries.SQL_DIALECT), limit)


# --- audiences ----------------------------------------------------------------------------------


def import_audience(settings: Settings, db: Database, actor: Actor, code: str) -> imports.ParsedIds:
    """(Re)load an import audience group's file into the warehouse, replacing its IDs at once,
    for whoever may change the group. Estimates, pages and exports also reload it by
    themselves when the file has changed."""
    with db.uow() as uow:
        row, spec = _audience(uow.session, code)
        service = AudienceGroupService()
        service.authorize(uow.session, actor, spec, row)
        scope = scope_of(uow.session, row.entity)
    if spec.import_ is None:
        raise InvalidInput.one(
            f"audience group {code}", "import", "is not an import audience group"
        )
    return _store_import(open_warehouse(settings), scope, code, Path(spec.import_))


def _fingerprint(file: Path) -> str:
    """The SHA-256 of an import file: stored IDs are reloaded when the file changes."""
    try:
        return "sha256:" + hashlib.sha256(file.read_bytes()).hexdigest()
    except OSError as exc:
        raise InvalidInput.one(str(file), "import", f"cannot read: {exc.strerror}") from None


def _store_import(
    warehouse: Warehouse, scope: AudienceScope, code: str, file: Path
) -> imports.ParsedIds:
    fingerprint = _fingerprint(file)
    parsed = imports.parse_file(file, scope.entity.id_type, scope.entity.id_field)
    warehouse.store_audience(code, parsed.ids, fingerprint)
    return parsed


def readiness(
    settings: Settings, db: Database, code: str, bizdate: date, tags: Sequence[str] = ()
) -> Readiness:
    """Which source partitions an audience (and tags exported with it) need at `bizdate`.
    SQL the allow-list refuses fails here, before a run waits for its tables."""
    spec, scope = readable_scope(db, None, code)
    needed = queries.needed_partitions(scope, spec, bizdate, tags)
    return open_warehouse(settings).readiness(needed, bizdate)


def estimate(settings: Settings, db: Database, actor: Actor, code: str, bizdate: date) -> int:
    """The audience's size at `bizdate`, also recorded as the group's estimated size."""
    warehouse, spec, scope = _ready(settings, db, actor, code)
    size = warehouse.estimate(scope, spec, bizdate)
    with db.uow() as uow:
        row, _ = _audience(uow.session, code)
        row.estimated_size = size
        uow.commit()
    return size


def estimate_draft(
    settings: Settings, db: Database, actor: Actor, spec: AudienceGroupSpec, bizdate: date
) -> int:
    """The size `spec` would have at `bizdate`, before it is saved (the console's form): checked
    as saving it would be, its SQL against the allow-list, and the actor must be allowed to read
    what it reads. Nothing is stored, not even the estimate."""
    with db.uow() as uow:
        session = uow.session
        catalog.check(session, actor, spec)
        entity = session.scalars(select(t.Entity).where(t.Entity.code == spec.entity)).one()
        scope = scope_of(session, entity)
        scope = replace(scope, audiences={**scope.audiences, spec.code: spec})
        _check_sql_of(session, entity, scope, spec)
        _require_reader(session, actor, entity, scope, spec, ())
    warehouse = open_warehouse(settings)
    _ensure_imported(warehouse, scope, spec, set())
    return warehouse.estimate(scope, spec, bizdate)


@dataclass(frozen=True)
class MembersPage:
    """One page of an audience's members in ID order (what the paged-query API returns)."""

    code: str
    bizdate: date
    page: int
    size: int
    ids: list[str | int]

    @property
    def has_more(self) -> bool:
        return len(self.ids) == self.size


MAX_PAGE = 1_000_000_000
"""Pages beyond this hold nobody whatever the size: a larger number is a typing mistake."""


def members_page(
    settings: Settings,
    db: Database,
    actor: Actor,
    code: str,
    bizdate: date,
    page: int = 1,
    size: int = 100,
) -> MembersPage:
    """Page `page` (from 1) of `size` members in entity-ID order."""
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput.one("members", "page", f"must be 1-{MAX_PAGE:,}")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput.one("members", "size", f"must be 1-{MAX_PAGE_SIZE:,}")
    warehouse, spec, scope = _ready(settings, db, actor, code)
    ids = warehouse.members(scope, spec, bizdate, (page - 1) * size, size)
    return MembersPage(code, bizdate, page, size, ids)


def export_plan(
    db: Database,
    audience: str,
    bizdate: date,
    tags: Sequence[TagOutput],
    columns: Sequence[ExportColumn],
    key: Sequence[str],
    partition_field: str | None = None,
    partition_format: PartitionFormat = PartitionFormat.YYYYMMDD,
    *,
    reader: str,
    ordered: bool = False,
) -> ExportPlan:
    """An export plan with the audience and its scope read from the catalog, for `reader` (the
    task's owner), who must be allowed to read what it reads."""
    spec, scope = readable_scope(db, reader, audience, [output.tag for output in tags])
    return ExportPlan(
        spec,
        scope,
        bizdate,
        list(tags),
        list(columns),
        list(key),
        partition_field,
        partition_format,
        ordered,
    )


def export_reader(
    settings: Settings, plan: ExportPlan, batch_size: int = BATCH_ROWS
) -> pa.RecordBatchReader:
    """Stream the export of `plan` (import groups are loaded first if not stored yet)."""
    return export_readers(settings, plan, 1, batch_size)[0]


def export_readers(
    settings: Settings, plan: ExportPlan, count: int, batch_size: int = BATCH_ROWS
) -> list[pa.RecordBatchReader]:
    """The export of `plan` as at most `count` streams of disjoint ID ranges, in ID order."""
    return _exporting(settings, plan).export_readers(plan, count, batch_size)


def sliced_export(settings: Settings, plan: ExportPlan, count: int) -> SlicedExport | None:
    """The export of `plan` as one the warehouse's own tasks load into a target in `count`
    slices, if its engine does that (`Warehouse.sliced_export`)."""
    return _exporting(settings, plan).sliced_export(plan, count)


def _exporting(settings: Settings, plan: ExportPlan) -> Warehouse:
    """The warehouse, ready to export `plan`: import groups loaded first if not stored yet."""
    warehouse = open_warehouse(settings)
    _ensure_imported(warehouse, plan.scope, plan.audience, set())
    return warehouse


# --- demo ---------------------------------------------------------------------------------------


def _missing(db: Database, specs: list[Spec]) -> list[Spec]:
    """The demo adds what the catalog lacks and never changes an object that already exists."""
    with db.uow() as uow:
        return [s for s in specs if catalog.service_for(s.kind).find(uow.session, s.key) is None]


@dataclass(frozen=True)
class DemoResult:
    """What the demo built: rows per table and the size of each audience group it created."""

    rows: int
    days: list[date]
    tables: dict[str, int]
    audiences: dict[str, int]


def build_demo(
    settings: Settings, db: Database, actor: Actor, rows: int, today: date, seed: int = 20240101
) -> DemoResult:
    """Demo data for the two days before `today`, its catalog applied, its audiences estimated."""
    if rows < 1:
        raise InvalidInput.one("demo", "rows", "must be at least 1")
    days = list(date_range(today - timedelta(days=2), today - timedelta(days=1)))
    warehouse = open_warehouse(settings)
    with warehouse.held():  # a dozen calls: open the warehouse once
        data = demo.build_demo_data(warehouse, rows, days, seed)
        seed_file = settings.home / "demo" / "crm_seed_users.txt"
        seed_file.parent.mkdir(parents=True, exist_ok=True)
        seed_file.write_text("".join(f"{i}\n" for i in demo.seed_ids(rows, seed)), "utf-8")
        specs = _missing(db, demo.demo_catalog(seed_file, actor.login))
        catalog.apply(db, actor, [Document(s, f"demo ({s.kind} {s.key})") for s in specs])
        for table in data.tables:
            record_sources(db, warehouse, table)
        groups = [s for s in specs if isinstance(s, AudienceGroupSpec)]
        if any(g.code == "crm_seed_users" for g in groups):
            import_audience(settings, db, actor, "crm_seed_users")
        sizes = {g.code: estimate(settings, db, actor, g.code, days[-1]) for g in groups}
    return DemoResult(rows, days, data.tables, sizes)
