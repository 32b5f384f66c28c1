"""Spark against DuckDB, row for row, at scale: the everyone-audience of N users (user ID, 8 tag
columns and `ds`) exported into PostgreSQL and into MariaDB by each engine — DuckDB's streams
read by this process and loaded by it, Spark's tasks loading their slices themselves
(`SparkWarehouse.sliced_export`) — then compared inside each server, row by row both ways
(joined on the key, every column compared NULL-safely).

    .venv/bin/python bench/warehouse_bench.py --step build --rows 10000000 --engine duckdb --dir D
    .venv/bin/python bench/warehouse_bench.py --step build --rows 10000000 --engine spark --dir D
    .venv/bin/python bench/spark_rows_check.py --rows 10000000 --dir D [--streams 2]

The two builds write the same seeded demo data. Each load is timed on its own; the Spark session
is started before the clock. Exits non-zero when any row differs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from warehouse_bench import EVERYONE, open_bench_warehouse, start_engine

from tagport.domain.catalog import DataSourceType
from tagport.domain.tasks import TagOutput
from tagport.domain.values import ValueType
from tagport.targets import ColumnDesign, ConnectionParams, TableDesign, open_target
from tagport.targets.base import Target
from tagport.warehouse import demo
from tagport.warehouse.base import ExportColumn, ExportPlan, Warehouse

SERVERS = {
    DataSourceType.POSTGRESQL: ConnectionParams(
        host="127.0.0.1", port=5432, database="test", username="postgres", schema="public"
    ),
    DataSourceType.MYSQL: ConnectionParams(
        host="127.0.0.1", port=3306, database="test", username="root"
    ),
}


def export_plan(ordered: bool) -> ExportPlan:
    the_scope = demo.demo_scope("bench")
    tags = [TagOutput(tag=code) for code in sorted(the_scope.tags)]
    columns = [ExportColumn("user_id", "user_id")] + [ExportColumn(t.tag, t.tag) for t in tags]
    bizdate = date.today() - timedelta(days=1)
    return ExportPlan(
        EVERYONE, the_scope, bizdate, tags, columns, ["user_id"], "ds", ordered=ordered
    )


def design(plan: ExportPlan, name: str) -> TableDesign:
    entity = plan.scope.entity
    columns = [ColumnDesign("user_id", entity.id_type, "user ID", is_key=True)]
    columns += [ColumnDesign(t.tag, plan.scope.tags[t.tag].spec.type, t.tag) for t in plan.tags]
    columns.append(ColumnDesign("ds", ValueType.parse("string"), "data timestamp"))
    return TableDesign(name, tuple(columns), name)


def fresh_table(target: Target, plan: ExportPlan, name: str) -> None:
    if name in target.list_tables(target.params.schema):
        target.drop_table(name)
    target.create_table(target.create_table_sql(design(plan, name)))


def differing(target: Target, plan: ExportPlan, left: str, right: str) -> int:
    """Rows of `left` with no equal row in `right`: joined on the key (both are keyed by the
    user ID), every other column compared NULL-safely. Equal row counts and no differing row
    means the tables hold the same rows."""
    d = target.dialect  # type: ignore[attr-defined]
    a, b = d.qualify(target.params.schema, left), d.qualify(target.params.schema, right)
    same = " <=> " if d.quote_char == "`" else " IS NOT DISTINCT FROM "
    names = [c.name for c in plan.output_columns() if c.name != "user_id"]
    equal = " AND ".join(f"a.{d.quote(n)}{same}b.{d.quote(n)}" for n in names)
    query = (
        f"SELECT COUNT(*) FROM {a} a LEFT JOIN {b} b ON a.user_id = b.user_id "
        f"WHERE b.user_id IS NULL OR NOT ({equal})"
    )
    return int(target._query(query)[0][0])  # type: ignore[attr-defined]


def check(
    kind: DataSourceType, duck: Warehouse, spark: Warehouse, streams: int
) -> dict[str, object]:
    with open_target(kind, SERVERS[kind]) as target:
        plan = export_plan(target.capabilities.sorted_load)
        fresh_table(target, plan, "rows_duckdb")
        fresh_table(target, plan, "rows_spark")
        started = time.perf_counter()
        from_duck = target.write("rows_duckdb", duck.export_readers(plan, streams))
        duck_s = time.perf_counter() - started
        sliced = spark.sliced_export(plan, streams)
        assert sliced is not None
        started = time.perf_counter()
        from_spark = target.write("rows_spark", sliced)
        spark_s = time.perf_counter() - started
        only_duck = differing(target, plan, "rows_duckdb", "rows_spark")
        only_spark = differing(target, plan, "rows_spark", "rows_duckdb")
        for table in ("rows_duckdb", "rows_spark"):
            target.drop_table(table)
    return {
        "target": kind.value,
        "streams": streams,
        "duckdb_rows": from_duck.rows,
        "duckdb_s": round(duck_s, 1),
        "spark_rows": from_spark.rows,
        "spark_s": round(spark_s, 1),
        "spark_slices": sliced.slices,
        "only_in_duckdb": only_duck,
        "only_in_spark": only_spark,
        "equal": only_duck == only_spark == 0 and from_duck.rows == from_spark.rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tagport-bench"))
    parser.add_argument("--streams", type=int, default=2, help="Streams (DuckDB), slices (Spark).")
    parser.add_argument("--target", choices=["postgresql", "mysql", "both"], default="both")
    args = parser.parse_args()
    options = {"rows": args.rows, "dir": args.dir, "memory_limit": None}
    common = {"unique_sources": False, "chunk_rows": 250_000, **options}
    duck = open_bench_warehouse(argparse.Namespace(engine="duckdb", **common))
    spark = open_bench_warehouse(argparse.Namespace(engine="spark", **common))
    print(json.dumps({"spark_session": start_engine(spark)}), flush=True)
    kinds = [DataSourceType.POSTGRESQL, DataSourceType.MYSQL]
    if args.target != "both":
        kinds = [DataSourceType(args.target)]
    results = []
    for kind in kinds:
        results.append(check(kind, duck, spark, args.streams))
        print(json.dumps(results[-1]), flush=True)
    if not all(r["equal"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
