"""A selective audience, as a user runs it: `tagport task run --wait` against `psql \\copy` of the
same rows and against the pipeline an engineer would write by hand, in one run.

The demo warehouse with ROWS users (two sources: profile and orders); a rule over both sources
(`gender = F and total_spend > 200`, about a third of the users) exported with the ID and three
tags (4 columns) into PostgreSQL. Alternating `--repeat` times:

- **tagport**: the whole CLI, `tagport task run NAME --bizdate D --wait` (process start included);
- **tagport, sources not recorded**: the same after forgetting what the warehouse recorded of its
  partitions, so every source is de-duplicated (as before partition statistics);
- **psql \\copy**: the output rows as CSV loaded by the client into an empty same-shaped table;
- **hand-made**: DuckDB's `COPY (the query an engineer would write) TO '/dev/stdout' (FORMAT csv)`
  piped into `psql -c "\\copy … FROM STDIN"` (a new empty table each time). The query joins the
  two sources' partitions directly, trusting them to be unique, with no staging and no swap.

    .venv/bin/python bench/selective_bench.py --rows 6000000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from statistics import median

import psycopg
import yaml

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PSQL = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", PG_URL.rsplit("/", 1)[1]]
BIZDATE = date.today() - timedelta(days=1)
TASK, TABLE = "selective_to_pg", "bench_selective"
COLUMNS = "user_id, city, age, total_spend"
TAGPORT = str(Path(sys.executable).with_name("tagport"))
RULE = {
    "all": [
        {"tag": "gender", "op": "=", "value": "F"},
        {"tag": "total_spend", "op": ">", "value": 200},
    ]
}


def documents() -> str:
    return yaml.safe_dump_all(
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
                "code": "women_spending",
                "name": "Women spending over 200",
                "entity": "user",
                "owner": "operator",
                "rule": RULE,
            },
            {
                "kind": "DataSource",
                "name": "pg",
                "type": "postgresql",
                "host": "127.0.0.1",
                "database": PG_URL.rsplit("/", 1)[1],
                "username": "postgres",
                "owner": "operator",
            },
            {
                "kind": "OfflineService",
                "name": TASK,
                "application": "bench",
                "owner": "operator",
                "audience": "women_spending",
                "sync_tags": True,
                "tags": [{"tag": "city"}, {"tag": "age"}, {"tag": "total_spend"}],
                "target": {"datasource": "pg", "schema": "public", "table": TABLE},
            },
        ]
    )


def hand_query() -> str:
    day = BIZDATE.strftime("%Y%m%d")
    return (
        "SELECT p.user_id, p.city_code, p.age, o.total_spend "
        "FROM tag_prod.user_profile p JOIN tag_prod.user_orders o "
        f"ON o.user_id = p.user_id AND o.ds = '{day}' "
        f"WHERE p.ds = '{day}' AND p.gender = 'F' AND o.total_spend > 200"
    )


def setup(home: Path, rows: int) -> None:
    """The demo warehouse, the task's table created, the task published."""
    from tagport.config import Settings
    from tagport.services import catalog, config_as_code, targets, warehouse
    from tagport.services import home as homes
    from tagport.services.users import actor_for

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    settings = Settings(home=home)
    homes.initialise(settings)
    db = homes.open_database(settings)
    operator = actor_for(db, None)
    started = time.perf_counter()
    warehouse.build_demo(settings, db, operator, rows, date.today())
    print(f"demo warehouse: {rows:,} users in {time.perf_counter() - started:.1f} s", flush=True)
    file = home / "bench.yaml"
    file.write_text(documents())
    docs, problems = config_as_code.read_documents([file])
    catalog.apply(db, operator, docs, problems=problems)
    targets.create_table(db, settings, operator, TASK)
    env = os.environ | {"TAGPORT_HOME": str(home)}
    subprocess.run([TAGPORT, "task", "publish", TASK, "--wait"], env=env, check=True)
    print(f"audience: {warehouse.estimate(settings, db, operator, 'women_spending', BIZDATE):,}")


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def tagport_run(home: Path) -> None:
    env = os.environ | {"TAGPORT_HOME": str(home)}
    subprocess.run(
        [TAGPORT, "task", "run", TASK, "--bizdate", BIZDATE.isoformat(), "--wait"],
        env=env,
        check=True,
        capture_output=True,
    )


