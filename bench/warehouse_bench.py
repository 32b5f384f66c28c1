"""Warehouse bench: audience estimate latency and export throughput / peak RSS on N users.

    .venv/bin/python bench/warehouse_bench.py --rows 10000000 [--dir /tmp/tagport-bench]
        [--engine duckdb|spark] [--memory-limit 160MB] [--unique-sources] [--exports 2]

Builds the demo warehouse on the chosen engine (the same generated data on both: the demo
generator is seeded; reused when present with the same row count), then, each in a fresh
process so peak RSS is its own: the estimate of every demo audience and of the everyone-audience,
and the export of the everyone-audience (all N users) with 8 tag columns, read batch by batch.

The warehouse is the one `services.warehouse.open_warehouse` opens for the engine, with the
project's defaults (`TAGPORT_SPARK_*`; DuckDB without a memory limit unless `--memory-limit`).
On Spark the session (a JVM) is started by a trivial query before the clock starts, and timed on
its own: a worker process keeps its session. Peak RSS is the process's `VmHWM` (ru_maxrss is
carried from a parent into its children); on Spark the JVM's own `VmHWM` is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from tagport.config import Settings, WarehouseEngine
from tagport.domain.tasks import TagOutput
from tagport.services.warehouse import open_warehouse
from tagport.warehouse import demo
from tagport.warehouse.base import ExportColumn, ExportPlan, Warehouse
from tagport.warehouse.duckdb import CHUNK_ROWS, DuckDBWarehouse

EVERYONE = demo.everyone("bench")


def vm_hwm_mb(pid: int | str = "self") -> int:
    """Peak RSS of a process (`VmHWM`), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    return int(line.split()[1]) // 1024


def open_bench_warehouse(args: argparse.Namespace) -> Warehouse:
    """The engine's warehouse as the services open it, with this bench's options applied."""
    settings = Settings(home=args.dir / f"home-{args.rows}", warehouse=args.engine)
    house = open_warehouse(settings)
    if isinstance(house, DuckDBWarehouse):
        return DuckDBWarehouse(
            house.path,
            memory_limit=args.memory_limit,
            unique_sources=args.unique_sources,
            chunk_rows=args.chunk_rows,
        )
    from tagport.warehouse.spark import SparkWarehouse

    assert isinstance(house, SparkWarehouse)
    return SparkWarehouse(
        house.root, house.config, unique_sources=args.unique_sources, chunk_rows=args.chunk_rows
    )


def cpu_seconds(pid: int | str = "self") -> float:
    """CPU time (user + system, all threads) a process has used so far: on a shared machine a
    steadier measure of an engine's work than the wall clock."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_engine(house: Warehouse) -> dict[str, object]:
    """Spark: start the session with a trivial query and time it (a worker keeps it); the
    JVM's pid, to read its peak RSS later. DuckDB: nothing to start."""
    from tagport.warehouse.spark import SparkWarehouse, spark_session

    if not isinstance(house, SparkWarehouse):
        return {}
    started = time.perf_counter()
    session = spark_session(house.config)
    session.sql("SELECT 1").collect()
    pid = session.sparkContext._jvm.java.lang.ProcessHandle.current().pid()  # type: ignore[union-attr]
    return {"session_start_s": round(time.perf_counter() - started, 2), "jvm_pid": int(pid)}


def memory(started: dict[str, object]) -> dict[str, object]:
    """Peak RSS of this process and, on Spark, of its JVM."""
    peaks: dict[str, object] = {"peak_rss_mb": vm_hwm_mb()}
    if "jvm_pid" in started:
        peaks["jvm_peak_rss_mb"] = vm_hwm_mb(str(started["jvm_pid"]))
    return peaks


def build(house: Warehouse, marker: Path, rows: int) -> dict[str, object]:
    if marker.exists() and marker.read_text() == str(rows):
        return {"build_s": None, "reused": True}
    today = date.today()
    days = [today - timedelta(days=2), today - timedelta(days=1)]
    started = time.perf_counter()
    data = demo.build_demo_data(house, rows, days)
    elapsed = time.perf_counter() - started
    marker.write_text(str(rows))
    return {"build_s": round(elapsed, 2), "tables": data.tables}


