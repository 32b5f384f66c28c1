"""Every CLI command, driven with hostile but plausible arguments: never a traceback, never an
exit code outside the table (docs/errors.md).

The commands are read from the Typer app itself, so a new command is covered the day it lands.
Values mix names that exist in a small demo home with the mistakes people make: typos, empty
strings, Rich markup, SQL quotes, dates out of range, paths that are directories or missing.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagport.cli.main import app, run
from tagport.errors import EXIT_CODES
from tests.budget import examples

SKIPPED = {("serve",), ("api",), ("scheduler",), ("worker",), ("demo", "data")}
"""Long-running roles and the demo builder: covered by their own tests."""
ALLOWED_EXITS = {0, 2} | {code for _, code in EXIT_CODES if code != 1}
"""Success, a command line that does not parse, and every error class's code (1, the root's,
would mean an error nobody classified)."""

TODAY = date.today()
NAMES = [
    "spenders_daily",
    "seed_manual",
    "big_spenders",
    "crm_seed_users",
    "wh",
    "operator",
    "mallory",
    "tag_prod",
    "tag_prod.user_profile",
    "user",
    "tags",
    "OfflineService",
    "datasources",
    "city",
]
HOSTILE = [
    "",
    " ",
    "-1",
    "0",
    "1",
    "2",
    "99999999999999999999",
    "[/]",
    "[bold]x",
    "%s%n",
    "'; DROP TABLE users; --",
    '"quoted"',
    "*",
    "名字ü",
    "x" * 300,
    "NULL",
    "yesterday",
    "9999-12-31",
    "1899-12-31",
    "2026-02-30",
    "00000000",
    (TODAY - timedelta(days=1)).isoformat(),
    (TODAY - timedelta(days=3)).strftime("%Y%m%d"),
    TODAY.isoformat(),
    (TODAY + timedelta(days=1)).isoformat(),
    "SELECT 1",
    "SELECT count(*) FROM tag_prod.user_profile",
]
FILES = [
    "ok.yaml",
    "markup.yaml",
    "bad.yaml",
    "empty.csv",
    "ok.csv",
    "bad.csv",
    "missing.yaml",
    "adir",
    "[/]",
]
FILE_PARAMS = {"files", "sql_file", "output", "file"}

text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
values = st.one_of(st.sampled_from(NAMES + HOSTILE), text)


def commands() -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf command of the app, with its path (`("task", "run")`)."""
    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        elif path not in SKIPPED:
            found.append((path, command))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = commands()


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    """One command line: a command, its arguments, some of its options, maybe `--as`."""
    path, command = draw(st.sampled_from(COMMANDS))
    argv: list[str] = []
    if draw(st.booleans()) and draw(st.booleans()):
        argv += ["--as", draw(st.sampled_from(["operator", "mallory", "ghost", ""]))]
    argv += list(path)
    for param in command.params:
        if param.name == "help":
            continue
        pool = st.sampled_from(FILES) if param.name in FILE_PARAMS else values
        if type(param).__name__.endswith("Argument"):
            if param.required or draw(st.booleans()):
                argv.append(draw(pool))
        elif param.is_flag:
            if draw(st.booleans()):
                argv.append(param.opts[0])
        elif param.required or draw(st.booleans()):
            argv += [param.opts[-1], draw(pool)]
    return argv


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small demo home with published tasks, a member and files good and bad, as cwd."""
    root = tmp_path_factory.mktemp("hostile")
    env = {
        "TAGPORT_HOME": str(root / "home"),
        "TAGPORT_READINESS_TIMEOUT_SECONDS": "0",
        "TAGPORT_RETRY_BACKOFF_SECONDS": "0",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in ("TAGPORT_DATABASE_URL", "TAGPORT_SECRET_KEY", "TAGPORT_USER"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.chdir(root)
        from tests.e2e.test_cli_tasks import TASKS

        (root / "ok.yaml").write_text(TASKS)
        (root / "markup.yaml").write_text(
            'kind: LookupTable\ncode: odd\nname: "[/]"\ncodes: {"1": "[bold]x[/"}\n'
        )
        (root / "bad.yaml").write_text("kind: Tag\ncode: [unclosed\n")
        (root / "empty.csv").write_text("")
        (root / "ok.csv").write_text("user_id,city\n1,hz\n")
        (root / "bad.csv").write_text("user_id,city\nabc,hz,extra\n")
        (root / "adir").mkdir()
        for argv in (
            ["init"],
            ["demo", "data", "--rows", "500"],
            ["apply", "-f", "ok.yaml"],
            ["apply", "-f", "markup.yaml"],
            ["user", "add", "mallory"],
            ["task", "create-table", "seed_manual"],
            ["task", "publish", "seed_manual", "--wait"],
            ["task", "run", "seed_manual", "--wait"],
        ):
            assert run(argv) == 0, argv
        yield root


@settings(
    max_examples=examples(int(os.environ.get("TAGPORT_HOSTILE_EXAMPLES", "150"))),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not os.environ.get("TAGPORT_HOSTILE_RANDOM"),
)
@given(argv=invocations())
def test_no_command_shows_a_traceback_or_an_unknown_exit_code(
    hostile_home: Path, capfd: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    random.seed(0)
    code = run(argv)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, argv
    assert "internal error" not in err, (argv, err)
    assert code in ALLOWED_EXITS, (argv, code, out, err)


def test_every_command_is_driven() -> None:
    """The generator reaches every command the app has (but the long-running ones)."""
    paths = {path for path, _ in COMMANDS}
    assert ("task", "run") in paths and ("warehouse", "import") in paths and len(paths) >= 30
