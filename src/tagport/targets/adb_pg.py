"""AnalyticDB for PostgreSQL: Greenplum-based, distributed by the entity ID, never partitioned.

A partition field still becomes a key column; a run replaces the bizdate's rows by value
(delete + upsert in one transaction) instead of swapping a partition.
"""

from __future__ import annotations

from dataclasses import replace

from tagport.targets.greenplum import DistributedDialect
from tagport.targets.postgres import PG_CAPABILITIES, PostgresTarget

ADB_PG_CAPABILITIES = replace(
    PG_CAPABILITIES,
    partitioned_tables=False,
    distributed_by=True,
    bulk_path="COPY FROM STDIN (FORMAT CSV)",
)


class AdbPgTarget(PostgresTarget):
    capabilities = ADB_PG_CAPABILITIES
    dialect = DistributedDialect(ADB_PG_CAPABILITIES)
    binary_copy = False
