"""The task, instance and permission commands end to end, on the demo warehouse."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from tagport.cli.main import run

YESTERDAY = date.today() - timedelta(days=1)
TASKS = """
kind: Application
name: demo_app
project: tag_prod
services: [audience_offline]
admins: [operator]
---
kind: DataSource
name: wh
type: project
project: tag_prod
owner: operator
---
kind: OfflineService
name: spenders_daily
application: demo_app
owner: operator
schedule: {type: recurring, at: "03:00"}
audience: big_spenders
sync_tags: true
tags: [{tag: city, outputs: [value, codename]}, {tag: total_spend}]
target: {datasource: wh, table: big_spenders}
---
kind: OfflineService
name: seed_manual
application: demo_app
owner: operator
audience: crm_seed_users
target: {datasource: wh, table: seed_users}
"""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def demo(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert cli(capsys, "init")[0] == 0
    assert cli(capsys, "demo", "data", "--rows", "2000")[0] == 0
    (tmp_path / "tasks.yaml").write_text(TASKS)
    code, _, err = cli(capsys, "apply", "-f", str(tmp_path / "tasks.yaml"))
    assert code == 0, err
    return home


def test_create_publish_backfill_and_read_the_log(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "task", "ddl", "spenders_daily")
    assert code == 0 and "CREATE TABLE" in out and "city_codename" in out
    code, out, _ = cli(capsys, "task", "create-table", "spenders_daily")
    assert code == 0 and "city_codename -> city_codename" in out
    code, out, _ = cli(capsys, "task", "publish", "spenders_daily", "--wait")
    assert (code, out.strip()) == (0, "spenders_daily: published")

    first = (YESTERDAY - timedelta(days=1)).isoformat()
    code, out, err = cli(
        capsys,
        "task",
        "backfill",
        "spenders_daily",
        "--from",
        first,
        "--to",
        YESTERDAY.strftime("%Y%m%d"),
        "--groups",
        "2",
        "--wait",
    )
    assert code == 0, out + err
    assert out.strip().endswith("succeeded")

    code, out, _ = cli(capsys, "instance", "list", "--task", "spenders_daily", "--json")
    views = json.loads(out)
    assert sorted(v["bizdate"] for v in views) == [first, YESTERDAY.isoformat()]
    assert {v["status"] for v in views} == {"succeeded"} and all(v["rows"] > 0 for v in views)
    code, out, _ = cli(capsys, "instance", "log", str(views[0]["id"]))
    assert "replaced big_spenders (partition)" in out

    code, out, _ = cli(capsys, "permission", "list", "--json")
    assert [p["table"] for p in json.loads(out)] == ["wh:big_spenders"]


def test_task_list_filters(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def names(*filters: str) -> list[str]:
        code, out, err = cli(capsys, "task", "list", "--json", *filters)
        assert code == 0, err
        return [row["name"] for row in json.loads(out)]

    assert names() == ["seed_manual", "spenders_daily"]
    assert names("--schedule-type", "manual") == ["seed_manual"]
    assert names("--name", "SPEND") == ["spenders_daily"]
    assert names("--entity", "user-user_id", "--status", "editing") == [
        "seed_manual",
        "spenders_daily",
    ]
    assert names(
        "--exec-status", "not_run", "--mine", "--app", "demo_app", "--target-type", "project"
    ) == ["seed_manual", "spenders_daily"]
    assert names("--status", "published") == []


def test_a_manual_run_and_the_refusals_a_person_meets(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "task", "run", "seed_manual")
    assert code == 5 and "cannot run: the task is editing" in err
    code, out, err = cli(capsys, "task", "publish", "seed_manual", "--wait")
    assert out.strip() == "seed_manual: publish_failed"
    assert code == 5 and "target table wh:seed_users does not exist; create it first" in err
    assert cli(capsys, "task", "create-table", "seed_manual")[0] == 0
    assert cli(capsys, "task", "publish", "seed_manual", "--wait")[0] == 0
    code, out, err = cli(capsys, "task", "run", "seed_manual", "--bizdate", "yesterday")
    assert code == 3 and "is not a date" in err
    code, out, err = cli(capsys, "task", "run", "seed_manual", "--wait")
    assert code == 0, err
    assert re.search(r"instance \d+: succeeded, [1-9][\d,]* rows", out), out
    code, _, err = cli(capsys, "task", "delete", "seed_manual")
    assert code == 5 and "cannot delete: the task is published" in err
    assert cli(capsys, "task", "unpublish", "seed_manual", "--wait")[1].strip() == (
        "seed_manual: offline"
    )
    assert cli(capsys, "task", "delete", "seed_manual")[0] == 0
