"""API list latency under load: `GET /api/v1/offline-services?size=50` with 10,000 tasks and
1,000,000 instances on PostgreSQL metadata, 50 concurrent clients (wrk on loopback).

Goal (issue 11): p99 under 50 ms. Runs `tagport api` as its own process, as deployed, and
measures a cheap endpoint (`/api/v1/session`, auth only) in the same run as the floor.

    apt-get install wrk   # the load tool (C, light on the shared cores)
    .venv/bin/python bench/api_bench.py --tasks 10000 --instances 1000000

`--pg-url` (default: TAGPORT_TEST_PG_URL, else the local `test` database) names the server;
`--schema NAME` keeps the data set in that schema and reuses it on the next run (building
10,000 tasks and 1,000,000 instances takes half a minute or more); `--workers N` serves with
N processes (default 2); `--cache-seconds 0` keeps no pages (every request reads the database).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from scheduler_bench import PG_URL, setup

from tagport.services import tokens
from tagport.services.users import actor_for
from tagport.store.db import Database

TAGPORT = str(Path(sys.executable).with_name("tagport"))
INSTANCES_SQL = """
INSERT INTO instances (service_id, bizdate, trigger, status, revision, attempts, created_at,
                       target_key, rows)
SELECT s.id, DATE '2026-01-01' + (n %% 300), 'schedule',
       (ARRAY['succeeded','succeeded','succeeded','failed','waiting'])[1 + n %% 5], 1, 1,
       TIMESTAMPTZ '2026-01-01' + n * INTERVAL '1 second', 'bench/' || s.id || '/' || n, n
FROM offline_services s, generate_series(1, %(per_task)s) AS n
"""


def add_instances(pg_url: str, schema: str, total: int) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        tasks = conn.execute("SELECT count(*) FROM offline_services").fetchone()
        per_task = max(1, total // int(tasks[0] if tasks else 1))
        conn.execute(INSTANCES_SQL, {"per_task": per_task})
        conn.execute("ANALYZE")


def serve(
    url: str, home: Path, workers: int, cache_seconds: float | None
) -> tuple[subprocess.Popen[str], str]:
    """`tagport api` on a free port; its log goes to a file (a full pipe would stall it)."""
    env = os.environ | {"TAGPORT_HOME": str(home), "TAGPORT_DATABASE_URL": url}
    env["TAGPORT_SECRET_KEY"] = "bench"
    if cache_seconds is not None:
        env["TAGPORT_API_CACHE_SECONDS"] = str(cache_seconds)
    log = home / "api.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [TAGPORT, "api", "--port", "0", "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        found = re.search(r"serving the API on (http://[\d.]+:\d+)", log.read_text())
        if found:
            return server, found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"tagport api did not start:\n{log.read_text()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its children (the API processes), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wrk(url: str, token: str, seconds: int, connections: int) -> dict[str, str]:
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", done.stdout, re.MULTILINE))
    rate = re.search(r"Requests/sec:\s+(\S+)", done.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    figures["rps"] = rate.group(1) if rate else "?"
    figures["non_2xx"] = errors.group(1) if errors else "0"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="tagport api processes")
    parser.add_argument(
        "--cache-seconds", type=float, help="TAGPORT_API_CACHE_SECONDS (0: no kept pages)"
    )
    parser.add_argument("--pg-url", default=os.environ.get("TAGPORT_TEST_PG_URL", PG_URL))
    parser.add_argument("--schema", help="keep the data set in this schema and reuse it")
    parser.add_argument("paths", nargs="*", default=["/api/v1/offline-services?size=50"])
    args = parser.parse_args()
    schema = args.schema or f"bench_{uuid.uuid4().hex[:8]}"
    url = f"{args.pg_url}?options=-csearch_path%3D{schema}"
    try:
        token = _data_set(args, schema, url)
        with TemporaryDirectory() as home:
            server, base = serve(url, Path(home), args.workers, args.cache_seconds)
            try:
                _measure(base, token, args, server.pid)
            finally:
                server.terminate()
                server.wait(30)
    finally:
        if not args.schema:
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _data_set(args: argparse.Namespace, schema: str, url: str) -> str:
    """Build the tasks and instances in `schema` unless it is there already; a new token."""
    with psycopg.connect(args.pg_url, autocommit=True) as conn:
        there = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'instances'",
            (schema,),
        ).fetchone()
        if not there:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    started = time.monotonic()
    if there:
        db = Database(url, b"bench")
        db.upgrade()  # a new migration applies to a kept data set too
    else:
        db = setup(url, args.tasks)
        add_instances(args.pg_url, schema, args.instances)
        print(f"set up {args.tasks:,} tasks, {args.instances:,} instances in "
              f"{time.monotonic() - started:.0f} s")  # fmt: skip
    token = tokens.create_token(db, actor_for(db, None), "operator", "bench", 1).token
    db.dispose()
    return token


def _measure(base: str, token: str, args: argparse.Namespace, pid: int) -> None:
    paths = ["/api/v1/session", *args.paths]
    print(f"{args.workers} API process(es), api_cache_seconds={args.cache_seconds}")
    print("| request | p50 | p90 | p99 | req/s | non-2xx | API CPU per request | load average |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- |")  # fmt: skip
    for path in paths:
        check = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        check.raise_for_status()
        wrk(base + path, token, 3, args.connections)  # warm-up: pools, caches
        before, cpu = os.getloadavg()[0], cpu_seconds(pid)
        got = wrk(base + path, token, args.seconds, args.connections)
        cpu = cpu_seconds(pid) - cpu
        served = float(got["rps"]) * args.seconds if got["rps"] != "?" else 0
        per_request = f"{1000 * cpu / served:.2f} ms" if served else "?"
        load = f"{before:.1f} → {os.getloadavg()[0]:.1f}"
        print(f"| GET {path} | {got.get('50')} | {got.get('90')} | {got.get('99')} | "
              f"{got['rps']} | {got['non_2xx']} | {per_request} | {load} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
