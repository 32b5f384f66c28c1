"""Target databases: introspection, one-click table creation, bulk load and atomic swap.

`open_target(type, params)` returns the Target of a data source type; dialect strings and driver
imports live only in this package.
"""

from __future__ import annotations

from tagport.domain.catalog import DataSourceType
from tagport.targets.base import (
    Batches,
    Capabilities,
    ColumnDesign,
    ColumnInfo,
    ConnectionParams,
    LoadProgress,
    PartitionDesign,
    PartitionValue,
    ProgressCallback,
    SlicedExport,
    TableDdl,
    TableDesign,
    TableInfo,
    Target,
    WriteResult,
    chained,
)

__all__ = [
    "Batches",
    "Capabilities",
    "ColumnDesign",
    "ColumnInfo",
    "ConnectionParams",
    "LoadProgress",
    "PartitionDesign",
    "PartitionValue",
    "ProgressCallback",
    "SlicedExport",
    "TableDdl",
    "TableDesign",
    "TableInfo",
    "Target",
    "WriteResult",
    "chained",
    "open_target",
    "target_class",
]


def target_class(kind: DataSourceType) -> type[Target]:
    """The Target implementation of a data source type (drivers are imported on demand)."""
    if kind is DataSourceType.POSTGRESQL:
        from tagport.targets.postgres import PostgresTarget

        return PostgresTarget
    if kind is DataSourceType.GREENPLUM:
        from tagport.targets.greenplum import GreenplumTarget

        return GreenplumTarget
    if kind is DataSourceType.ADB_PG:
        from tagport.targets.adb_pg import AdbPgTarget

        return AdbPgTarget
    if kind is DataSourceType.OPENGAUSS:
        from tagport.targets.opengauss import OpenGaussTarget

        return OpenGaussTarget
    if kind is DataSourceType.MYSQL:
        from tagport.targets.mysql import MySqlTarget

        return MySqlTarget
    if kind is DataSourceType.ORACLE:
        from tagport.targets.oracle import OracleTarget

        return OracleTarget
    from tagport.targets.project import ProjectTarget

    return ProjectTarget


def open_target(kind: DataSourceType, params: ConnectionParams) -> Target:
    """A Target for `kind`; the connection opens lazily on first use. Close it when done."""
    return target_class(kind)(params)
