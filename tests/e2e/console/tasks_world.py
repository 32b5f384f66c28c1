"""Tasks in every status a person meets, on the demo warehouse, for the task and instance pages.

`world` builds (through the services, as the API tests do) the demo warehouse and catalog
of `tests.e2e.api.demo`, then: spenders_daily (recurring) and seed_manual (manual) published
with their tables; draft_mia (editing, owned by mia); broken (publish failed: its table does
not exist); retired (offline, of application ops_app); pending (publishing). `workers` runs
instances on a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from tagport.config import Settings
from tagport.runtime.pipeline import executor
from tagport.runtime.worker import Worker, WorkerConfig
from tagport.services import catalog, config_as_code, publication, targets
from tagport.services.permissions import Actor
from tagport.services.warehouse import open_warehouse
from tagport.store.db import Database
from tagport.warehouse import demo as demo_data
from tests.threads import Threads

MORE_TASKS: list[dict[str, object]] = [
    {
        "kind": "Application",
        "name": "ops_app",
        "project": "tag_prod",
        "services": ["audience_offline"],
        "admins": ["operator"],
    }
] + [
    {
        "kind": "OfflineService",
        "name": name,
        "application": "ops_app" if name == "retired" else "demo_app",
        "owner": owner,
        "schedule": {"type": "manual"},
        "audience": "crm_seed_users",
        "target": {"datasource": "wh", **({"table": table} if table else {})},
    }
    for name, owner, table in [
        ("seed_manual", "operator", None),
        ("draft_mia", "mia", None),
        ("broken", "operator", "no_such_table"),
        ("retired", "operator", None),
        ("pending", "operator", None),
    ]
]
DEMO_ROWS, DEMO_SEED = 2000, 20240101
"""As `tests.e2e.api.demo` builds it (the seed: `build_demo`'s default)."""
STATUSES = {
    "spenders_daily": "published",
    "seed_manual": "published",
    "draft_mia": "editing",
    "broken": "publish_failed",
    "retired": "offline",
    "pending": "publishing",
}


@dataclass
class World:
    db: Database
    settings: Settings
    operator: Actor


def _publish(world: World, name: str) -> None:
    ctx_describe = targets.TargetAccess(world.settings).describe
    publication.request_publish(world.db, world.operator, name, pending_ok=True)
    publication.complete_publication(world.db, name, ctx_describe)


@pytest.fixture
def world(demo: Database, settings: Settings, operator: Actor, tmp_path: Path) -> World:
    """The demo's tasks and five more, one in each status of STATUSES; source data for the
    three days before today (the demo has two: a backfill runs three)."""
    days = [date.today() - timedelta(days=n) for n in (3, 2, 1)]
    demo_data.build_demo_data(open_warehouse(settings), DEMO_ROWS, days, DEMO_SEED)
    file = tmp_path / "more.yaml"
    file.write_text(yaml.safe_dump_all(MORE_TASKS, allow_unicode=True))
    documents, problems = config_as_code.read_documents([file])
    catalog.apply(demo, operator, documents, problems=problems)
    made = World(demo, settings, operator)
    for name in ("spenders_daily", "seed_manual", "retired", "pending"):
        targets.create_table(demo, settings, operator, name)
    for name in ("spenders_daily", "seed_manual", "retired", "broken"):
        _publish(made, name)
    publication.request_unpublish(demo, operator, "retired")
    publication.complete_unpublication(demo, "retired")
    publication.request_publish(demo, operator, "pending")
    return made


@pytest.fixture
def workers(world: World) -> Iterator[threading.Event]:
    """A worker running instances on a thread until the test ends (as `tagport serve` would;
    one is enough: a task's runs write one table, one at a time)."""
    stop, threads = threading.Event(), Threads()
    config = WorkerConfig.of(world.settings)
    fast = WorkerConfig(config.lease, 0.1, config.max_attempts, config.backoff)
    worker = Worker(world.db, executor(world.settings, world.db), fast, name="console-test")
    threads.start(worker.run_forever, stop, name="worker")
    yield stop
    stop.set()
    threads.join()
