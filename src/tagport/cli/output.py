"""Printing for the CLI: Rich tables for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

# Everything printed may contain user text (names, descriptions, messages quoting them): Rich
# never reads markup or emoji codes in it. Styles are given with `style=`, never inline.
console = Console(markup=False, emoji=False)
errors = Console(stderr=True, markup=False, emoji=False)


def print_json(data: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for a pipe.
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    console.print(table)
    if not rows:
        console.print("(none)", style="dim")
