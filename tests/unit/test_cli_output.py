"""The CLI's tables into a pipe: a header and one line a row, never wrapped, aligned by the
width a terminal gives each character (so `grep`, `awk` and `less -S` read them)."""

from __future__ import annotations

import pytest

from tagport.cli.output import print_table


def test_a_piped_table_keeps_each_row_on_one_line_aligned_by_display_width(
    capsys: pytest.CaptureFixture[str],
) -> None:
    long = "a description of " + "many words " * 30
    print_table(
        "Offline services",
        ["name", "owner", "description"],
        [
            {"name": "杭州会员导出", "owner": "bob", "description": long},
            {"name": "hz_vip_to_crm", "owner": None, "description": "two\nlines"},
        ],
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "name           owner  description",
        "杭州会员导出   bob    " + " ".join(long.split()),
        "hz_vip_to_crm         two lines",
    ]


def test_an_empty_piped_table_prints_its_header_and_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_table("Tokens", ["id", "expires_at"], [])
    assert capsys.readouterr().out.splitlines() == ["id  expires_at", "(none)"]
