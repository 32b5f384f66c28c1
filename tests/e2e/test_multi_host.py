"""`tagport serve` on two hosts against one PostgreSQL metadata database (docs/scale.md).

Two network namespaces are two hosts (`tests/e2e/hosts.py`); each runs a scheduler and a
worker, which reach the metadata database and the target server only through the bridge. One
scheduler leads; work spreads over both workers; and when the leading host dies in the middle
of a run, the other host finishes that run (its lease runs out, the attempt is recorded as lost,
the next attempt loads the whole table once) and its scheduler takes over.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
import yaml
from sqlalchemy import select

from tagport.runtime.scheduler import SCHEDULER
from tagport.services import instances
from tagport.store import tables as t
from tagport.store.db import Database
from tests.conftest import STRICT
from tests.e2e import hosts as hosts_module
from tests.e2e.hosts import Hosts
from tests.e2e.proxy import TcpProxy
from tests.e2e.test_serve import TAGPORT, tagport
from tests.integration.conftest import SECRET

pytestmark = pytest.mark.slow  # real processes on two network namespaces, ~40 s

TASKS = ("far_spenders", "far_seed")
"""One task per host: each writes its own table (one writer per target table)."""


def documents(ds_host: str, ds_port: int, database: str, schema: str) -> list[dict[str, Any]]:
    """An application, the target server as the hosts see it, and a manual task per table."""
    return [
        {
            "kind": "Application",
            "name": "far_app",
            "project": "tag_prod",
            "services": ["audience_offline"],
            "admins": ["operator"],
        },
        {
            "kind": "DataSource",
            "name": "far_pg",
            "type": "postgresql",
            "host": ds_host,
            "port": ds_port,
            "database": database,
            "username": "postgres",
            "owner": "operator",
        },
        *(
            {
                "kind": "OfflineService",
                "name": task,
                "application": "far_app",
                "owner": "operator",
                "audience": audience,
                "target": {"datasource": "far_pg", "schema": schema, "table": task},
            }
            for task, audience in zip(TASKS, ("big_spenders", "crm_seed_users"), strict=True)
        ),
    ]


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    reason = hosts_module.available()
    if reason is not None:
        if STRICT:
            pytest.fail(f"the two-host test cannot run here: {reason}")
        pytest.skip(reason)
    with Hosts(("host-a", "host-b")) as made:
        yield made


def wait_for(what: str, check: Callable[[], bool], timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}; " + "\n".join(p.read_text() for p in logs))


def test_work_spreads_over_two_hosts_and_a_dead_hosts_run_is_finished_by_the_other(
    hosts: Hosts, pg_url: str, pg_schema: str, tmp_path: Path
) -> None:
    upstream = urlparse(pg_url)
    direct = f"{pg_url}?options=-csearch_path%3D{pg_schema}"
    env = os.environ | {"TAGPORT_HOME": str(tmp_path / "home"), "TAGPORT_DATABASE_URL": direct}
    with TcpProxy(
        (upstream.hostname or "127.0.0.1", upstream.port or 5432), listen=hosts.bridge_address
    ) as proxy:
        far = upstream._replace(netloc=f"postgres@{hosts.bridge_address}:{proxy.port}").geturl()
        tagport(env, "init")
        tagport(env, "demo", "data", "--rows", "2000")
        database = upstream.path.lstrip("/")
        file = tmp_path / "far.yaml"
        far_docs = documents(hosts.bridge_address, proxy.port, database, pg_schema)
        file.write_text(yaml.safe_dump_all(far_docs))
        tagport(env, "apply", "-f", str(file))
        for task in TASKS:
            tagport(env, "task", "create-table", task)
            tagport(env, "task", "publish", task, "--wait")

        # Both target tables are locked: a claimed run waits in the middle of its load, so each
        # worker (one run at a time) holds one run, and neither run can end before the crash.
        lock = psycopg.connect(pg_url)
        lock.execute(f'LOCK TABLE "{pg_schema}".far_spenders, "{pg_schema}".far_seed')
        ids = {task: _run(env, task) for task in TASKS}
        worker_env = env | {
            "TAGPORT_DATABASE_URL": f"{far}?options=-csearch_path%3D{pg_schema}",
            "TAGPORT_LEASE_SECONDS": "5",
            "TAGPORT_RETRY_BACKOFF_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
        }
        logs = [tmp_path / "host-a.log", tmp_path / "host-b.log"]
        db = Database(direct, SECRET)
        try:
            # `serve` on each host: a scheduler and a worker. host-a starts first and leads.
            serve = [TAGPORT, "serve", "--no-api", "--concurrency", "1"]
            hosts.start("host-a", serve, worker_env, logs[0])
            wait_for("host-a to lead", lambda: _leader(db).startswith("host-a:"), 60, logs)
            hosts.start("host-b", serve, worker_env, logs[1])
            started = _started_by(db, ids)
            wait_for("each host to claim a run", lambda: len(started()) == 2, 60, logs)
            on_host = started()
            assert sorted(on_host.values()) == ["host-a", "host-b"]  # work spread over both

            victim = next(task for task, host in on_host.items() if host == "host-a")
            hosts.crash("host-a")
            lock.close()  # the locks go: host-b's run ends, then host-a's lease runs out
            finished = _finished(env, ids)
            wait_for("both runs to end", lambda: len(finished()) == 2, 120, logs)
            assert _leader(db).startswith("host-b:")  # its scheduler took over, too
            assert finished() == dict.fromkeys(TASKS, "succeeded"), logs[1].read_text()

            views = {task: instances.show(db, ids[task]) for task in TASKS}
            assert views[victim].attempts == 2
            messages = [m for _, _, _, m in instances.log_lines(db, ids[victim])]
            assert any(m.startswith("attempt 1 started by host-a:") for m in messages)
            assert any("attempt 1 lost: lease of host-a:" in m for m in messages), messages
            assert any(m.startswith("attempt 2 started by host-b:") for m in messages)
            survivor = next(task for task in TASKS if task != victim)
            assert views[survivor].attempts == 1
            for task in TASKS:  # each table holds its export once: no row of the lost attempt
                count, distinct = _rows(pg_url, pg_schema, task)
                assert count == distinct == views[task].rows
                assert count > 0
        finally:
            db.dispose()
            lock.close()
    assert "Traceback" not in logs[1].read_text()


def _run(env: dict[str, str], task: str) -> int:
    """Request a run of `task`; its instance id."""
    tagport(env, "task", "run", task)
    views = json.loads(tagport(env, "instance", "list", "--json"))
    return max(int(v["id"]) for v in views if v["task"] == task)


def _leader(db: Database) -> str:
    """The scheduler that leads (`host:pid:scheduler`), or "" before any ticked."""
    with db.uow() as uow:
        holder = uow.session.scalar(select(t.Heartbeat.holder).where(t.Heartbeat.role == SCHEDULER))
        return holder or ""


def _started_by(db: Database, ids: dict[str, int]) -> Callable[[], dict[str, str]]:
    """The host each run's first attempt started on, for the runs that have started."""

    def started() -> dict[str, str]:
        found = {}
        for task, instance_id in ids.items():
            for _, attempt, _, message in instances.log_lines(db, instance_id):
                if attempt == 1 and message.startswith("attempt 1 started by "):
                    found[task] = message.removeprefix("attempt 1 started by ").split(":")[0]
        return found

    return started


def _finished(env: dict[str, str], ids: dict[str, int]) -> Callable[[], dict[str, str]]:
    def finished() -> dict[str, str]:
        views = json.loads(tagport(env, "instance", "list", "--json"))
        wanted = set(ids.values())
        return {
            v["task"]: v["status"]
            for v in views
            if int(v["id"]) in wanted and v["status"] in ("succeeded", "failed")
        }

    return finished


def _rows(pg_url: str, schema: str, table: str) -> tuple[int, int]:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(f'SELECT count(*), count(DISTINCT user_id) FROM "{schema}"."{table}"')
        count, distinct = row.fetchone() or (0, 0)
        return int(count), int(distinct)
