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
    assert names("--owner", "operator", "--datasource", "wh") == ["seed_manual", "spenders_daily"]
    assert names("--owner", "nobody") == []


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


def test_refusals_name_the_valid_values_and_exit_by_the_table(
    demo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(capsys, "task", "list", "--status", "live", "--exec-status", "ok")
    assert code == 3 and out == ""
    assert "status: 'live' is not one of editing, publishing, published" in err
    assert "execution_status: 'ok' is not one of not_run, waiting" in err

    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    assert cli(capsys, "task", "create-table", "seed_manual")[0] == 0
    assert cli(capsys, "task", "publish", "seed_manual", "--wait")[0] == 0
    code, _, err = cli(capsys, "task", "run", "seed_manual", "--bizdate", tomorrow)
    assert code == 3 and "is in the future" in err
    code, _, err = cli(capsys, "task", "backfill", "spenders_daily", "--to", "9999-12-31")
    assert code == 3 and "9999-12-31 is in the future" in err and "Traceback" not in err

    # apply: a permission refusal exits 6, an edit of a busy task 5 (not 3, "invalid input").
    (tmp_path / "p.yaml").write_text("kind: Project\nname: p9\ntype: tag\n")
    assert cli(capsys, "user", "add", "mallory")[0] == 0
    code, _, err = cli(capsys, "--as", "mallory", "apply", "-f", str(tmp_path / "p.yaml"))
    assert code == 6 and "mallory may not create project p9" in err
    code, out, _ = cli(capsys, "task", "publish", "spenders_daily")
    assert code == 0 and "tagport task show spenders_daily" in out
    document = TASKS.split("---")[2] + "description: edited while publishing\n"
    (tmp_path / "t.yaml").write_text(document)
    code, _, err = cli(capsys, "apply", "-f", str(tmp_path / "t.yaml"))
    assert code == 5 and "cannot edit: the task is publishing" in err
    # `publish --wait` completes the pending request instead of refusing it.
    code, out, err = cli(capsys, "task", "publish", "spenders_daily", "--wait")
    assert code == 5 and out.strip() == "spenders_daily: publish_failed"
    assert "target table wh:big_spenders does not exist" in err
    code, out, _ = cli(capsys, "task", "show", "spenders_daily")
    assert "failure_reasons:\n- target table wh:big_spenders does not exist" in out


def test_a_run_says_what_it_waits_for_and_a_failed_run_exits_8(
    demo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    manual = TASKS.split("---")[3].replace("seed_manual", "spenders_manual")
    manual = manual.replace("crm_seed_users", "big_spenders").replace("seed_users", "spenders")
    (tmp_path / "t.yaml").write_text(manual)
    assert cli(capsys, "apply", "-f", str(tmp_path / "t.yaml"))[0] == 0
    assert cli(capsys, "task", "create-table", "spenders_manual")[0] == 0
    assert cli(capsys, "task", "publish", "spenders_manual", "--wait")[0] == 0
    monkeypatch.setenv("TAGPORT_READINESS_TIMEOUT_SECONDS", "1")
    today = date.today().isoformat()  # no partition of today exists yet
    code, out, err = cli(capsys, "task", "run", "spenders_manual", "--bizdate", today, "--wait")
    assert code == 8, out + err
    assert "waiting for source partitions: " in out and "giving up in 1 s" in out
    assert re.search(r"instance \d+: failed", out)
    assert "failed: source partitions never arrived" in err


def test_an_explicit_mapping_matches_sources_in_any_case(
    demo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli(capsys, "task", "create-table", "seed_manual")[0] == 0
    document = TASKS.split("---")[3].replace("table: seed_users}", "table: seed_users, ")
    document = document.replace(", \n", ", partition_field: ds}\n")
    (tmp_path / "t.yaml").write_text(document + "mapping: [{source: USER_ID, target: User_Id}]\n")
    assert cli(capsys, "apply", "-f", str(tmp_path / "t.yaml"))[0] == 0
    assert cli(capsys, "task", "publish", "seed_manual", "--wait")[0] == 0
    code, out, err = cli(capsys, "task", "run", "seed_manual", "--wait")
    assert code == 0, out + err
    assert re.search(r"instance \d+: succeeded, [1-9][\d,]* rows", out)


def test_an_instance_of_an_offline_task_is_not_rerun(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "task", "create-table", "seed_manual")[0] == 0
    assert cli(capsys, "task", "publish", "seed_manual", "--wait")[0] == 0
    code, out, _ = cli(capsys, "task", "run", "seed_manual", "--wait")
    assert code == 0
    instance_id = re.search(r"instance (\d+)", out).group(1)  # type: ignore[union-attr]
    assert cli(capsys, "task", "unpublish", "seed_manual", "--wait")[0] == 0
    code, _, err = cli(capsys, "instance", "rerun", instance_id)
    assert code == 5
    assert f"cannot rerun instance {instance_id}: task seed_manual is offline" in err


def test_a_member_requests_write_and_the_owner_approves(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "user", "add", "bob")[0] == 0
    code, out, err = cli(
        capsys,
        "--as",
        "bob",
        "permission",
        "request",
        "wh",
        "seeds",
        "--reason",
        "x",
        "--days",
        "9",
    )
    assert code == 3 and "9 is not one of 7, 30, 90, 180, 365" in err
    code, out, _ = cli(
        capsys,
        "--as",
        "bob",
        "permission",
        "request",
        "wh",
        "seeds",
        "--reason",
        "sync",
        "--days",
        "7",
    )
    assert code == 0 and "pending the data source owner's decision" in out
    code, out, err = cli(capsys, "--as", "bob", "permission", "approve", "1")
    assert code == 6 and "only the data source owner or a super admin" in err
    code, out, _ = cli(capsys, "permission", "requests", "--to-approve", "--json")
    assert [(r["user"], r["table"], r["status"]) for r in json.loads(out)] == [
        ("bob", "wh:seeds", "pending")
    ]
    assert cli(capsys, "permission", "approve", "1")[1].strip() == "request 1: approved"
    code, out, _ = cli(capsys, "--as", "bob", "permission", "list", "--expiring", "--json")
    [grant] = json.loads(out)
    assert (grant["table"], grant["status"], grant["expiring_soon"]) == ("wh:seeds", "active", True)
    code, out, _ = cli(capsys, "--as", "bob", "permission", "return", "wh", "seeds")
    assert (code, out.strip()) == (0, "returned 1 permission(s) on wh:seeds")
