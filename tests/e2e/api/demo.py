"""A demo warehouse and two tasks for the task and instance API tests: `demo` builds it,
`work` runs an instance in-process as `tagport task run --wait` does, `events` reads SSE."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tagport.config import Settings
from tagport.domain.states import InstanceStatus
from tagport.runtime.pipeline import executor
from tagport.runtime.worker import Worker, WorkerConfig
from tagport.services import catalog, config_as_code, instances
from tagport.services.permissions import Actor
from tagport.services.warehouse import build_demo
from tagport.store.db import Database

YESTERDAY = date.today() - timedelta(days=1)
DS_PASSWORD = "s3cret-Passw0rd"
CATALOG = f"""
kind: Application
name: demo_app
project: tag_prod
services: [audience_offline]
admins: [operator]
members: [mia]
---
kind: DataSource
name: wh
type: project
project: tag_prod
owner: operator
---
kind: DataSource
name: crm_mysql
type: mysql
host: 127.0.0.1
port: 3306
database: test
username: root
password: {DS_PASSWORD}
owner: operator
---
kind: OfflineService
name: spenders_daily
application: demo_app
owner: operator
schedule: {{type: recurring, at: "03:00"}}
audience: big_spenders
sync_tags: true
tags: [{{tag: city, outputs: [value, codename]}}, {{tag: total_spend}}]
target: {{datasource: wh, table: big_spenders}}
"""
SEED_MANUAL: dict[str, Any] = {
    "name": "seed_manual",
    "application": "demo_app",
    "owner": "operator",
    "audience": "crm_seed_users",
    "target": {"datasource": "wh"},
}
"""A manual task's document, as a client sends it (no table yet: one-click creation names it)."""


@pytest.fixture
def demo(
    settings: Settings,
    db: Database,
    operator: Actor,
    tmp_path: Path,
    client: Any,
    secret: Callable[[str], str],
) -> Database:
    """The demo warehouse (2,000 users), its catalog, application demo_app (member mia), the
    data sources wh (project) and crm_mysql (with a password, which no answer, log line or
    audit entry may show), and task spenders_daily."""
    secret(DS_PASSWORD)
    client("mia")  # a member of demo_app, created before the application names her
    settings.ensure_home()
    build_demo(settings, db, operator, 2000, date.today())
    (tmp_path / "tasks.yaml").write_text(CATALOG)
    documents, problems = config_as_code.read_documents([tmp_path / "tasks.yaml"])
    catalog.apply(db, operator, documents, problems=problems)
    return db


def work(settings: Settings, db: Database, instance_id: int) -> threading.Thread:
    """Run the instance on a thread, as `tagport task run --wait` does; join it to wait."""
    ended = {InstanceStatus.SUCCEEDED.value, InstanceStatus.FAILED.value}

    def run() -> None:
        worker = Worker(db, executor(settings, db), WorkerConfig.of(settings))
        while instances.show(db, instance_id).status not in ended:
            if not worker.run_once(instance_id=instance_id):
                threading.Event().wait(0.2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def events(answer: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) of each Server-Sent Event of a streamed answer."""
    name, data = "message", ""
    for line in answer.iter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data += line.removeprefix("data:").strip()
        elif not line and data:
            yield name, json.loads(data)
            name, data = "message", ""
