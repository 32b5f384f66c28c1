"""SIGKILL of a loading process leaves the previous content intact; the next run cleans up."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tagport.domain.catalog import DataSourceType
from tagport.targets.base import Target
from tests.integration.targets.compare import assert_same_rows
from tests.integration.targets.data import as_reader, design, export_table

ROOT = Path(__file__).resolve().parents[3]


def _kill_mid_load(kind: DataSourceType, target: Target, table: str) -> None:
    params = json.dumps(dataclasses.asdict(target.params))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.targets.crash_loader", kind.value, params, table],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if int(line) >= 50_000:  # well inside the load
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("pg_target", DataSourceType.POSTGRESQL),
        ("mysql_target", DataSourceType.MYSQL),
        ("project_target", DataSourceType.PROJECT),
    ],
)
def test_sigkill_mid_load_keeps_previous_content(
    request: pytest.FixtureRequest, fixture: str, kind: DataSourceType
) -> None:
    target: Target = request.getfixturevalue(fixture)
    target.create_table(target.create_table_sql(design("members")))
    previous = export_table(3000, seed=1)
    target.write("members", as_reader(previous))
    target.close()  # the project's DuckDB file admits one writing process

    _kill_mid_load(kind, target, "members")

    assert_same_rows(target, "members", previous)  # intact and readable
    if kind is not DataSourceType.PROJECT:  # DuckDB rolls back; the others keep a staging table
        assert "members_dpfx_b" in target.list_tables()
    data = export_table(4000, seed=2)
    assert target.write("members", as_reader(data)).rows == 4000
    assert_same_rows(target, "members", data)
    assert target.list_tables() == ["members"]  # no _dpfx_ leftovers
