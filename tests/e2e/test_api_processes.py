"""`tagport api --workers 2`: several processes answer on the one announced socket, and Ctrl-C
stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import _api_address, tagport

pytestmark = pytest.mark.slow  # API processes started and stopped

TAGPORT = str(Path(sys.executable).with_name("tagport"))


def test_api_with_two_processes_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = os.environ | {"TAGPORT_HOME": str(tmp_path / "home")}
    env.pop("TAGPORT_DATABASE_URL", None)
    tagport(env, "init")
    found = re.search(r"tp_[A-Za-z0-9_-]+", tagport(env, "token", "create", "--name", "t"))
    assert found is not None
    headers = {"Authorization": f"Bearer {found.group(0)}"}
    server = subprocess.Popen(
        [TAGPORT, "api", "--workers", "2", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
    )
    try:
        assert server.stdout is not None
        address = _api_address(server.stdout)
        # Announced once bound: a request made now waits for a process to take it (however
        # long the children take to start), it is never refused.
        with httpx.Client(base_url=address, headers=headers, timeout=120) as client:
            assert client.get("/api/v1/session").json()["login"] == "operator"
            answers = [client.get("/api/v1/offline-services") for _ in range(5)]
        assert {a.status_code for a in answers} == {200}
        assert {a.json()["total"] for a in answers} == {0}
        os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert server.returncode == 0, output
    children = {int(pid) for pid in re.findall(r"Finished server process \[(\d+)\]", output)}
    assert len(children) == 2, output
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
