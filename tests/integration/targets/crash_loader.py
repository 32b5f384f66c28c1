"""Run as a subprocess: start an endless load into a target and print progress until killed."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import pyarrow as pa

from tagport.domain.catalog import DataSourceType
from tagport.targets import ConnectionParams, open_target
from tests.integration.targets.data import export_table


def endless(schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    seed = 0
    while True:
        seed += 1
        yield from export_table(5_000, seed=seed).to_batches()
        time.sleep(0.01)


def main() -> None:
    kind, params, table = DataSourceType(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    schema = export_table(1).schema
    reader = pa.RecordBatchReader.from_batches(schema, endless(schema))
    with open_target(kind, ConnectionParams(**params)) as target:
        target.write(table, reader, progress=lambda p: print(p.rows, flush=True))


if __name__ == "__main__":
    main()
