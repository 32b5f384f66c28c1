"""`tagport serve` as a process: it completes publication requests and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.e2e.test_cli_tasks import TASKS

pytestmark = pytest.mark.slow  # `tagport serve` processes started and stopped

TAGPORT = str(Path(sys.executable).with_name("tagport"))


def tagport(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([TAGPORT, *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_serve_publishes_requested_tasks_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = os.environ | {"TAGPORT_HOME": str(tmp_path / "home")}
    env.pop("TAGPORT_DATABASE_URL", None)
    tagport(env, "init")
    tagport(env, "demo", "data", "--rows", "1000")
    (tmp_path / "tasks.yaml").write_text(TASKS)
    tagport(env, "apply", "-f", str(tmp_path / "tasks.yaml"))
    tagport(env, "task", "create-table", "spenders_daily")
    assert "publishing" in tagport(env, "task", "publish", "spenders_daily")

    server = subprocess.Popen(
        [TAGPORT, "serve", "--concurrency", "2", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        address = _api_address(server.stdout)
        assert httpx.get(f"{address}/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 30
        status = "publishing"
        while status == "publishing" and time.monotonic() < deadline:
            time.sleep(0.5)
            status = json.loads(tagport(env, "task", "show", "spenders_daily", "--json"))["status"]
        assert status == "published"
        ready = httpx.get(f"{address}/readyz")
        assert ready.status_code == 200, ready.text
        assert [c["name"] for c in ready.json()["checks"]] == ["metadata", "warehouse", "scheduler"]
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, output
    assert "received SIGTERM" in output


def _api_address(lines: IO[str]) -> str:
    """The API's address, from the line `serve` logs once it listens (port 0: any free one)."""
    for line in lines:
        found = re.search(r"serving the API on (http://[\d.]+:\d+)", line)
        if found:
            return found.group(1)
    raise AssertionError("serve ended without announcing the API")
