"""The one exit-code table: every error class has its code, and docs/errors.md says the same."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import tagport
from tagport import errors
from tagport.cli import main as cli_main
from tagport.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Problem,
    TagportError,
    exit_code,
    gathered,
)

DOCS = Path(__file__).parents[2] / "docs" / "errors.md"
EXPECTED = {
    "TagportError": 1,
    "InvalidInput": 3,
    "NotFound": 4,
    "Conflict": 5,
    "InvalidTransition": 5,
    "PermissionDenied": 6,
    "Unauthenticated": 6,
    "ConfigError": 7,
    "ExternalError": 8,
    "TerminalError": 8,
    "TransientError": 9,
}


def every_error_class() -> list[type[TagportError]]:
    """TagportError and every subclass defined anywhere in tagport (modules imported first)."""
    for module in pkgutil.walk_packages(tagport.__path__, "tagport."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    found, pending = [], [TagportError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def documented() -> dict[str, int]:
    """`error class -> exit code` from the table in docs/errors.md."""
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", DOCS.read_text(), re.MULTILINE)
    return {name: int(code) for code, name in rows}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_error_class_of_the_hierarchy_has_its_exit_code(name: str) -> None:
    error = getattr(errors, name).__new__(getattr(errors, name))
    assert exit_code(error) == EXPECTED[name]


@pytest.mark.parametrize(("name", "code"), sorted(EXPECTED.items()))
def test_the_cli_process_ends_with_the_code_of_each_error(
    name: str, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the console entry point, not the lookup alone: what a calling script sees."""
    error = getattr(errors, name).gathering([Problem("task t", "field", "went wrong")])

    def failing_command(**_: object) -> None:
        raise error

    monkeypatch.setattr(cli_main, "app", failing_command)
    with pytest.raises(SystemExit) as ended:
        cli_main.main()
    assert ended.value.code == code
    assert capsys.readouterr().err.strip() == "error: task t: field: went wrong"


def test_a_bug_ends_the_cli_with_70_and_a_usage_error_with_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TAGPORT_DEBUG", raising=False)
    assert cli_main.run(["no-such-command"]) == 2

    def buggy(**_: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(cli_main, "app", buggy)
    assert cli_main.run([]) == errors.INTERNAL_ERROR_EXIT == 70
    assert "internal error: KeyError" in capsys.readouterr().err


def test_docs_show_the_table_the_code_uses() -> None:
    assert documented() == EXPECTED


def test_every_error_class_anywhere_maps_to_a_documented_code() -> None:
    codes = set(EXPECTED.values())
    for cls in every_error_class():
        error = cls.__new__(cls)
        assert exit_code(error) in codes, cls
        assert cls.__module__ == "tagport.errors" or cls.__name__ in DOCS.read_text(), cls


def test_a_batch_keeps_a_shared_class_else_takes_the_most_serious() -> None:
    denied = PermissionDenied("bob may not create project p2")
    missing = NotFound("tag", "nope")
    invalid = InvalidInput.one("doc#1", "code", "too long")
    assert type(gathered([invalid, InvalidInput.one("doc#2", "", "x")])) is InvalidInput
    mixed = gathered([invalid, missing, denied])
    assert type(mixed) is PermissionDenied and exit_code(mixed) == 6
    assert [str(p) for p in mixed.problems] == [
        "doc#1: code: too long",
        "tag 'nope' does not exist",
        "bob may not create project p2",
    ]
    assert type(gathered([invalid, Conflict("in use")])) is Conflict
    one = Conflict.gathering([Problem("publish t", "", "a"), Problem("publish t", "", "b")])
    assert str(one) == "publish t: a\npublish t: b" and len(one.problems) == 2


def test_several_problems_read_one_per_line() -> None:
    error = InvalidInput([Problem("doc#1", "code", "too long"), Problem("doc#2", "", "no kind")])
    assert str(error) == "doc#1: code: too long\ndoc#2: no kind"


def test_a_batch_of_classes_outside_the_severity_order_is_invalid_input() -> None:
    """Mixed classes that none of SEVERITY covers still make one error, of the default class."""
    mixed = gathered([errors.ConfigError("no home"), errors.TransientError("server gone")])
    assert type(mixed) is InvalidInput and exit_code(mixed) == 3
    assert str(mixed) == "no home\nserver gone"


def test_a_gathered_plain_error_becomes_a_problem_without_place() -> None:
    """What JSON output shows for it: empty `where` and `field`, never null."""
    mixed = gathered([Conflict("in use"), NotFound("tag", "nope")])
    assert mixed.problems == [
        Problem("", "", "in use"),
        Problem("", "", "tag 'nope' does not exist"),
    ]
