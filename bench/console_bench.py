"""Console task list server time: `GET /offline-services` (the default page, 20 rows) with
10,000 tasks and their instances on PostgreSQL metadata.

Goal (issue 12): the page renders in under 300 ms of server time. Measured in-process over ASGI
(httpx's ASGITransport: no network, no browser; the time from request to the last byte of the
HTML), logged in through the console's own login as the operator (a super admin: every task
is visible), one request at a time, after a warm-up; p50 and p95 of `--requests` requests,
and the median CPU time this process spent on one (Python's share, whatever else the shared
machine runs; PostgreSQL's is in its own processes).

    TAGPORT_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/console_bench.py --tasks 10000 --instances 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from api_bench import INSTANCES_SQL
from scheduler_bench import PG_URL, setup

from tagport.api.app import create_app
from tagport.config import Settings
from tagport.services import users
from tagport.services.users import actor_for
from tagport.store.db import Database

PASSWORD = "console-bench-password"
PATHS = [
    "/offline-services",
    "/offline-services?status=published&sort=status&desc=1&page=250",
    "/offline-services?name=bench_99&execution_status=failed",
    "/instances",
]


def add_instances(server: str, schema: str, total: int) -> None:
    """`total` instances spread over the tasks (as the API benchmark adds them)."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        found = conn.execute("SELECT count(*) FROM offline_services").fetchone()
        per_task = max(1, total // int(found[0] if found else 1))
        conn.execute(INSTANCES_SQL, {"per_task": per_task})
        conn.execute("ANALYZE")


async def measure(db: Database, home: Path, paths: list[str], requests: int) -> None:
    """Log in, then time each page `requests` times after a warm-up; print a Markdown table."""
    app = create_app(Settings(home=home), db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        logged = await client.post("/login", data={"login": "operator", "password": PASSWORD})
        assert logged.status_code == 303, logged.text
        print(f"| page ({requests} requests, one at a time) | p50 | p95 | max | CPU p50 | bytes |")
        print("| --- | --- | --- | --- | --- | --- |")
        for path in paths:
            for _ in range(3):  # warm-up: pools, template compilation
                (await client.get(path)).raise_for_status()
            took, cpu, size = [], [], 0
            for _ in range(requests):
                started, used = time.perf_counter(), time.process_time()
                answer = await client.get(path)
                took.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - used) * 1000)
                answer.raise_for_status()
                size = len(answer.content)
            p95 = statistics.quantiles(took, n=20, method="inclusive")[18]
            print(
                f"| GET {path} | {statistics.median(took):.0f} ms | {p95:.0f} ms | "
                f"{max(took):.0f} ms | {statistics.median(cpu):.0f} ms | {size:,} |"
            )


def main() -> None:
    """Make the tasks and instances in a schema of their own, measure, drop the schema."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("paths", nargs="*", default=PATHS)
    args = parser.parse_args()
    server = os.environ.get("TAGPORT_TEST_PG_URL", PG_URL)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{server}?options=-csearch_path%3D{schema}"
    try:
        started = time.monotonic()
        db = setup(url, args.tasks)
        add_instances(server, schema, args.instances)
        users.set_password(db, actor_for(db, None), "operator", PASSWORD)
        print(
            f"set up {args.tasks:,} tasks, {args.instances:,} instances in "
            f"{time.monotonic() - started:.0f} s"
        )
        with TemporaryDirectory() as home:
            asyncio.run(measure(db, Path(home), args.paths, args.requests))
        db.dispose()
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