def estimate(house: Warehouse) -> dict[str, object]:
    engine = start_engine(house)
    the_scope = demo.demo_scope("bench")
    bizdate = date.today() - timedelta(days=1)
    results: dict[str, object] = dict(engine)
    for audience in [
        EVERYONE,
        the_scope.audiences["active_women_hz_sh"],
        the_scope.audiences["big_spenders"],
    ]:
        started = time.perf_counter()
        house.estimate(the_scope, audience, bizdate)  # warms the file cache (and Spark's JIT)
        first = time.perf_counter() - started
        started = time.perf_counter()
        size = house.estimate(the_scope, audience, bizdate)
        results[audience.code] = {
            "size": size,
            "first_s": round(first, 3),
            "seconds": round(time.perf_counter() - started, 3),
        }
    return results | memory(engine)


def export(house: Warehouse, batch_size: int, repeat: int) -> dict[str, object]:
    """The export `repeat` times in this process (a worker's later runs find its session
    and the JVM's compiled code warm)."""
    engine = start_engine(house)
    the_scope = demo.demo_scope("bench")
    tags = [TagOutput(tag=code) for code in sorted(the_scope.tags)]
    columns = [ExportColumn("user_id", "user_id")] + [ExportColumn(t.tag, t.tag) for t in tags]
    plan = ExportPlan(
        EVERYONE, the_scope, date.today() - timedelta(days=1), tags, columns, ["user_id"], "ds"
    )
    before = vm_hwm_mb()
    jvm = engine.get("jvm_pid")
    runs = [read_export(house, plan, batch_size, jvm) for _ in range(repeat)]
    return engine | runs[0] | {"repeats": runs[1:], "rss_before_mb": before} | memory(engine)


def read_export(
    house: Warehouse, plan: ExportPlan, batch_size: int, jvm: object = None
) -> dict[str, object]:
    """One export, read to the end batch by batch; the CPU it took (this process's and, on
    Spark, the JVM's: the query runs there)."""
    cpu = cpu_seconds()
    jvm_cpu = cpu_seconds(str(jvm)) if jvm else 0.0
    started = time.perf_counter()
    first_batch: float | None = None
    rows = batches = 0
    for batch in house.export_reader(plan, batch_size):
        if first_batch is None:
            first_batch = time.perf_counter() - started
        rows += batch.num_rows
        batches += 1
    elapsed = time.perf_counter() - started
    return {
        "rows": rows,
        "columns": len(plan.output_columns()),
        "batches": batches,
        # Spark: the job (query + Parquet write) ends before the first batch; the rest is the
        # read-back. DuckDB: the first range's query.
        "first_batch_s": round(first_batch or 0.0, 2),
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "cpu_s": round(cpu_seconds() - cpu, 2),
    } | ({"jvm_cpu_s": round(cpu_seconds(str(jvm)) - jvm_cpu, 2)} if jvm else {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tagport-bench"))
    parser.add_argument("--engine", choices=[e.value for e in WarehouseEngine], default="duckdb")
    parser.add_argument("--memory-limit", default=None, help="DuckDB's memory_limit.")
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, help="Members per export query (1e12: one)."
    )
    parser.add_argument(
        "--unique-sources", action="store_true", help="Trust sources unique on key (no GROUP BY)."
    )
    parser.add_argument("--exports", type=int, default=1, help="Exports run in the one process.")
    parser.add_argument("--step", choices=["all", "build", "estimate", "export"], default="all")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.step != "all":
        house = open_bench_warehouse(args)
        marker = args.dir / f"home-{args.rows}" / f"{args.engine}.rows"
        result = {
            "build": lambda: build(house, marker, args.rows),
            "estimate": lambda: estimate(house),
            "export": lambda: export(house, args.batch_size, args.exports),
        }[args.step]()
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
            "--engine",
            args.engine,
            "--batch-size",
            str(args.batch_size),
            "--chunk-rows",
            str(args.chunk_rows),
            "--exports",
            str(args.exports),
        ]
        if args.memory_limit:
            command += ["--memory-limit", args.memory_limit]
        if args.unique_sources:
            command.append("--unique-sources")
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        print(f"{step}: {out.strip()}", flush=True)


if __name__ == "__main__":
    main()
