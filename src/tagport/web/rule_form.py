"""The rule builder's rows (tag, operator, value) to and from a rule document.

A row's value is typed text; it becomes the tag's kind of value here (`30` a number for a whole
number tag, `true` a boolean), lists for `in`/`between` are comma-separated. Whether the value
suits the tag is the catalog's check, so a wrong value is refused with the service's reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from tagport.domain.rules import LIST_OPS, NO_VALUE_OPS, Op
from tagport.domain.values import ValueKind, ValueType

MAX_ROWS = 50
CONNECTORS = ("all", "any")
"""AND (every condition) or OR (any condition)."""
_ROW = re.compile(r"^rule\.(?:all|any)\[(\d+)\]")
_WHOLE = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Row:
    tag: str = ""
    op: str = Op.EQ.value
    value: str = ""


def rows_of(form: FormData) -> list[Row]:
    """The rows as submitted (`tag_0`, `op_0`, `value_0`, …, up to `rows`)."""
    count = min(_number(form.get("rows")), MAX_ROWS)
    rows = []
    for i in range(count):
        rows.append(Row(_text(form, f"tag_{i}"), _text(form, f"op_{i}"), _text(form, f"value_{i}")))
    return rows or [Row()]


def rule_document(rows: list[Row], connector: str, types: Mapping[str, ValueType]) -> Any:
    """`{all: [...]}` or `{any: [...]}` of the rows, values typed by their tag's kind."""
    conditions = []
    for row in rows:
        condition: dict[str, Any] = {"tag": row.tag, "op": row.op}
        kind = types[row.tag].kind if row.tag in types else ValueKind.STRING
        if row.op in {op.value for op in NO_VALUE_OPS}:
            pass
        elif row.op in {op.value for op in LIST_OPS} or row.op == Op.BETWEEN.value:
            condition["value"] = [_typed(kind, part.strip()) for part in row.value.split(",")]
        else:
            condition["value"] = _typed(kind, row.value)
        conditions.append(condition)
    return {connector if connector in CONNECTORS else "all": conditions}


def rows_of_rule(rule: Any) -> tuple[str, list[Row]] | None:
    """The connector and rows of a stored rule that the builder can show (one level of
    conditions); None for a nested rule (not, another group, mixed AND/OR)."""
    if not isinstance(rule, dict) or len(rule) != 1:
        return None
    connector, items = next(iter(rule.items()))
    if connector not in CONNECTORS or not all(isinstance(c, dict) and "tag" in c for c in items):
        return None
    return connector, [Row(c["tag"], c["op"], _shown(c.get("value"))) for c in items]


def row_of(path: str) -> int | None:
    """The row a problem's path points at (`rule.all[2].value` -> 2), if any."""
    match = _ROW.match(path)
    return int(match.group(1)) if match else None


def _typed(kind: ValueKind, text: str) -> Any:
    if kind is ValueKind.LONG and _WHOLE.fullmatch(text):
        return int(text)
    if kind is ValueKind.DOUBLE:
        try:
            return float(text)
        except ValueError:
            return text
    if kind is ValueKind.BOOLEAN and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(value: object) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else 1
