"""Scheduler benchmark: N published recurring tasks due in the same minute, PostgreSQL metadata.

Measures one scheduler tick creating every due instance (goal: 2,000 tasks within 5 s), a
repeated tick that creates nothing, and two schedulers ticking at once (still one instance per
task and day).

    .venv/bin/python bench/scheduler_bench.py --tasks 2000
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import func, select

from tagport.services import catalog, config_as_code
from tagport.services.scheduling import create_due_instances
from tagport.services.users import actor_for, init_operator
from tagport.store import tables as t
from tagport.store.db import Database

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
EXAMPLES = Path(__file__).parents[1] / "examples"
UTC_ZONE = ZoneInfo("UTC")


def setup(url: str, tasks: int) -> Database:
    db = Database(url, b"bench")
    db.upgrade()
    init_operator(db)
    documents, problems = config_as_code.read_documents([EXAMPLES])
    catalog.apply(db, actor_for(db, None), documents, problems=problems)
    with db.uow() as uow:
        template = uow.session.scalars(
            select(t.OfflineService).where(t.OfflineService.name == "hz_vip_to_crm")
        ).one()
        live_since = datetime(2026, 1, 1, tzinfo=UTC)
        for number in range(tasks):
            config = dict(template.draft) | {"name": f"bench_{number}"}
            config["target"] = dict(config["target"]) | {"table": f"bench_{number}"}
            uow.session.add(
                t.OfflineService(
                    name=f"bench_{number}",
                    application_id=template.application_id,
                    owner_id=template.owner_id,
                    status="published",
                    schedule_type="recurring",
                    target_type=template.target_type,
                    draft=config,
                    draft_revision=1,
                    published=config,
                    published_revision=1,
                    published_at=live_since,
                )
            )
        uow.commit()
    return db


def count(db: Database) -> int:
    with db.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(t.Instance)) or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        db = setup(url, args.tasks)
        now = datetime(2026, 11, 24, 2, 0, 30, tzinfo=UTC)  # every task runs at 02:00
        started = time.perf_counter()
        created = create_due_instances(db, now, UTC_ZONE, 0)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = create_due_instances(db, now, UTC_ZONE, 0)
        second = time.perf_counter() - started

        tomorrow = now.replace(day=25)
        results: list[int] = []
        others = [Database(url, b"bench") for _ in range(2)]
        threads = [
            threading.Thread(
                target=lambda d=d: results.append(create_due_instances(d, tomorrow, UTC_ZONE, 0))
            )
            for d in others
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        racing = time.perf_counter() - started
        print(f"tasks due at once:                  {args.tasks:,}")
        print(f"first tick: created {created:,} instances in {first:.2f} s")
        print(f"repeated tick: created {again} in {second:.2f} s")
        print(f"two schedulers at once: created {sum(results):,} ({results}) in {racing:.2f} s")
        print(f"instances in the table: {count(db):,} (expected {2 * args.tasks:,})")
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
