"""Warehouse bench: audience estimate latency and export throughput / peak RSS on N users.

    .venv/bin/python bench/warehouse_bench.py --rows 10000000 [--dir /tmp/tagport-bench]
        [--memory-limit 300MB] [--unique-sources]

Builds the demo warehouse (reused when present with the same row count), then, each in a fresh
process so peak RSS is its own: the estimate of every demo audience and of the everyone-audience,
and the export of the everyone-audience (all N users) with 8 tag columns, read batch by batch.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, LookupTableSpec, TagSpec
from tagport.domain.rules import parse_rule
from tagport.domain.tasks import TagOutput
from tagport.warehouse import demo
from tagport.warehouse.base import AudienceScope, ExportColumn, ExportPlan, TagRef
from tagport.warehouse.duckdb import CHUNK_ROWS, DuckDBWarehouse

EVERYONE = AudienceGroupSpec(
    code="everyone",
    name="Everyone",
    entity="user",
    owner="bench",
    rule=parse_rule({"not": {"tag": "gender", "op": "=", "value": "nobody"}}),
)


def scope() -> AudienceScope:
    specs = demo.demo_catalog(Path("unused.txt"), "bench")
    entity = next(s for s in specs if isinstance(s, EntitySpec))
    lookups = {s.code: s.codes for s in specs if isinstance(s, LookupTableSpec)}
    tags = {
        s.code: TagRef(s, lookups.get(s.lookup) if s.lookup else None)
        for s in specs
        if isinstance(s, TagSpec)
    }
    audiences = {s.code: s for s in specs if isinstance(s, AudienceGroupSpec)}
    return AudienceScope(entity, tags, audiences)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(path: Path, rows: int) -> dict[str, object]:
    marker = path.with_suffix(".rows")
    if path.exists() and marker.exists() and marker.read_text() == str(rows):
        return {"build_s": None, "reused": True}
    path.unlink(missing_ok=True)
    today = date.today()
    days = [today - timedelta(days=2), today - timedelta(days=1)]
    started = time.perf_counter()
    data = demo.build_demo_data(DuckDBWarehouse(path), rows, days)
    elapsed = time.perf_counter() - started
    marker.write_text(str(rows))
    return {"build_s": round(elapsed, 2), "tables": data.tables}


def estimate(path: Path, memory_limit: str | None, unique: bool) -> dict[str, object]:
    house = DuckDBWarehouse(path, memory_limit=memory_limit, unique_sources=unique)
    the_scope = scope()
    bizdate = date.today() - timedelta(days=1)
    results: dict[str, object] = {}
    for audience in [
        EVERYONE,
        the_scope.audiences["active_women_hz_sh"],
        the_scope.audiences["big_spenders"],
    ]:
        house.estimate(the_scope, audience, bizdate)  # warm the file cache
        started = time.perf_counter()
        size = house.estimate(the_scope, audience, bizdate)
        results[audience.code] = {"size": size, "seconds": round(time.perf_counter() - started, 3)}
    results["peak_rss_mb"] = round(peak_rss_mb())
    return results


def export(
    path: Path, memory_limit: str | None, batch_size: int, unique: bool, chunk_rows: int
) -> dict[str, object]:
    house = DuckDBWarehouse(
        path, memory_limit=memory_limit, unique_sources=unique, chunk_rows=chunk_rows
    )
    the_scope = scope()
    tags = [TagOutput(tag=code) for code in sorted(the_scope.tags)]
    columns = [ExportColumn("user_id", "user_id")] + [ExportColumn(t.tag, t.tag) for t in tags]
    plan = ExportPlan(
        EVERYONE, the_scope, date.today() - timedelta(days=1), tags, columns, ["user_id"], "ds"
    )
    before = peak_rss_mb()
    started = time.perf_counter()
    rows = batches = 0
    for batch in house.export_reader(plan, batch_size):
        rows += batch.num_rows
        batches += 1
    elapsed = time.perf_counter() - started
    return {
        "rows": rows,
        "columns": len(plan.output_columns()),
        "batches": batches,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "rss_before_mb": round(before),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tagport-bench"))
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, help="Members per export query (1e12: one)."
    )
    parser.add_argument(
        "--unique-sources", action="store_true", help="Trust sources unique on key (no GROUP BY)."
    )
    parser.add_argument("--step", choices=["all", "build", "estimate", "export"], default="all")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"warehouse-{args.rows}.duckdb"
    if args.step == "build":
        print(json.dumps(build(path, args.rows)))
        return
    if args.step == "estimate":
        print(json.dumps(estimate(path, args.memory_limit, args.unique_sources)))
        return
    if args.step == "export":
        result = export(
            path, args.memory_limit, args.batch_size, args.unique_sources, args.chunk_rows
        )
        print(json.dumps(result))
        return
    for step in ("build", "estimate", "export"):
        command = [
            sys.executable,
            __file__,
            "--step",
            step,
            "--rows",
            str(args.rows),
            "--dir",
            str(args.dir),
            "--batch-size",
            str(args.batch_size),
            "--chunk-rows",
            str(args.chunk_rows),
        ]
        if args.memory_limit:
            command += ["--memory-limit", args.memory_limit]
        if args.unique_sources:
            command.append("--unique-sources")
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        print(f"{step}: {out.strip()}", flush=True)


if __name__ == "__main__":
    main()
