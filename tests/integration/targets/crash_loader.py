"""Run as a subprocess: load a target until killed from outside, or kill itself at a swap point.

    python -m tests.integration.targets.crash_loader KIND PARAMS TABLE            # endless load
    python -m tests.integration.targets.crash_loader KIND PARAMS TABLE POINT ROWS SEED

KIND is a data source type, or one of `NON_ATOMIC`: the same server made to swap like a database
without atomic renames (Oracle), so that a crash can fall between the two renames.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence

import pyarrow as pa

from tagport.domain.catalog import DataSourceType
from tagport.targets import ConnectionParams, Target, open_target
from tagport.targets.base import set_swap_hook
from tagport.targets.mysql import MYSQL_CAPABILITIES, MySqlDialect, MySqlTarget
from tagport.targets.postgres import PostgresTarget
from tagport.targets.sql import Dialect, Statement
from tests.integration.targets.data import as_reader, export_table


class NonAtomicPostgres(PostgresTarget):
    """PostgreSQL swapping statement by statement, each committed on its own (as Oracle does)."""

    def _swap(self, schema: str | None, table: str) -> None:
        self._build_indexes(schema, table)
        self._run(self.dialect.swap(schema, table), transaction=False)


class _TwoRenames(MySqlDialect):
    def swap(self, schema: str | None, table: str) -> list[Statement]:
        return Dialect.swap(self, schema, table)  # RENAME TABLE a TO b; RENAME TABLE c TO a


class NonAtomicMySql(MySqlTarget):
    """MariaDB renaming the target away and the staging table in by two statements."""

    dialect = _TwoRenames(MYSQL_CAPABILITIES)


NON_ATOMIC: dict[str, type[Target]] = {
    "postgresql-non-atomic": NonAtomicPostgres,
    "mysql-non-atomic": NonAtomicMySql,
}


def open_kind(kind: str, params: ConnectionParams) -> Target:
    if kind in NON_ATOMIC:
        return NON_ATOMIC[kind](params)
    return open_target(DataSourceType(kind), params)


def endless(schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    seed = 0
    while True:
        seed += 1
        yield from export_table(5_000, seed=seed).to_batches()
        time.sleep(0.01)


def crash_at(wanted: str) -> None:
    """Install a swap hook that SIGKILLs this process when the write reaches `wanted`."""

    def hook(point: str) -> None:
        if point == wanted:
            os.kill(os.getpid(), signal.SIGKILL)

    set_swap_hook(hook)


def main(argv: Sequence[str]) -> None:
    kind, params, table = argv[0], ConnectionParams(**json.loads(argv[1])), argv[2]
    with open_kind(kind, params) as target:
        if len(argv) > 3:
            crash_at(argv[3])
            target.write(table, as_reader(export_table(int(argv[4]), seed=int(argv[5]))))
            return
        schema = export_table(1).schema
        reader = pa.RecordBatchReader.from_batches(schema, endless(schema))
        target.write(table, reader, progress=lambda p: print(p.rows, flush=True))


if __name__ == "__main__":
    main(sys.argv[1:])
