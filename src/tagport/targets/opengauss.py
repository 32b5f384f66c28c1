"""openGauss: PostgreSQL protocol, Oracle-style list partitions.

openGauss has no `PARTITION OF`: a partitioned table lists its partitions in CREATE TABLE and
gains new ones with `ALTER TABLE … ADD PARTITION`. Everything else is the PostgreSQL runtime.
"""

from __future__ import annotations

from dataclasses import replace

from tagport.targets.base import PartitionValue, TableDdl, TableInfo
from tagport.targets.postgres import PG_CAPABILITIES, PgDialect, PostgresTarget
from tagport.targets.sql import Statement

OPENGAUSS_CAPABILITIES = replace(PG_CAPABILITIES, bulk_path="COPY FROM STDIN (FORMAT CSV)")
INITIAL_PARTITION = "p_init"
INITIAL_VALUE = "00000000"
"""openGauss needs one partition at creation; a value no bizdate renders to."""


class OpenGaussDialect(PgDialect):
    def table_options(self, table: TableDdl) -> str:
        if table.partition_column is None:
            return ""
        return (
            f" PARTITION BY LIST ({self.quote(table.partition_column)}) "
            f"(PARTITION {self.quote(INITIAL_PARTITION)} VALUES ({self.literal(INITIAL_VALUE)}))"
        )

    def add_partition(self, schema: str | None, table: str, partition: PartitionValue) -> str:
        name = self.quote(f"p{partition.bizdate:%Y%m%d}")
        return (
            f"ALTER TABLE {self.qualify(schema, table)} ADD PARTITION {name} "
            f"VALUES ({self.literal(partition.value)})"
        )


class OpenGaussTarget(PostgresTarget):
    capabilities = OPENGAUSS_CAPABILITIES
    dialect = OpenGaussDialect(OPENGAUSS_CAPABILITIES)
    # openGauss's binary COPY is not wire-compatible for every type; CSV is the safe path.
    binary_copy = False

    def _ensure_partition(self, schema: str | None, info: TableInfo, p: PartitionValue) -> None:
        """openGauss lists partitions in pg_partition (no pg_inherits, no partition bounds)."""
        oid = self._oid(schema, info.name)
        partitioned = self._query(
            "SELECT 1 FROM pg_partition WHERE parentid = %s AND parttype = 'r'", (oid,)
        )
        if not partitioned:
            return
        name = f"p{p.bizdate:%Y%m%d}"
        exists = self._query(
            "SELECT 1 FROM pg_partition WHERE parentid = %s AND parttype = 'p' AND relname = %s",
            (oid, name),
        )
        if not exists:
            self._run(
                [Statement(self.dialect.add_partition(schema, info.name, p))], transaction=False
            )
