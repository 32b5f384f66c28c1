"""Targets benchmark: tagport's load + swap against the physical limit and common tools.

Same rows for every contender: ROWS members × (bigint id + 8 tag columns), written once to an
Arrow IPC file (tagport, ADBC, pandas and dlt read it) and to a CSV file (psql \\copy, mariadb
LOAD DATA LOCAL INFILE). Every tagport run happens in a child process so its peak RSS is its own.

    .venv/bin/python bench/targets_bench.py --rows 5000000 [--slow-rows 200000]

Slow contenders (pandas.to_sql, dlt) run on --slow-rows rows; their time is scaled linearly to
ROWS and marked as such. Servers: PostgreSQL 127.0.0.1:5432 db test, MariaDB 127.0.0.1:3306.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}
BATCH = 100_000
PG_DDL = (
    "CREATE TABLE {t} (user_id bigint PRIMARY KEY, city text, city_codename text, age bigint, "
    "score double precision, balance numeric(18,4), vip boolean, birthday date, "
    "last_seen timestamp)"
)
MYSQL_DDL = (
    "CREATE TABLE {t} (user_id bigint PRIMARY KEY, city text, city_codename text, age bigint, "
    "score double, balance decimal(18,4), vip tinyint(1), birthday date, last_seen datetime(6))"
)
CITIES = np.array(["Hangzhou", "Beijing", "Shanghai", "Shenzhen", "Chengdu", "杭州", "Xi'an"])


def batches(rows: int) -> Iterator[pa.RecordBatch]:
    """Deterministic export-shaped batches: id + 8 tags."""
    rng = np.random.default_rng(42)
    for start in range(0, rows, BATCH):
        n = min(BATCH, rows - start)
        city_idx = rng.integers(0, len(CITIES), n)
        unscaled = rng.integers(-(10**12), 10**12, n)
        words = np.empty((n, 2), np.int64)
        words[:, 0], words[:, 1] = unscaled, np.where(unscaled < 0, -1, 0)
        yield pa.record_batch(
            {
                "user_id": pa.array(np.arange(start, start + n, dtype=np.int64)),
                "city": pa.array(CITIES[city_idx]),
                "city_codename": pa.array(np.char.add("code-", CITIES[city_idx])),
                "age": pa.array(rng.integers(0, 100, n)),
                "score": pa.array(rng.random(n)),
                "balance": pa.Array.from_buffers(
                    pa.decimal128(18, 4), n, [None, pa.py_buffer(words.tobytes())]
                ),
                "vip": pa.array(rng.integers(0, 2, n) == 1),
                "birthday": pa.array(
                    (np.datetime64("1970-01-01") + rng.integers(0, 20000, n)).astype(
                        "datetime64[D]"
                    )
                ),
                "last_seen": pa.array(
                    (np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 10**8, n)).astype(
                        "datetime64[us]"
                    )
                ),
            }
        )


def write_inputs(rows: int, folder: Path) -> tuple[Path, Path]:
    """The Arrow IPC file and the CSV file of the same rows."""
    arrow_path, csv_path = folder / "rows.arrow", folder / "rows.csv"
    gen = batches(rows)
    first = next(gen)
    options = pacsv.WriteOptions(include_header=False)
    with (
        ipc.new_file(arrow_path, first.schema) as sink,
        pacsv.CSVWriter(csv_path, first.schema, write_options=options) as csv,
    ):
        for batch in (first, *gen):
            sink.write_batch(batch)
            bool_as_int = batch  # MariaDB reads tinyint from 1/0, PostgreSQL accepts both
            csv.write_batch(bool_as_int.set_column(6, "vip", bool_as_int.column(6).cast(pa.int8())))
    return arrow_path, csv_path


def reader(arrow_path: Path, rows: int | None = None) -> pa.RecordBatchReader:
    # A plain file, not a memory map: mapped pages would count in the RSS we measure.
    source = ipc.open_file(pa.OSFile(str(arrow_path)))
    count = source.num_record_batches
    parts = (source.get_batch(i) for i in range(count))
    if rows is not None:
        parts = (b for i, b in enumerate(parts) if i * BATCH < rows)
    return pa.RecordBatchReader.from_batches(source.schema, parts)


def pg(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for s in statements:
            conn.execute(s.encode())


def my(*statements: str) -> None:
    import pymysql

    with pymysql.connect(**MYSQL, autocommit=True) as conn, conn.cursor() as cur:  # type: ignore[arg-type]
        for s in statements:
            cur.execute(s)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# tagport contenders run in a child process (peak RSS measured there)
def tagport_child(kind: str, arrow_path: Path) -> None:
    from tagport.domain.catalog import DataSourceType
    from tagport.targets import ConnectionParams, open_target

    if kind in ("postgresql", "greenplum"):
        # `greenplum` runs the PostgreSQL-compatible CSV COPY path against PostgreSQL, to
        # measure what binary COPY buys.
        pg("DROP TABLE IF EXISTS public.bench_tp", PG_DDL.format(t="public.bench_tp"))
        params = ConnectionParams(
            host="127.0.0.1", port=5432, database="test", username="postgres", schema="public"
        )
        # Existing content, so the run is a real swap of a populated table.
        pg("INSERT INTO public.bench_tp (user_id) SELECT generate_series(1, 1000)")
    else:
        my("DROP TABLE IF EXISTS bench_tp", MYSQL_DDL.format(t="bench_tp"))
        my("INSERT INTO bench_tp (user_id) VALUES (1), (2), (3)")
        params = ConnectionParams(host="127.0.0.1", port=3306, database="test", username="root")
    with open_target(DataSourceType(kind), params) as target:
        started = time.perf_counter()
        result = target.write("bench_tp", reader(arrow_path))
        seconds = time.perf_counter() - started
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent.
    status = Path("/proc/self/status").read_text()
    peak_mb = (
        int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM")).split()[1]) / 1024
    )
    print(json.dumps({"seconds": seconds, "rows": result.rows, "peak_rss_mb": peak_mb}))


def run_tagport(kind: str, arrow_path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--arrow", str(arrow_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def psql_copy(csv_path: Path) -> float:
    pg("DROP TABLE IF EXISTS public.bench_psql", PG_DDL.format(t="public.bench_psql"))
    command = [
        "psql",
        PG_URL,
        "-c",
        f"\\copy public.bench_psql FROM '{csv_path}' WITH (FORMAT csv)",
    ]
    return timed(lambda: subprocess.run(command, check=True, capture_output=True))


def psql_copy_then_index(csv_path: Path) -> float:
    """The limit with the same index strategy as tagport: load a bare heap, then add the key."""
    ddl = PG_DDL.format(t="public.bench_psql").replace(" PRIMARY KEY", "")
    pg("DROP TABLE IF EXISTS public.bench_psql", ddl)
    command = [
        "psql",
        PG_URL,
        "-c",
        f"\\copy public.bench_psql FROM '{csv_path}' WITH (FORMAT csv)",
    ]

    def load() -> None:
        subprocess.run(command, check=True, capture_output=True)
        pg("ALTER TABLE public.bench_psql ADD PRIMARY KEY (user_id)")

    return timed(load)


def mariadb_load(csv_path: Path) -> float:
    my("DROP TABLE IF EXISTS bench_cli", MYSQL_DDL.format(t="bench_cli"))
    statement = (
        f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE bench_cli CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"'"
    )
    command = ["mariadb", "--local-infile=1", "-h127.0.0.1", "-uroot", "test", "-e", statement]
    return timed(lambda: subprocess.run(command, check=True, capture_output=True))


def adbc_pg(arrow_path: Path) -> float:
    import adbc_driver_postgresql.dbapi as adbc

    pg("DROP TABLE IF EXISTS public.bench_adbc", PG_DDL.format(t="public.bench_adbc"))

    def load() -> None:
        with adbc.connect(PG_URL) as conn, conn.cursor() as cur:
            cur.adbc_ingest("bench_adbc", reader(arrow_path), mode="append")
            conn.commit()

    return timed(load)


def pandas_to_sql(kind: str, arrow_path: Path, rows: int) -> float:
    import sqlalchemy

    table = pa.Table.from_batches(reader(arrow_path, rows)).slice(0, rows)
    frame = table.to_pandas()
    if kind == "postgresql":
        pg("DROP TABLE IF EXISTS public.bench_pandas", PG_DDL.format(t="public.bench_pandas"))
        engine = sqlalchemy.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    else:
        my("DROP TABLE IF EXISTS bench_pandas", MYSQL_DDL.format(t="bench_pandas"))
        engine = sqlalchemy.create_engine("mysql+pymysql://root@127.0.0.1:3306/test")
    with engine.begin() as conn:
        return timed(
            lambda: frame.to_sql(
                "bench_pandas",
                conn,
                if_exists="append",
                index=False,
                chunksize=10_000,
                dtype={"balance": sqlalchemy.Numeric(18, 4)},
            )
        )


def dlt_load(kind: str, arrow_path: Path, rows: int) -> float:
    import dlt

    table = pa.Table.from_batches(reader(arrow_path, rows)).slice(0, rows)
    if kind == "postgresql":
        # dlt insists on a password; the server's trust authentication ignores it.
        destination = dlt.destinations.postgres(PG_URL.replace("postgres@", "postgres:unused@"))
    else:
        destination = dlt.destinations.sqlalchemy("mysql+pymysql://root@127.0.0.1:3306/test")
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{kind}",
        destination=destination,
        dataset_name="bench_dlt",
        pipelines_dir=tempfile.mkdtemp(prefix="dlt-"),
    )
    return timed(lambda: pipeline.run(table, table_name="bench_dlt", write_disposition="replace"))


def attempt(label: str, action: Callable[[], float], results: dict[str, object]) -> None:
    try:
        results[label] = round(action(), 2)
    except Exception as exc:  # a contender that cannot run is reported, not fatal
        results[label] = f"not run: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    print(f"{label}: {results[label]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--slow-rows", type=int, default=200_000)
    parser.add_argument(
        "--only",
        choices=["all", "core", "pg"],
        default="all",
        help="core: only tagport and the psql/mariadb limits",
    )
    parser.add_argument("--child")
    parser.add_argument("--arrow")
    args = parser.parse_args()
    if args.child:
        tagport_child(args.child, Path(args.arrow))
        return
    folder = Path(tempfile.mkdtemp(prefix="tagport-bench-"))
    try:
        started = time.perf_counter()
        arrow_path, csv_path = write_inputs(args.rows, folder)
        print(f"inputs: {args.rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        scale = args.rows / args.slow_rows
        results: dict[str, object] = {"rows": args.rows, "slow_rows": args.slow_rows}
        attempt("pg psql \\copy (CSV)", lambda: psql_copy(csv_path), results)
        tp = run_tagport("postgresql", arrow_path)
        results["postgresql tagport load+swap"] = round(tp["seconds"], 2)
        results["postgresql tagport peak RSS MB"] = round(tp["peak_rss_mb"], 1)
        print("postgresql", tp, flush=True)
        attempt(
            "pg psql \\copy into a bare table + ADD PRIMARY KEY",
            lambda: psql_copy_then_index(csv_path),
            results,
        )
        tp = run_tagport("greenplum", arrow_path)
        results["tagport CSV COPY path (greenplum class) on PostgreSQL"] = round(tp["seconds"], 2)
        if args.only == "pg":
            print(json.dumps(results, indent=2, ensure_ascii=False))
            return
        # MariaDB's timings swing with InnoDB flushing (128 MB buffer pool here): alternate the
        # client and tagport twice and keep the best of each.
        cli_runs: list[float] = []
        tp_runs: list[float] = []
        for _ in range(2):
            cli_runs.append(mariadb_load(csv_path))
            tp = run_tagport("mysql", arrow_path)
            tp_runs.append(tp["seconds"])
            results["mysql tagport peak RSS MB"] = round(tp["peak_rss_mb"], 1)
            print("mysql", cli_runs[-1], tp, flush=True)
        results["mariadb LOAD DATA LOCAL (CSV) runs"] = [round(x, 2) for x in cli_runs]
        results["mysql tagport load+swap runs"] = [round(x, 2) for x in tp_runs]
        results["mariadb LOAD DATA LOCAL (CSV)"] = round(min(cli_runs), 2)
        results["mysql tagport load+swap"] = round(min(tp_runs), 2)
        for kind in ("postgresql", "mysql"):
            limit = results.get(
                "pg psql \\copy (CSV)" if kind == "postgresql" else "mariadb LOAD DATA LOCAL (CSV)"
            )
            if isinstance(limit, float):
                results[f"{kind} tagport / limit"] = round(
                    float(results[f"{kind} tagport load+swap"]) / limit, 2
                )  # type: ignore[arg-type]
        if args.only == "core":
            print(json.dumps(results, indent=2, ensure_ascii=False))
            return
        attempt("pg ADBC adbc_ingest", lambda: adbc_pg(arrow_path), results)
        for kind in ("postgresql", "mysql"):
            attempt(
                f"{kind} pandas.to_sql (scaled x{scale:g})",
                lambda k=kind: pandas_to_sql(k, arrow_path, args.slow_rows) * scale,  # type: ignore[misc]
                results,
            )
            attempt(
                f"{kind} dlt (scaled x{scale:g})",
                lambda k=kind: dlt_load(k, arrow_path, args.slow_rows) * scale,  # type: ignore[misc]
                results,
            )
        print(json.dumps(results, indent=2, ensure_ascii=False))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        pg(
            *(
                f"DROP TABLE IF EXISTS public.{t}"
                for t in ("bench_tp", "bench_psql", "bench_adbc", "bench_pandas")
            ),
            "DROP SCHEMA IF EXISTS bench_dlt CASCADE",
        )
        my("DROP TABLE IF EXISTS bench_tp, bench_cli, bench_pandas")
        os.environ.pop("_", None)


if __name__ == "__main__":
    main()
