"""Two worker processes on PostgreSQL metadata: SIGKILL one mid-run, the other finishes the job.

Real processes (`tagport worker`), a real export from the demo warehouse into a real PostgreSQL
table; the lease is short so the survivor takes over within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlalchemy import select

from tagport.config import Settings
from tagport.services import catalog, config_as_code, instances, publication, targets, warehouse
from tagport.services.users import actor_for, init_operator
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.warehouse.base import ExportColumn
from tests.integration.support import APP, PG_DATASOURCE

pytestmark = pytest.mark.slow  # worker processes, one killed, a lease run out

BIZDATE = date.today() - timedelta(days=1)
ROWS = 600_000


def wait_for(what: str, check: object, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_a_killed_worker_is_taken_over_after_its_lease(
    pg_url: str, pg_schema: str, tmp_path: Path
) -> None:
    meta_url = f"{pg_url}?options=-csearch_path%3D{pg_schema}"
    env = os.environ | {
        "TAGPORT_HOME": str(tmp_path / "home"),
        "TAGPORT_DATABASE_URL": meta_url,
        "TAGPORT_SECRET_KEY": "shared-by-both-workers",
        "TAGPORT_LEASE_SECONDS": "5",
    }
    settings = Settings(
        home=tmp_path / "home", database_url=meta_url, secret_key="shared-by-both-workers"
    )  # type: ignore[arg-type]
    db = Database(meta_url, settings.secret)
    db.upgrade()
    init_operator(db)
    operator = actor_for(db, None)
    warehouse.build_demo(settings, db, operator, ROWS, date.today())
    (tmp_path / "task.yaml").write_text(
        yaml.safe_dump_all(
            [
                APP,
                PG_DATASOURCE,
                {
                    "kind": "OfflineService",
                    "name": "everyone",
                    "application": "app",
                    "owner": "operator",
                    "audience": "active_women_hz_sh",
                    "sync_tags": True,
                    "tags": [
                        {"tag": "city", "outputs": ["value", "codename"]},
                        {"tag": "age"},
                        {"tag": "total_spend"},
                        {"tag": "signup_time"},
                    ],
                    "target": {"datasource": "pg", "schema": pg_schema, "table": "women"},
                },
            ]
        )
    )
    docs, problems = config_as_code.read_documents([tmp_path / "task.yaml"])
    catalog.apply(db, operator, docs, problems=problems)
    targets.create_table(db, settings, operator, "everyone")
    publication.request_publish(db, operator, "everyone")
    assert (
        publication.complete_publication(
            db, "everyone", targets.TargetAccess(settings).describe
        ).problems
        == []
    )
    instance_id = instances.run(db, operator, "everyone", BIZDATE)

    def worker() -> subprocess.Popen[bytes]:
        script = Path(sys.executable).with_name("tagport")
        return subprocess.Popen(
            [str(script), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def current() -> tuple[str, str | None]:
        """(status, lease owner) of the instance, read afresh."""
        with db.uow() as uow:
            row = uow.session.execute(
                select(t.Instance.status, t.Instance.lease_owner).where(
                    t.Instance.id == instance_id
                )
            ).one()
            return row[0], row[1]

    first = worker()
    try:
        wait_for("the first worker to claim", lambda: current()[0] == "running")
        assert f":{first.pid}:" in (current()[1] or "")
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert current()[0] == "running", "the first run ended before it could be killed"
        second = worker()
        try:
            wait_for("the second worker to finish", lambda: current()[0] == "succeeded")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()

    view = instances.show(db, instance_id)
    assert (view.status, view.attempts) == ("succeeded", 2)
    log = [(attempt, message) for _, attempt, _, message in instances.log_lines(db, instance_id)]
    assert any(a == 1 and m.startswith("attempt 1 lost: lease of") for a, m in log)
    assert any(a == 2 and m.startswith("attempt 2 started by") for a, m in log)
    with psycopg.connect(pg_url) as conn:
        got = sorted(
            tuple(r)
            for r in conn.execute(
                f"SELECT user_id, city, city_codename, age, total_spend, signup_time "
                f'FROM "{pg_schema}".women'
            )
        )
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
            (pg_schema, "%dpfx%"),
        ).fetchone()
    spec, _ = catalog.show(db, "OfflineService", "everyone")
    fields = ["user_id", *(f for o in spec.tags for f in o.fields())]  # type: ignore[attr-defined]
    plan = warehouse.export_plan(
        db,
        "active_women_hz_sh",
        BIZDATE,
        spec.tags,  # type: ignore[attr-defined]
        [ExportColumn(f, f) for f in fields],
        ["user_id"],
        reader="operator",
    )
    want = sorted(
        tuple(r.values()) for r in warehouse.export_reader(settings, plan).read_all().to_pylist()
    )
    assert got == want and len(got) == view.rows and view.rows > 1000
    assert leftovers == (0,)
    db.dispose()
