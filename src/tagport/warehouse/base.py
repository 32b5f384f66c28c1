"""The engine-neutral warehouse interface and the plain values that cross it.

Services read the catalog and hand the warehouse domain specs (an `AudienceScope`, an
`ExportPlan`); the warehouse never reads the metadata store itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeAlias

import pyarrow as pa

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSpec
from tagport.domain.dates import PartitionFormat
from tagport.domain.naming import codename_field
from tagport.domain.tasks import TagOutput
from tagport.domain.values import IdType, ValueKind, ValueType

if TYPE_CHECKING:
    from tagport.targets.base import SlicedExport


@dataclass(frozen=True)
class TagRef:
    """A tag as the warehouse needs it: its spec and, for coded tags, its lookup codes -> names."""

    spec: TagSpec
    codes: Mapping[str, str] | None = None


@dataclass(frozen=True)
class AudienceScope:
    """Everything compiling audiences of one entity needs: the entity, its tags, its groups."""

    entity: EntitySpec
    tags: Mapping[str, TagRef]
    """Every tag of the entity by code; their sources define who exists at a bizdate."""
    audiences: Mapping[str, AudienceGroupSpec] = field(default_factory=dict)
    """Audience groups of the entity that rules may refer to, by code."""


@dataclass(frozen=True)
class ExportColumn:
    """One target column and the export field that fills it (entity ID, tag, `{tag}_codename`)."""

    name: str
    source: str


@dataclass(frozen=True)
class ExportPlan:
    """What one export reads: an audience at a bizdate, with tags, shaped as the target's columns.

    `columns` are the target columns in order. The column named `partition_field` (appended
    last when `columns` lacks it) carries the bizdate rendered in `partition_format`. `key`
    names the target columns rows are unique on.
    """

    audience: AudienceGroupSpec
    scope: AudienceScope
    bizdate: date
    tags: Sequence[TagOutput]
    columns: Sequence[ExportColumn]
    key: Sequence[str]
    partition_field: str | None = None
    partition_format: PartitionFormat = PartitionFormat.YYYYMMDD
    ordered: bool = False
    """Sort rows by the key: a target clustered on its primary key (InnoDB) loads sorted rows
    several times faster than rows in hash-join order."""

    def output_columns(self) -> list[ExportColumn]:
        """`columns`, with the partition column appended when the plan names one not listed."""
        names = {c.name for c in self.columns}
        extra = (
            [ExportColumn(self.partition_field, self.partition_field)]
            if self.partition_field and self.partition_field not in names
            else []
        )
        return [*self.columns, *extra]

    def id_column(self) -> str | None:
        """The output column carrying the entity ID (what a chunked export splits on)."""
        id_field = self.scope.entity.id_field
        return next((c.name for c in self.columns if c.source == id_field), None)


KeyRange: TypeAlias = tuple[str | int | None, str | int | None]
"""IDs `after < id <= upto`; None leaves that end open."""


@dataclass(frozen=True)
class PartitionRef:
    """A source table and, for partitioned sources, the partition a bizdate needs."""

    table: str
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        return f"{self.table}" + (f" {self.column}={self.value}" if self.column else "")


@dataclass(frozen=True)
class Readiness:
    """Which source partitions a bizdate needs, and which of them are missing."""

    bizdate: date
    needed: list[PartitionRef]
    missing: list[PartitionRef]

    @property
    def ready(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class TableInfo:
    """A warehouse table: `project.name`, its row count and its partitions (if any)."""

    project: str
    name: str
    rows: int
    columns: list[str]
    partitions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QueryResult:
    """Rows of an ad-hoc query, at most `limit` of them; `truncated` when more existed."""

    table: pa.Table
    truncated: bool


_ARROW: dict[ValueKind, pa.DataType] = {
    ValueKind.STRING: pa.string(),
    ValueKind.LONG: pa.int64(),
    ValueKind.DOUBLE: pa.float64(),
    ValueKind.BOOLEAN: pa.bool_(),
    ValueKind.DATE: pa.date32(),
    ValueKind.DATETIME: pa.timestamp("us"),
}


def arrow_type(value_type: ValueType) -> pa.DataType:
    """The Arrow type an export column of this tag value type has."""
    if value_type.kind is ValueKind.DECIMAL:
        return pa.decimal128(value_type.precision or 38, value_type.scale or 0)
    return _ARROW[value_type.kind]


def id_arrow_type(id_type: IdType) -> pa.DataType:
    return pa.int64() if id_type is IdType.BIGINT else pa.string()


def export_schema(plan: ExportPlan) -> pa.Schema:
    """The Arrow schema of an export: ID and values typed as their tags, names and partition as
    strings."""
    scope = plan.scope
    types: dict[str, pa.DataType] = {scope.entity.id_field: id_arrow_type(scope.entity.id_type)}
    for output in plan.tags:
        types[output.tag] = arrow_type(scope.tags[output.tag].spec.type)
        types[codename_field(output.tag)] = pa.string()
    fields = []
    for column in plan.output_columns():
        if column.name == plan.partition_field:
            fields.append(pa.field(column.name, pa.string()))
        else:
            fields.append(pa.field(column.name, types[column.source]))
    return pa.schema(fields)


class Warehouse(ABC):
    """Where tags live and audiences and exports are computed (DuckDB or Spark).

    Engines differ only behind this interface: services never ask which one they hold.
    """

    dialect: ClassVar[str]
    """The sqlglot dialect the engine's SQL is rendered in (`queries` builds it engine-neutral)."""

    @abstractmethod
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
        """Load a CSV or Parquet file into `PROJECT.TABLE`; return the rows written.

        With `partition_value` exactly that partition is (re)written; with `replace` the whole
        table; otherwise the table must not exist yet. Each is atomic and idempotent, and
        nothing is written unless the whole file is valid (`tagport.warehouse.files`); a file
        without rows is refused unless `allow_empty`.
        """

    @abstractmethod
    def tables(self, project: str | None = None) -> list[TableInfo]:
        """Tables of one project (schema), or of all."""

    @abstractmethod
    def query(self, sql: str, limit: int = 1000) -> QueryResult:
        """Run one read-only statement and return at most `limit` rows. The SQL is written in
        `queries.SQL_DIALECT`, whatever the engine."""

    @abstractmethod
    def readiness(self, needed: Sequence[PartitionRef], bizdate: date) -> Readiness:
        """Which of `needed` exist."""

    @abstractmethod
    def store_audience(self, code: str, ids: pa.Array, fingerprint: str = "") -> int:
        """Replace the stored IDs of an import audience group, atomically, with the fingerprint
        of the file they came from."""

    @abstractmethod
    def audience_fingerprint(self, code: str) -> str | None:
        """The fingerprint stored with an import group's IDs; None when none are stored."""

    @abstractmethod
    def estimate(self, scope: AudienceScope, audience: AudienceGroupSpec, bizdate: date) -> int:
        """How many entities the audience holds at `bizdate`."""

    @abstractmethod
    def members(
        self,
        scope: AudienceScope,
        audience: AudienceGroupSpec,
        bizdate: date,
        offset: int,
        limit: int,
    ) -> list[str | int]:
        """One page of the audience's entity IDs in ID order."""

    @abstractmethod
    def export_reader(self, plan: ExportPlan, batch_size: int = 100_000) -> pa.RecordBatchReader:
        """The export as a stream of record batches shaped as `plan.output_columns()`."""

    def export_readers(
        self, plan: ExportPlan, count: int, batch_size: int = 100_000
    ) -> list[pa.RecordBatchReader]:
        """The export as at most `count` streams of disjoint rows, computed at once: contiguous
        ID ranges in ID order (each sorted when the plan is), for targets that load several
        streams in parallel. One stream unless an engine splits."""
        return [self.export_reader(plan, batch_size)]

    def sliced_export(self, plan: ExportPlan, count: int = 1) -> SlicedExport | None:
        """The export as one that this engine's own tasks load into a target in `count`
        slices of disjoint ID sets, each slice where its task runs (`targets.base.
        SlicedExport`); None when the engine hands exports over as streams only
        (`export_readers`). Nothing runs until the export is loaded."""
        return None

    def record_partitions(
        self, table: str, key: str, partition: str | None, value: str | None = None
    ) -> int:
        """Record what the partitions of `table` hold for a source keyed by `key` (only the
        partition `value` when given): row count, whether the key is unique, its range. Queries
        then skip making a proven-unique partition unique. Returns the partitions recorded; an
        engine that keeps no such record returns 0 and always makes sources unique."""
        return 0

    def held(self) -> AbstractContextManager[None]:
        """Keep the warehouse open for a batch of calls made in this process (a demo build), for
        engines that otherwise open it per call. A no-op unless an engine says otherwise."""
        return nullcontext()

    def project_database(self) -> Path | None:
        """The DuckDB file a project target writes its tables into (`targets/project.py`), when
        the engine keeps its tables in one; None when it does not, and project targets cannot
        write where this warehouse reads."""
        return None

    @abstractmethod
    def write_batches(self, table: str, batches: pa.RecordBatchReader, *, replace: bool) -> int:
        """Write batches into `PROJECT.TABLE` (created or replaced); used by the demo builder."""
