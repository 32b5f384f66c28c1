"""Greenplum (7): the PostgreSQL runtime, plus `DISTRIBUTED BY` the entity ID.

Greenplum 7 takes PostgreSQL's declarative partitioning; `DISTRIBUTED BY` comes last. The
distribution key is the entity ID, which is part of every unique key we generate.
"""

from __future__ import annotations

from dataclasses import replace

from tagport.targets.base import TableDdl
from tagport.targets.postgres import PG_CAPABILITIES, PgDialect, PostgresTarget

GREENPLUM_CAPABILITIES = replace(
    PG_CAPABILITIES, distributed_by=True, bulk_path="COPY FROM STDIN (FORMAT CSV)"
)


class DistributedDialect(PgDialect):
    """PostgreSQL statements plus `DISTRIBUTED BY` the entity ID on CREATE TABLE."""

    def table_options(self, table: TableDdl) -> str:
        if not table.distributed_by:
            return super().table_options(table)
        ids = ", ".join(self.quote(c) for c in table.distributed_by)
        return super().table_options(table) + f" DISTRIBUTED BY ({ids})"


class GreenplumTarget(PostgresTarget):
    capabilities = GREENPLUM_CAPABILITIES
    dialect = DistributedDialect(GREENPLUM_CAPABILITIES)
    # Greenplum's COPY has no binary format: CSV written from Arrow.
    binary_copy = False
