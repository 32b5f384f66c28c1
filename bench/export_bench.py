"""Full export benchmark: warehouse query + load + swap, as a run does it, against the limit.

Builds the demo warehouse with ROWS users, then exports an everyone-audience (ROWS members, the ID
and 8 tag columns) with `services.targets.load` — the pipeline's own entry point — into
PostgreSQL and MariaDB, each in a fresh process so its peak RSS is its own. The physical limit is
measured on the same rows: the target table dumped to CSV, then `psql \\copy` /
`mariadb … LOAD DATA LOCAL INFILE` into an empty table with the same primary key. The two sides
alternate `--repeat` times; the best and the median of each are compared. Then the same rows go
through the usual alternatives (ADBC `adbc_ingest`, `pandas.to_sql`, dlt; load only).

With `--streams 1,2,4` the same full export runs with each of those stream counts
(`TAGPORT_LOAD_STREAMS`) instead, alternating the counts and the CLI limit `--repeat` times, and
`--engine spark` computes it with the Spark warehouse (`local[2]`; the session is started before
the clock starts, as a long-running worker holds it).

    .venv/bin/python bench/export_bench.py --rows 5000000 [--repeat 3] [--only pg|mysql]
        [--slow-rows 200000 | --slow-rows 0]
    .venv/bin/python bench/export_bench.py --rows 5000000 --streams 1,2,4 [--engine spark]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from statistics import median

import psycopg
import pymysql
import yaml

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
Contender = tuple[str, Callable[[Path], float], Callable[[Path], None] | None]
"""A task, the CLI load of its CSV (the limit) and what dumps that CSV (None: the limit's own
step does)."""
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}
BIZDATE = date.today() - timedelta(days=1)
TAGS = [
    {"tag": "city", "outputs": ["value", "codename"]},
    {"tag": "gender"},
    {"tag": "age"},
    {"tag": "member_level"},
    {"tag": "is_vip"},
    {"tag": "signup_time"},
    {"tag": "total_spend"},
]
COLUMNS = (
    "user_id, city, city_codename, gender, age, member_level, is_vip, signup_time, total_spend"
)


def catalog(task_target: dict[str, object], name: str, datasource: dict[str, object]) -> str:
    return yaml.safe_dump_all(
        [
            datasource,
            {
                "kind": "OfflineService",
                "name": name,
                "application": "bench",
                "owner": "operator",
                "audience": "everyone",
                "sync_tags": True,
                "tags": TAGS,
                "target": task_target,
            },
        ]
    )


def setup(home: Path, rows: int) -> None:
    """The demo warehouse, an everyone-audience, and one task per target with its table (on
    the engine `TAGPORT_WAREHOUSE` names)."""
    from tagport.config import Settings
    from tagport.services import catalog as cat
    from tagport.services import config_as_code, targets, warehouse
    from tagport.services import home as homes
    from tagport.services.users import actor_for

    drop_tables()
    settings = Settings(home=home)
    homes.initialise(settings)
    db = homes.open_database(settings)
    operator = actor_for(db, None)
    started = time.perf_counter()
    warehouse.build_demo(settings, db, operator, rows, date.today())
    print(f"demo warehouse: {rows:,} users in {time.perf_counter() - started:.1f} s", flush=True)
    documents = yaml.safe_dump_all(
        [
            {
                "kind": "Application",
                "name": "bench",
                "project": "tag_prod",
                "services": ["audience_offline"],
                "admins": ["operator"],
            },
            {
                "kind": "AudienceGroup",
                "code": "everyone",
                "name": "Everyone",
                "entity": "user",
                "owner": "operator",
                "sql": "SELECT user_id FROM tag_prod.user_profile WHERE ds = '${bizdate}'",
            },
        ]
    )
    documents += "---\n" + catalog(
        {"datasource": "pg", "schema": "public", "table": "bench_export"},
        "to_pg",
        {
            "kind": "DataSource",
            "name": "pg",
            "type": "postgresql",
            "host": "127.0.0.1",
            "database": "test",
            "username": "postgres",
            "owner": "operator",
        },
    )
    documents += "---\n" + catalog(
        {"datasource": "my", "table": "bench_export"},
        "to_mysql",
        {
            "kind": "DataSource",
            "name": "my",
            "type": "mysql",
            "host": "127.0.0.1",
            "database": "test",
            "username": "root",
            "owner": "operator",
        },
    )
    file = home / "bench.yaml"
    file.write_text(documents)
    docs, problems = config_as_code.read_documents([file])
    cat.apply(db, operator, docs, problems=problems)
    for name in ("to_pg", "to_mysql"):
        targets.create_table(db, settings, operator, name)


def drop_tables() -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_export")
    mysql = pymysql.connect(**MYSQL, autocommit=True)  # type: ignore[arg-type]
    with mysql.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_export")
    mysql.close()


def run_load(home: Path, task: str) -> None:
    """Child process: one full export, printed as JSON."""
    from tagport.config import Settings
    from tagport.domain.tasks import OfflineServiceSpec
    from tagport.services import catalog as cat
    from tagport.services import home as homes
    from tagport.services import targets

    settings = Settings(home=home)
    db = homes.open_database(settings)
    spec, _ = cat.show(db, "OfflineService", task)
    assert isinstance(spec, OfflineServiceSpec)
    warm_up(settings)
    private = PeakPrivate()
    result = targets.load(db, settings, spec, BIZDATE)
    # VmHWM, not ru_maxrss: Linux carries a parent's ru_maxrss into its children.
    peak = status_mb("VmHWM")
    print(
        json.dumps(
            {
                "rows": result.rows,
                "seconds": result.seconds,
                "peak_mb": peak,
                "peak_private_mb": private.stop(),
                "streams": result.streams,
            }
        )
    )


def status_mb(field: str) -> int:
    """A field of this process's /proc status (`VmHWM`, `RssAnon` …), in MB."""
    status = Path("/proc/self/status").read_text()
    return (
        int(next(line for line in status.splitlines() if line.startswith(field)).split()[1]) // 1024
    )


