"""Issue 17 through the CLI: refusals with their exact message and exit code, for a member of
another team (carol) and for a user outside every project (dave); user text never as markup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from tagport.cli.main import run
from tagport.config import load_settings
from tagport.services import home
from tagport.store import tables as t
from tests.integration.test_authorization import TEAMS

EXAMPLES = Path(__file__).parents[2] / "examples"
GUESS = """
kind: DataSource
name: secret_pg
type: postgresql
host: db.example
port: 5432
database: crm
username: app
password: {password}
owner: alice
"""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, body: str) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(body, encoding="utf-8")
    return str(tmp_path / name)


@pytest.fixture
def teams(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert cli(capsys, "init")[0] == 0
    assert cli(capsys, "apply", "-f", str(EXAMPLES))[0] == 0
    for login in ("carol", "dave", "erin"):
        assert cli(capsys, "user", "add", login)[0] == 0
    assert cli(capsys, "user", "set-roles", "erin", "--datasource-admin")[0] == 0
    code, _, err = cli(capsys, "apply", "-f", write(tmp_path, "teams.yaml", TEAMS))
    assert code == 0, err
    return home


@pytest.mark.parametrize("login", ["bob", "dave"])
def test_a_guessed_password_gets_the_same_answer_right_or_wrong(
    teams: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], login: str
) -> None:
    right, wrong = (
        cli(
            capsys,
            *("--as", login, "apply", "--dry-run", "-f"),
            write(tmp_path / password, "guess.yaml", GUESS.format(password=password)),
        )
        for password in ("right-password", "wrong-guess")
    )
    assert right[0] == wrong[0] and right[1] == wrong[1]
    assert right[2].replace("right-password", "") == wrong[2].replace("wrong-guess", "")
    code, out, err = right
    assert (code, out) == (6, "")  # a refusal, whatever the guess
    assert err.strip().endswith(
        f"(DataSource secret_pg): {login} may not change data source secret_pg: "
        "only its owner who is a data source admin or a super admin may"
    )


NOT_A_DATASOURCE_ADMIN = "only a data source admin or a super admin may"


@pytest.mark.parametrize(
    ("login", "message"),
    [
        ("bob", f"bob may not create data source env_pg: {NOT_A_DATASOURCE_ADMIN}"),
        ("dave", f"dave may not create data source env_pg: {NOT_A_DATASOURCE_ADMIN}"),
        ("erin", "erin may not set password_env of data source env_pg: only a super admin may"),
    ],
)
def test_only_a_super_admin_names_a_password_env(
    teams: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], login: str, message: str
) -> None:
    body = (
        "kind: DataSource\nname: env_pg\ntype: postgresql\nhost: db.example\ndatabase: d\n"
        f"password_env: TAGPORT_DS_PG\nowner: {login}\n"
    )
    code, _, err = cli(capsys, "--as", login, "apply", "-f", write(tmp_path, "env.yaml", body))
    assert code == 6 and err.strip().endswith(message)
    code, _, err = cli(capsys, "apply", "-f", write(tmp_path, "home.yaml", body.replace(
        "TAGPORT_DS_PG", "HOME").replace(f"owner: {login}", "owner: operator")))  # fmt: skip
    assert code == 3 and err.strip().endswith(
        "password_env: HOME does not start with TAGPORT_DS_ (TAGPORT_DS_ENV_PREFIX)"
    )


@pytest.mark.parametrize("login", ["carol", "dave"])
def test_another_team_cannot_edit_a_lookup_table_the_teams_task_uses(
    teams: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], login: str
) -> None:
    body = 'kind: LookupTable\ncode: city_codes\nname: City\ncodes: {"571": Edited}\n'
    code, out, err = cli(capsys, "--as", login, "apply", "-f", write(tmp_path, "lt.yaml", body))
    assert (code, out) == (6, "")
    assert err.strip().endswith(
        f"{login} may not change lookup table city_codes: "
        "only a member of its project or a super admin may"
    )
    code, out, _ = cli(capsys, "show", "lookuptable", "city_codes", "--json")
    assert json.loads(out)["codes"]["571"] == "Hangzhou"


@pytest.fixture
def instance(teams: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Instance 1: a backfill day of marketing's task hz_vip_to_crm (published behind the
    services' back: publishing would connect to its target)."""
    db = home.open_database(load_settings())
    with db.uow() as uow:
        uow.session.execute(
            update(t.OfflineService)
            .where(t.OfflineService.name == "hz_vip_to_crm")
            .values(status="published", published=t.OfflineService.draft, published_revision=1)
        )
        uow.commit()
    db.dispose()
    code, _, err = cli(
        capsys, "task", "backfill", "hz_vip_to_crm", "--from", "2026-11-20", "--to", "2026-11-20"
    )
    assert code == 0, err
    return "1"


@pytest.mark.parametrize("login", ["carol", "dave"])
def test_instance_details_and_logs_only_for_those_who_see_the_task(
    instance: str, capsys: pytest.CaptureFixture[str], login: str
) -> None:
    message = (
        f"error: {login} may not view offline service hz_vip_to_crm: "
        "only its owner or a member of its application or a super admin may"
    )
    for command in (
        ("instance", "show", instance),
        ("instance", "log", instance),
        ("instance", "list", "--task", "hz_vip_to_crm"),
        ("task", "show", "hz_vip_to_crm"),
        ("task", "ddl", "hz_vip_to_crm"),  # would connect to the target
        ("show", "offlineservice", "hz_vip_to_crm"),
    ):
        code, out, err = cli(capsys, "--as", login, *command)
        assert (code, out, err.strip()) == (6, "", message), command
    for command in (("instance", "list"), ("task", "list"), ("list", "offlineservices")):
        code, out, _ = cli(capsys, "--as", login, *command, "--json")
        assert (code, json.loads(out)) == (0, []), command
    code, out, _ = cli(capsys, "--as", "bob", "instance", "show", instance, "--json")
    assert code == 0 and json.loads(out)["task"] == "hz_vip_to_crm"


def test_only_a_super_admin_sets_roles(teams: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "--as", "erin", "user", "set-roles", "erin", "--super-admin")
    assert (code, err.strip()) == (
        6,
        "error: erin may not change user erin: only a super admin may",
    )
    _, out, _ = cli(capsys, "user", "list", "--search", "erin", "--json")
    assert json.loads(out)[0]["roles"] == ["datasource_admin"]


MARKUP = ["[/]", "[bold]loud[/bold]", "[red", ":thumbs_up: [link=http://x]y[/link]"]


def test_names_are_printed_as_written_never_as_markup(
    teams: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "\n---\n".join(
        json.dumps({"kind": "LookupTable", "code": f"m{i}", "name": name, "codes": {"1": name}})
        for i, name in enumerate(MARKUP)
    )
    assert cli(capsys, "apply", "-f", write(tmp_path, "markup.yaml", body))[0] == 0
    code, out, err = cli(capsys, "list", "lookuptables")
    assert (code, err) == (0, "")
    assert all(name in out for name in MARKUP[:2])  # the table folds long cells
    code, out, err = cli(capsys, "show", "lookuptable", "m3")
    assert (code, err) == (0, "") and MARKUP[3] in out
    code, _, err = cli(capsys, "--as", "dave", "delete", "lookuptable", "m0")
    assert (code, err.strip()) == (
        6,
        "error: dave may not delete lookup table m0: "
        "only a member of its project or a super admin may",
    )
