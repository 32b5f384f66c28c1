"""Value types of tags and entity IDs, parsed from and rendered to their configuration spelling."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_ROW_ID = 2**31 - 1
"""Row ids are INTEGER columns: a larger id names nothing, and PostgreSQL refuses it outright,
so interfaces refuse it as bad input first."""


class ValueKind(StrEnum):
    STRING = "string"
    LONG = "long"
    DOUBLE = "double"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"


LOOKUP_KINDS = frozenset({ValueKind.STRING, ValueKind.LONG, ValueKind.BOOLEAN})
"""Only these tag types may have a lookup table (code value -> code name)."""

DEFAULT_PRECISION, DEFAULT_SCALE, MAX_PRECISION = 38, 18, 38

_DECIMAL = re.compile(r"decimal\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?")


@dataclass(frozen=True)
class ValueType:
    """A tag's value type; `decimal` carries precision and scale."""

    kind: ValueKind
    precision: int | None = None
    scale: int | None = None

    @classmethod
    def parse(cls, text: str) -> ValueType:
        """Parse `string`, `long`, …, `decimal`, `decimal(p)`, `decimal(p,s)`, any case."""
        spelled = str(text).strip().lower()
        match = _DECIMAL.fullmatch(spelled)
        if match:
            precision = int(match.group(1)) if match.group(1) else DEFAULT_PRECISION
            default_scale = DEFAULT_SCALE if not match.group(1) else 0
            scale = int(match.group(2)) if match.group(2) else default_scale
            if not 1 <= precision <= MAX_PRECISION:
                raise ValueError(f"decimal precision must be 1-{MAX_PRECISION}, not {precision}")
            if scale > precision:
                raise ValueError(f"decimal scale {scale} exceeds precision {precision}")
            return cls(ValueKind.DECIMAL, precision, scale)
        try:
            return cls(ValueKind(spelled))
        except ValueError:
            allowed = ", ".join(k.value for k in ValueKind if k is not ValueKind.DECIMAL)
            raise ValueError(
                f"unknown value type {text!r}; use {allowed} or decimal(p,s)"
            ) from None

    def __str__(self) -> str:
        if self.kind is ValueKind.DECIMAL:
            return f"decimal({self.precision},{self.scale})"
        return self.kind.value

    @property
    def allows_lookup(self) -> bool:
        return self.kind in LOOKUP_KINDS


class IdType(StrEnum):
    """Type of an entity's ID field."""

    BIGINT = "bigint"
    STRING = "string"


_BOOL_SPELLINGS = {"true": True, "false": False, "1": True, "0": False}


def parse_code(kind: ValueKind, code: str) -> str:
    """Normalise a lookup code for a tag of `kind`; raise ValueError if it is not of that type."""
    text = str(code).strip()
    if kind is ValueKind.LONG:
        try:
            return str(int(text))
        except ValueError:
            raise ValueError(f"code {code!r} is not a whole number") from None
    if kind is ValueKind.BOOLEAN:
        if text.lower() not in _BOOL_SPELLINGS:
            raise ValueError(f"code {code!r} is not true or false")
        return "true" if _BOOL_SPELLINGS[text.lower()] else "false"
    return str(code)
