"""The CLI as a person uses it: commands, exit codes, messages, JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tagport.cli.main import run

EXAMPLES = Path(__file__).parents[2] / "examples"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ready(home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert cli(capsys, "init")[0] == 0
    return home


def test_init_apply_twice_list_show_export(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "apply", "-f", str(EXAMPLES))
    assert code == 0 and "created  OfflineService hz_vip_to_crm" in out
    assert out.strip().endswith("20 created, 0 updated, 0 unchanged")
    code, out, _ = cli(capsys, "apply", "-f", str(EXAMPLES))
    assert (code, out.strip()) == (0, "no change (0 created, 0 updated, 20 unchanged)")

    code, out, _ = cli(capsys, "list", "tags", "--json")
    assert [d["code"] for d in json.loads(out)] == ["age", "city", "is_vip", "total_spend"]
    code, out, _ = cli(capsys, "show", "offlineservice", "杭州会员导出", "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["execution_status"]) == ("editing", "not_run")
    assert shown["mapping"] == [{"source": "user_id", "target": "uid"}]

    for plural, count in (("entities", 1), ("securitysettings", 1), ("datasources", 3)):
        assert len(json.loads(cli(capsys, "list", plural, "--json")[1])) == count

    code, out, _ = cli(capsys, "export", "--kind", "Tag")
    assert code == 0 and out.count("kind: Tag") == 4 and "kind: User" not in out


def test_user_search_finds_owners_by_keyword(
    ready: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "user", "add", "alice", "--display-name", "Alice Wang")[0] == 0
    assert cli(capsys, "user", "add", "bob", "-n", "Bob Li")[0] == 0
    _, out, _ = cli(capsys, "user", "list", "--search", "wang", "--json")
    assert [u["name"] for u in json.loads(out)] == ["alice"]


def test_invalid_documents_exit_3_listing_every_problem(
    ready: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    (tmp_path / "ex" / "zz.yaml").write_text(
        "kind: Tag\ncode: Bad\nname: x\nentity: user\nvalue_type: text\n"
        "source: {table: nowhere, key: k, column: c}\n"
    )
    code, out, err = cli(capsys, "apply", "-f", str(tmp_path / "ex"))
    assert code == 3 and out == ""
    assert "3 problems" in err
    for field in (
        "code: must start",
        "value_type: unknown value type 'text'",
        "source.table: must be PROJECT.TABLE",
    ):
        assert field in err
    assert "Traceback" not in err
    code, out, _ = cli(capsys, "list", "tags", "--json")
    assert json.loads(out) == []


def test_passwords_are_absent_from_every_output(
    ready: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ds.yaml").write_text(
        "kind: DataSource\nname: pg\ntype: postgresql\nhost: h\ndatabase: d\n"
        "password: hunter2-secret\nowner: operator\n"
    )
    assert cli(capsys, "apply", "-f", str(tmp_path / "ds.yaml"))[0] == 0
    outputs = [
        cli(capsys, "show", "datasource", "pg")[1],
        cli(capsys, "show", "datasource", "pg", "--json")[1],
        cli(capsys, "list", "datasources", "--json")[1],
        cli(capsys, "export")[1],
    ]
    assert all("hunter2" not in o for o in outputs)
    assert json.loads(outputs[1])["has_password"] is True
    assert b"hunter2" not in (ready / "tagport.db").read_bytes()


def test_errors_are_messages_with_exit_codes_not_tracebacks(
    ready: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "show", "tag", "nope")
    assert (code, err.strip()) == (4, "error: Tag 'nope' does not exist")
    code, _, err = cli(capsys, "--as", "ghost", "user", "add", "x")
    assert code == 6 and "unknown user 'ghost'" in err
    code, _, err = cli(capsys, "list", "widgets")
    assert code == 3 and "unknown kind 'widgets'" in err


def test_token_is_printed_once(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "token", "create", "--name", "ci")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("tp_") and token.encode() not in (ready / "tagport.db").read_bytes()


def test_db_upgrade_and_the_installed_console_script(ready: Path) -> None:
    script = Path(sys.executable).with_name("tagport")
    done = subprocess.run(
        [str(script), "db", "upgrade"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "already at revision 0006" in done.stdout
