"""`tagport serve` through a metadata database outage: every loop carries on.

The metadata database (PostgreSQL) is reached through a TCP proxy that the test cuts for ~5 s
while `serve` runs; due instances are created (directly, not through the proxy) during the cut.
Once the proxy is restored, every due instance runs exactly once and `serve` is still alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.proxy import TcpProxy
from tests.e2e.test_cli_tasks import TASKS
from tests.e2e.test_serve import TAGPORT, tagport

pytestmark = pytest.mark.slow  # real processes through a 5-second outage

YESTERDAY = date.today() - timedelta(days=1)
OUTAGE = 5.0  # serve polls every second or two: it meets the cut several times


def wait_for(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def test_serve_survives_a_metadata_database_outage(
    pg_url: str, pg_schema: str, tmp_path: Path
) -> None:
    direct = f"{pg_url}?options=-csearch_path%3D{pg_schema}"
    url = urlparse(direct)
    env = os.environ | {"TAGPORT_HOME": str(tmp_path / "home"), "TAGPORT_DATABASE_URL": direct}
    tagport(env, "init")
    tagport(env, "demo", "data", "--rows", "1000")
    (tmp_path / "tasks.yaml").write_text(TASKS)
    tagport(env, "apply", "-f", str(tmp_path / "tasks.yaml"))
    for task in ("spenders_daily", "seed_manual"):
        tagport(env, "task", "create-table", task)
        tagport(env, "task", "publish", task, "--wait")

    with TcpProxy((url.hostname or "127.0.0.1", url.port or 5432)) as proxy:
        user = f"{url.username}@" if url.username else ""
        proxied = url._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()
        server = subprocess.Popen(
            # One worker: two in one process fail on the project target, an export opening the
            # warehouse read-only while the other run writes it (a DuckDB limit, not this test's).
            [TAGPORT, "serve", "--concurrency", "1", "--no-api"],
            env=env | {"TAGPORT_DATABASE_URL": proxied, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(server.stdout or []), daemon=True)
        reader.start()
        try:
            wait_for("serve to start", lambda: proxy.forwarded and "serving" in "".join(lines), 60)
            time.sleep(2.0)  # a worker's poll interval: every role is in its loop now
            proxy.cut()
            cut_at = time.monotonic()
            first = (YESTERDAY - timedelta(days=1)).isoformat()
            tagport(env, "task", "backfill", "spenders_daily", "--from", first)
            tagport(env, "task", "run", "seed_manual")
            time.sleep(max(0.0, cut_at + OUTAGE - time.monotonic()))
            assert proxy.refused > 0, "serve never tried the metadata database during the cut"
            proxy.restore()

            def listed() -> list[dict[str, object]]:
                views = json.loads(tagport(env, "instance", "list", "--json"))
                assert isinstance(views, list)
                return views

            wait_for(
                "every due instance to finish",
                lambda: all(v["status"] in ("succeeded", "failed") for v in listed()),
                180,
            )
            assert server.poll() is None, "serve died: " + "".join(lines)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            finally:
                if server.poll() is None:
                    server.kill()
            reader.join(timeout=10)
    output = "".join(lines)
    views = listed()
    got = sorted((v["task"], v["bizdate"], v["status"], v["attempts"], v["error"]) for v in views)
    assert got == [
        ("seed_manual", YESTERDAY.isoformat(), "succeeded", 1, None),
        ("spenders_daily", first, "succeeded", 1, None),
        ("spenders_daily", YESTERDAY.isoformat(), "succeeded", 1, None),
    ], output
    assert server.returncode == 0, output
    assert "metadata database unavailable" in output  # the loops met the outage …
    assert "Traceback" not in output  # … as translated errors, logged in one line