class PeakPrivate:
    """The largest `RssAnon` seen, sampled every 20 ms: the memory the process itself holds,
    without the shared libraries' pages that VmHWM counts (their number depends on the page
    cache, ~50 MB apart between runs an hour apart: docs/benchmarks.md)."""

    def __init__(self) -> None:
        self.peak = status_mb("RssAnon")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, status_mb("RssAnon"))

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return max(self.peak, status_mb("RssAnon"))


def warm_up(settings: object) -> None:
    """Start the Spark session before the clock starts (a worker keeps its session; starting
    the JVM, 10-25 s here, is not the export's cost). Nothing to do for DuckDB."""
    from tagport.config import Settings, WarehouseEngine
    from tagport.services.warehouse import open_warehouse

    assert isinstance(settings, Settings)
    if settings.warehouse is WarehouseEngine.SPARK:
        from tagport.warehouse.spark import SparkWarehouse, spark_session

        house = open_warehouse(settings)
        assert isinstance(house, SparkWarehouse)
        spark_session(house.config).sql("SELECT 1").collect()


def child(home: Path, task: str, streams: int | None = None) -> dict[str, float]:
    """One full export in a fresh process; `streams` sets TAGPORT_LOAD_STREAMS."""
    env = dict(os.environ)
    if streams is not None:
        env["TAGPORT_LOAD_STREAMS"] = str(streams)
    done = subprocess.run(
        [sys.executable, __file__, "--child", task, "--home", str(home)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"{task} (streams {streams}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def stream_counts(
    home: Path, scratch: Path, contenders: list[Contender], counts: list[int], repeat: int
) -> None:
    """The full export with each stream count, alternating the counts and the CLI limit
    `repeat` times so that drift hits them alike; best, median and peak RSS of each."""
    for task, limit, dump in contenders:
        child(home, task)  # a first run to populate, so the measured ones swap a full table
        csv = scratch / f"{task}.csv"
        if dump is not None:
            dump(csv)
        runs: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
        theirs: list[float] = []
        for _ in range(repeat):
            for n in counts:
                runs[n].append(child(home, task, n))
                got = runs[n][-1]
                print(f"  {task} {n} asked, {got['streams']:.0f} used: {got['seconds']:.2f} s")
            theirs.append(limit(csv))
        theirs.sort()
        print(f"{task}: CLI limit {', '.join(f'{s:.2f}' for s in theirs)} s", flush=True)
        for n in counts:
            seconds = sorted(r["seconds"] for r in runs[n])
            peak = max(r["peak_mb"] for r in runs[n])
            print(
                f"{task} streams={n}: {', '.join(f'{s:.2f}' for s in seconds)} s, best "
                f"{seconds[0] / theirs[0]:.2f}x / median {median(seconds) / median(theirs):.2f}x "
                f"the limit, peak RSS {peak:.0f} MB",
                flush=True,
            )


def pg_limit(csv: Path) -> float:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        with (
            conn.cursor().copy(
                f"COPY (SELECT {COLUMNS} FROM bench_export) TO STDOUT (FORMAT csv)"
            ) as copy,
            csv.open("wb") as out,
        ):
            for chunk in copy:
                out.write(chunk)
        conn.execute("DROP TABLE IF EXISTS bench_limit")
        conn.execute("CREATE TABLE bench_limit (LIKE bench_export INCLUDING ALL)")
    started = time.perf_counter()
    subprocess.run(
        [
            "psql",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-c",
            f"\\copy bench_limit ({COLUMNS}) FROM '{csv}' WITH (FORMAT csv)",
        ],
        check=True,
    )
    seconds = time.perf_counter() - started
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_limit")
    return seconds


def mysql_limit(csv: Path) -> float:
    conn = pymysql.connect(**MYSQL, autocommit=True)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_limit")
        cur.execute("CREATE TABLE bench_limit LIKE bench_export")
    started = time.perf_counter()
    subprocess.run(
        [
            "mariadb",
            "--local-infile=1",
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "test",
            "-e",
            f"LOAD DATA LOCAL INFILE '{csv}' INTO TABLE bench_limit FIELDS TERMINATED BY "
            f"',' OPTIONALLY ENCLOSED BY '\"' ({COLUMNS})",
        ],
        check=True,
    )
    seconds = time.perf_counter() - started
    with conn.cursor() as cur:
        cur.execute("DROP TABLE bench_limit")
    conn.close()
    return seconds


def mysql_csv(csv: Path) -> None:
    """The MariaDB table's rows as CSV (booleans as 0/1, as LOAD DATA wants them)."""
    conn = pymysql.connect(**MYSQL)  # type: ignore[arg-type]
    with conn.cursor(pymysql.cursors.SSCursor) as cur, csv.open("w") as out:
        cur.execute(f"SELECT {COLUMNS} FROM bench_export")
        for row in cur:
            out.write(
                ",".join(
                    "\\N" if v is None else f'"{v}"' if isinstance(v, str) else str(v) for v in row
                )
                + "\n"
            )
    conn.close()


def alternatives(slow_rows: int) -> dict[str, str]:
    """The usual other ways, loading the same rows (the target table's, as Arrow) into an empty
    copy of the target table. Load only, no query: a lower bound for a full export through them.
    pandas and dlt run on `slow_rows` rows, scaled linearly."""
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow as pa

    with adbc.connect(PG_URL) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS} FROM bench_export ORDER BY user_id")
        fetched: pa.Table = cur.fetch_arrow_table()
    # ADBC reads numeric as an opaque string type: make it the decimal tagport's export has.
    columns = [
        pa.chunked_array([chunk.storage for chunk in column.chunks]).cast(pa.decimal128(18, 2))
        if isinstance(column.type, pa.BaseExtensionType)
        else column
        for column in fetched.columns
    ]
    table = pa.table(columns, names=fetched.column_names)
    rows = table.num_rows
    scale = rows / slow_rows
    results: dict[str, str] = {}

    def pg_table() -> None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_alt")
            conn.execute("CREATE TABLE bench_alt (LIKE bench_export INCLUDING ALL)")

    def my_table() -> None:
        conn = pymysql.connect(**MYSQL, autocommit=True)  # type: ignore[arg-type]
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_alt")
            cur.execute("CREATE TABLE bench_alt LIKE bench_export")
        conn.close()

    def attempt(label: str, action: Callable[[], float], factor: float = 1.0) -> None:
        try:
            seconds = action() * factor
            results[label] = f"{seconds:.1f} s" + (f" (×{factor:g})" if factor != 1 else "")
        except Exception as exc:  # a contender that cannot run is reported, not fatal
            results[label] = f"not run: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}"
        print(f"  {label}: {results[label]}", flush=True)

    def adbc_ingest() -> float:
        pg_table()
        started = time.perf_counter()
        with adbc.connect(PG_URL) as conn, conn.cursor() as cur:
            cur.adbc_ingest("bench_alt", table, mode="append")
            conn.commit()
        return time.perf_counter() - started

    def to_sql(url: str, make: Callable[[], None]) -> Callable[[], float]:
        def run() -> float:
            import sqlalchemy

            make()
            frame = table.slice(0, slow_rows).to_pandas()
            engine = sqlalchemy.create_engine(url)
            started = time.perf_counter()
            with engine.begin() as conn:
                frame.to_sql(
                    "bench_alt",
                    conn,
                    if_exists="append",
                    index=False,
                    chunksize=10_000,
                    # pandas holds decimals as objects and would bind them as text
                    dtype={"total_spend": sqlalchemy.Numeric(18, 2)},
                )
            engine.dispose()
            return time.perf_counter() - started

        return run

    def dlt_run(destination: object, name: str) -> Callable[[], float]:
        def run() -> float:
            import dlt

            pipeline = dlt.pipeline(
                pipeline_name=f"bench_{name}",
                destination=destination,  # type: ignore[arg-type]
                dataset_name="bench_dlt",
                pipelines_dir=tempfile.mkdtemp(prefix="dlt-"),
            )
            part = table.slice(0, slow_rows)
            started = time.perf_counter()
            pipeline.run(part, table_name="bench_alt", write_disposition="replace")
            return time.perf_counter() - started

        return run

    import dlt

    attempt("pg ADBC adbc_ingest", adbc_ingest)
    pg_url = PG_URL.replace("postgresql://", "postgresql+psycopg://")
    attempt("pg pandas.to_sql", to_sql(pg_url, pg_table), scale)
    attempt(
        "mysql pandas.to_sql", to_sql("mysql+pymysql://root@127.0.0.1:3306/test", my_table), scale
    )
    # dlt insists on a password; the server's trust authentication ignores it.
    pg_dlt = dlt.destinations.postgres(PG_URL.replace("postgres@", "postgres:unused@"))
    attempt("pg dlt", dlt_run(pg_dlt, "pg"), scale)
    my_dlt = dlt.destinations.sqlalchemy("mysql+pymysql://root@127.0.0.1:3306/test")
    attempt("mysql dlt", dlt_run(my_dlt, "mysql"), scale)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_alt")
        conn.execute("DROP SCHEMA IF EXISTS bench_dlt CASCADE")
    mysql = pymysql.connect(**MYSQL, autocommit=True)  # type: ignore[arg-type]
    with mysql.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_alt")
        cur.execute("DROP DATABASE IF EXISTS bench_dlt")
    mysql.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--only", choices=["pg", "mysql"])
    parser.add_argument(
        "--slow-rows", type=int, default=200_000, help="rows for pandas and dlt (0: skip them all)"
    )
    parser.add_argument("--streams", help="stream counts to compare, e.g. 1,2,4")
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--child")
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.child:
        run_load(args.home, args.child)
        return
    os.environ["TAGPORT_WAREHOUSE"] = args.engine  # this process's setup and every child's
    contenders: list[Contender] = [("to_pg", pg_limit, None), ("to_mysql", mysql_limit, mysql_csv)]
    if args.only:
        contenders = [c for c in contenders if c[0] == f"to_{args.only}"]
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        setup(home, args.rows)
        if args.streams:
            counts = [int(n) for n in args.streams.split(",")]
            stream_counts(home, Path(scratch), contenders, counts, args.repeat)
        else:
            against_limit(home, Path(scratch), contenders, args.repeat)
            if args.slow_rows and not args.only:
                print("the same rows through the usual alternatives (load only):", flush=True)
                alternatives(args.slow_rows)
    drop_tables()


