"""The write-permission workflow end to end through real HTTP, on the demo warehouse: a task
owner who is no super admin requests write, the data source owner approves, the task publishes
and runs; the permission expires and the next run fails naming the expiry; a renewal lets it
run again; once returned, a new version cannot be published.

Every step goes through HTTP; the test's API server runs no workers, so an in-process Worker
(as `tagport task run --wait` has) executes each instance the API created.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tagport.config import Settings
from tagport.domain.states import TaskStatus
from tagport.runtime.pipeline import executor
from tagport.runtime.worker import Worker, WorkerConfig
from tagport.services import catalog, config_as_code, targets, warehouse
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database
from tests.e2e.api.conftest import MakeClient

TODAY = date.today()
TASK, TABLE = "spenders_to_wh", "big_spenders"
REQUESTS, GRANTS = "/api/v1/permission-requests", "/api/v1/grants"
TASKS = "/api/v1/offline-services"
CATALOG = [
    {"kind": "User", "name": "bob"},
    {"kind": "User", "name": "carol"},
    # The demo's project, with bob joining it so that he may read the tags he exports.
    {
        "kind": "Project",
        "name": "tag_prod",
        "type": "tag",
        "members": ["operator", "bob"],
        "write_through": True,
    },
    {
        "kind": "DataSource",
        "name": "wh",
        "type": "project",
        "project": "tag_prod",
        "owner": "carol",
    },
    {
        "kind": "Application",
        "name": "demo_app",
        "project": "tag_prod",
        "services": ["audience_offline"],
        "admins": ["operator"],
        "members": ["bob"],
    },
    {
        "kind": "OfflineService",
        "name": TASK,
        "application": "demo_app",
        "owner": "bob",
        "schedule": {"type": "manual"},
        "audience": "big_spenders",
        "sync_tags": True,
        "tags": [{"tag": "city", "outputs": ["value", "codename"]}, {"tag": "total_spend"}],
        "target": {"datasource": "wh", "table": TABLE},
    },
]


@pytest.fixture
def demo(settings: Settings, db: Database, operator: Actor, tmp_path: Path) -> Settings:
    """The demo warehouse and catalog; bob's task writes project table `big_spenders`, which
    the operator created (so bob holds no permission on it yet)."""
    warehouse.build_demo(settings, db, operator, 2000, TODAY)
    file = tmp_path / "workflow.yaml"
    file.write_text(yaml.safe_dump_all(CATALOG, allow_unicode=True))
    documents, problems = config_as_code.read_documents([file])
    catalog.apply(db, operator, documents, problems=problems)
    targets.create_table(db, settings, operator, TASK)
    return settings


@pytest.fixture
def clock() -> Iterator[list[timedelta]]:
    """`clock[0]`: how far ahead of the real time tagport's clock runs."""
    ahead = [timedelta(0)]
    t.set_clock(lambda: datetime.now(UTC) + ahead[0])
    yield ahead
    t.set_clock(None)


def publish(bob: httpx.Client) -> dict[str, Any]:
    """Publish and wait for the checks, as `tagport task publish --wait` does."""
    answer = bob.post(f"{TASKS}/{TASK}/publish", params={"wait": "true"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def run(db: Database, settings: Settings, bob: httpx.Client, bizdate: date) -> dict[str, Any]:
    """Run the task for `bizdate` over HTTP; an in-process worker executes the instance."""
    created = bob.post(f"{TASKS}/{TASK}/run", json={"bizdate": bizdate.isoformat()})
    assert created.status_code == 201, created.text
    instance_id = created.json()["id"]
    worker = Worker(db, executor(settings, db), WorkerConfig.of(settings))
    deadline = time.monotonic() + 60
    while (view := bob.get(f"/api/v1/instances/{instance_id}").json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline, f"instance {instance_id} is still {view['status']}"
        if not worker.run_once(instance_id=instance_id):
            time.sleep(0.2)  # waiting for a retry
    return dict(view)


def approve(bob: httpx.Client, carol: httpx.Client, days: int) -> dict[str, Any]:
    """bob asks for write on the task's table; carol, the data source owner, approves."""
    asked = bob.post(
        REQUESTS,
        json={"datasource": "wh", "table": TABLE, "reason": "daily export", "days": days},
    )
    assert asked.status_code == 201, asked.text
    inbox = carol.get(REQUESTS, params={"to_approve": "true", "status": "pending"}).json()
    assert [r["id"] for r in inbox["items"]] == [asked.json()["id"]]
    approved = carol.post(f"{REQUESTS}/{asked.json()['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    [grant] = bob.get(GRANTS, params={"status": "active"}).json()["items"]
    return dict(grant)


def test_request_approve_publish_expire_renew_return(
    client: MakeClient,
    db: Database,
    demo: Settings,
    clock: list[timedelta],
) -> None:
    bob_http = client("bob")
    first = publish(bob_http)
    assert first["status"] == TaskStatus.PUBLISH_FAILED
    assert first["failure_reasons"] == [f"bob has no write permission on wh:{TABLE}; request it"]

    grant = approve(bob_http, client("carol"), days=7)
    assert (grant["source"], grant["expiring_soon"]) == ("request", True)
    assert publish(bob_http)["status"] == TaskStatus.PUBLISHED
    ran = run(db, demo, bob_http, TODAY - timedelta(days=2))
    assert ran["status"] == "succeeded" and (ran["rows"] or 0) > 0, ran["error"]

    clock[0] = timedelta(days=8)  # the week is over (tokens too: new clients below)
    bob_http, carol_http = client("bob"), client("carol")
    expired = bob_http.get(f"{GRANTS}/{grant['id']}").json()
    assert (expired["status"], expired["expiring_soon"]) == ("expired", False)
    failed = run(db, demo, bob_http, TODAY - timedelta(days=1))
    ended = datetime.fromisoformat(grant["expires_at"])
    assert failed["status"] == "failed"
    assert f"write permission on wh:{TABLE} expired on {ended:%Y-%m-%d %H:%M} (bob)" in (
        failed["error"] or ""
    )

    renewed = approve(bob_http, carol_http, days=30)
    assert renewed["id"] != grant["id"] and renewed["expiring_soon"] is False
    again = run(db, demo, bob_http, TODAY - timedelta(days=1))
    assert again["status"] == "succeeded" and (again["rows"] or 0) > 0, again["error"]

    returned = bob_http.post(f"{GRANTS}/{renewed['id']}/return")
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    refused = publish(bob_http)
    assert refused["status"] == TaskStatus.PUBLISHED  # the live version stays …
    [problem] = refused["failure_reasons"]  # … but the new one is not published
    assert problem.startswith(f"bob returned the write permission on wh:{TABLE} on ")