def forget_partitions(home: Path) -> Callable[[], None]:
    """Drop what the warehouse recorded, run, then record it again (as the demo did)."""

    def run() -> None:
        import duckdb

        path = str(home / "warehouse.duckdb")
        with duckdb.connect(path) as con:
            con.execute("ALTER TABLE tagport_meta.partition_stats RENAME TO partition_stats_off")
        try:
            tagport_run(home)
        finally:
            with duckdb.connect(path) as con:
                con.execute(
                    "ALTER TABLE tagport_meta.partition_stats_off RENAME TO partition_stats"
                )

    return run


def fresh_copy_table() -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_limit")
        conn.execute(f"CREATE TABLE bench_limit (LIKE {TABLE} INCLUDING ALL)")


def psql_copy(csv: Path) -> float:
    fresh_copy_table()
    copy = f"\\copy bench_limit ({COLUMNS}) FROM '{csv}' WITH (FORMAT csv)"
    return timed(lambda: subprocess.run([*PSQL, "-c", copy], check=True))


def hand_made(home: Path, sql: str) -> float:
    """Three lines of Python with DuckDB, piped into psql."""
    fresh_copy_table()
    script = (
        "import duckdb, sys\n"
        f"con = duckdb.connect({str(home / 'warehouse.duckdb')!r}, read_only=True)\n"
        "con.execute('SET enable_progress_bar = false')  # it would write to stdout too\n"
        "con.execute(f\"COPY ({sys.argv[1]}) TO '/dev/stdout' (FORMAT csv, HEADER false)\")\n"
    )
    copy = f"\\copy bench_limit ({COLUMNS}) FROM STDIN WITH (FORMAT csv)"

    def run() -> None:
        producer = subprocess.Popen([sys.executable, "-c", script, sql], stdout=subprocess.PIPE)
        subprocess.run([*PSQL, "-c", copy], stdin=producer.stdout, check=True)
        assert producer.stdout is not None
        producer.stdout.close()
        if producer.wait() != 0:
            raise RuntimeError("the DuckDB side of the hand-made pipeline failed")

    return timed(run)


def dump_csv(csv: Path) -> int:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        with (
            conn.cursor().copy(
                f"COPY (SELECT {COLUMNS} FROM {TABLE}) TO STDOUT (FORMAT csv)"
            ) as copy,
            csv.open("wb") as out,
        ):
            for chunk in copy:
                out.write(chunk)
        found = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    return int(found[0]) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tagport-bench-") as tmp:
        home = Path(tmp) / "home"
        setup(home, args.rows)
        sql = hand_query()
        tagport_run(home)  # warm: the first run also creates nothing new, but reads from cold
        csv = Path(tmp) / "rows.csv"
        rows = dump_csv(csv)
        print(f"output: {rows:,} rows × 4 columns", flush=True)
        sides: dict[str, Callable[[], float]] = {
            "tagport task run --wait": lambda: timed(lambda: tagport_run(home)),
            "tagport, sources not recorded": lambda: timed(forget_partitions(home)),
            "psql \\copy of the output CSV": lambda: psql_copy(csv),
            "hand-made: DuckDB COPY | psql \\copy": lambda: hand_made(home, sql),
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        for round_ in range(args.repeat):
            for name, side in sides.items():
                times[name].append(side())
                print(f"  round {round_ + 1}: {name}: {times[name][-1]:.2f} s", flush=True)
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_limit")
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")  # the shared database stays clean
        psql = min(times["psql \\copy of the output CSV"])
        hand = min(times["hand-made: DuckDB COPY | psql \\copy"])
        print(f"\n| side ({args.repeat} runs) | runs | best | × psql \\copy | × hand-made |")
        print("| --- | --- | --- | --- | --- |")
        for name, values in times.items():
            best = min(values)
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(f"| {name} | {runs} s | {best:.2f} s | {best / psql:.2f}× | {best / hand:.2f}× |")
        print(f"(median of tagport: {median(times['tagport task run --wait']):.2f} s)")


if __name__ == "__main__":
    main()
