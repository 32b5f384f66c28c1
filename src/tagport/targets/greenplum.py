"""Greenplum (7): the PostgreSQL runtime, plus `DISTRIBUTED BY` the entity ID.

Greenplum 7 takes PostgreSQL's declarative partitioning; `DISTRIBUTED BY` comes last. The
distribution key is the entity ID, which is part of every unique key we generate.
"""

from __future__ import annotations

from dataclasses import replace

from tagport.targets.base import TableDesign
from tagport.targets.postgres import PG_CAPABILITIES, PgDialect, PostgresTarget

GREENPLUM_CAPABILITIES = replace(
    PG_CAPABILITIES, distributed_by=True, bulk_path="COPY FROM STDIN (FORMAT CSV)"
)


class DistributedDialect(PgDialect):
    """PostgreSQL statements plus `DISTRIBUTED BY` the entity ID on CREATE TABLE."""

    def table_options(self, design: TableDesign, schema: str | None) -> str:
        ids = [self.quote(c.name) for c in design.columns if c.is_key]
        distribution = f" DISTRIBUTED BY ({', '.join(ids)})" if ids else " DISTRIBUTED RANDOMLY"
        return super().table_options(design, schema) + distribution


class GreenplumTarget(PostgresTarget):
    capabilities = GREENPLUM_CAPABILITIES
    dialect = DistributedDialect(GREENPLUM_CAPABILITIES)
    # Greenplum's COPY has no binary format: CSV written from Arrow.
    binary_copy = False