def against_limit(home: Path, scratch: Path, contenders: list[Contender], repeat: int) -> None:
    """Each target's full export (its default streams) against the CLI limit, alternating."""
    for task, limit, dump in contenders:
        child(home, task)  # a first run to populate, so the measured ones swap a full table
        csv = scratch / f"{task}.csv"
        if dump is not None:
            dump(csv)
        # Alternate the two sides so that drift on this machine hits both alike.
        ours: list[dict[str, float]] = []
        theirs: list[float] = []
        for _ in range(repeat):
            ours.append(child(home, task))
            theirs.append(limit(csv))
        seconds = sorted(r["seconds"] for r in ours)
        theirs.sort()
        rows = int(ours[0]["rows"])
        peak = max(r["peak_mb"] for r in ours)
        private = max(r["peak_private_mb"] for r in ours)
        print(
            f"{task}: {rows:,} rows; tagport full export "
            f"{', '.join(f'{s:.1f}' for s in seconds)} s (peak RSS {peak:.0f} MB, "
            f"private {private:.0f} MB); "
            f"CLI load of the same rows {', '.join(f'{s:.1f}' for s in theirs)} s; "
            f"ratio of the best {seconds[0] / theirs[0]:.2f}, "
            f"of the medians {median(seconds) / median(theirs):.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
