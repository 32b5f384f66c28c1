"""The project target (DuckDB file): introspection, views kept, errors translated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tagport.errors import TerminalError, TransientError
from tagport.targets.base import ConnectionParams
from tagport.targets.project import ProjectTarget
from tests.integration.targets.compare import assert_same_rows
from tests.integration.targets.data import as_reader, design, export_table


def test_a_view_on_the_target_still_works_after_a_run(project_target: ProjectTarget) -> None:
    project_target.create_table(project_target.create_table_sql(design("members")))
    project_target.write("members", as_reader(export_table(100, seed=1)))
    project_target.conn.execute(
        "CREATE VIEW proj.vip AS SELECT user_id FROM proj.members WHERE vip"
    )
    data = export_table(300, seed=2)
    assert project_target.write("members", as_reader(data)).mode == "in_place"
    vips = project_target.conn.execute("SELECT count(*) FROM proj.vip").fetchall()
    assert vips == [(sum(1 for v in data["vip"].to_pylist() if v),)]


def test_a_table_left_only_as_its_dpfx_tmp_copy_comes_back(project_target: ProjectTarget) -> None:
    project_target.create_table(project_target.create_table_sql(design("members")))
    previous = export_table(100, seed=1)
    project_target.write("members", as_reader(previous))
    project_target.conn.execute("ALTER TABLE proj.members RENAME TO members_dpfx_tmp")
    project_target.conn.execute("CREATE TABLE proj.members_dpfx_b AS FROM proj.members_dpfx_tmp")

    assert project_target.describe_for_write("members").primary_key == ("user_id",)
    assert_same_rows(project_target, "members", previous)
    assert project_target.list_tables() == ["members"]
    assert project_target.write("members", as_reader(export_table(50, seed=2))).rows == 50


def test_introspection_and_errors(project_target: ProjectTarget) -> None:
    project_target.create_table(project_target.create_table_sql(design("members")))
    assert "proj" in project_target.list_schemas()
    assert project_target.list_tables() == ["members"]
    info = project_target.describe_table("members")
    assert info.primary_key == ("user_id",)
    assert info.column_names[:2] == ("user_id", "city")
    with pytest.raises(TerminalError, match="does not exist"):
        project_target.write("nope", as_reader(export_table(5)))
    wrong = export_table(5).rename_columns(["user_id", "x", *export_table(1).column_names[2:]])
    with pytest.raises(TerminalError, match="are not columns of the table"):
        project_target.write("members", as_reader(wrong))


def test_a_busy_warehouse_file_is_a_transient_error_after_a_bounded_wait(tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        target = ProjectTarget(ConnectionParams(database=str(path), schema="proj"))
        target.busy_timeout_seconds = 0.5
        with pytest.raises(TransientError, match="busy"):
            target.test_connection()
    finally:
        holder.kill()
        holder.wait()


HOLD = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
    "print('holding', flush=True); time.sleep(60)"
)
