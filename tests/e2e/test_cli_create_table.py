"""`task create-table` end to end: an edited statement runs only as checked, and a task that
may not be edited gets no table (issue 10 item 3, issue 17 findings 2-3)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tagport.config import Settings
from tests.e2e.test_cli_tasks import cli, demo

__all__ = ["demo"]


def _tables(home: Path) -> set[str]:
    """The tables of project tag_prod, read straight from the warehouse file."""
    with duckdb.connect(str(Settings(home=home).warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tag_prod'"
        ).fetchall()
    return {str(name) for (name,) in rows}


def test_an_edited_statement_cannot_take_over_a_warehouse_table(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _tables(demo)
    edited = tmp_path / "edited.sql"
    edited.write_text(
        "CREATE TABLE IF NOT EXISTS tag_prod.user_profile (user_id BIGINT PRIMARY KEY);\n"
        "COMMENT ON TABLE tag_prod.user_profile IS 'mine now';"
    )
    code, out, err = cli(capsys, "task", "create-table", "seed_manual", "--sql-file", str(edited))
    assert code == 3 and "IF NOT EXISTS is not accepted" in out + err
    assert "Traceback" not in out + err
    assert _tables(demo) == before and "user_profile" in before
    code, out, _ = cli(capsys, "permission", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = cli(capsys, "task", "show", "seed_manual", "--json")
    assert json.loads(out)["target"]["table"] == "seed_users"


def test_an_existing_table_and_a_publishing_task_get_nothing(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "task", "create-table", "seed_manual")[0] == 0
    code, out, err = cli(capsys, "task", "create-table", "seed_manual")
    assert code == 5 and "already exists" in out + err
    assert cli(capsys, "task", "publish", "spenders_daily")[0] == 0  # now `publishing`
    before = _tables(demo)
    code, out, err = cli(capsys, "task", "create-table", "spenders_daily")
    assert code == 5 and "publishing" in out + err
    assert _tables(demo) == before and "big_spenders" not in before
