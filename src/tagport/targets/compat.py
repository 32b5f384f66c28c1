"""Can a target column hold an exported field? The check publishing runs on every mapping.

Column types arrive as each database reports them (PostgreSQL `format_type`, MySQL
`column_type`, Oracle `data_type`, DuckDB `data_type`). The rule: the loader must be able to
write every value of the field's type without losing it silently. Integer columns narrower
than bigint are accepted for `long`: the load casts safely and fails with a TerminalError on
a value that overflows. Any text column accepts any field (values are written as text).
"""

from __future__ import annotations

import re

from tagport.domain.values import IdType, ValueKind, ValueType

_TEXT = re.compile(
    r"(text|tinytext|mediumtext|longtext|varchar|character varying|char|character|bpchar|"
    r"varchar2|nvarchar2|nchar|clob|nclob|string)\b.*"
)
_INTEGER = re.compile(
    r"(bigint|int8|integer|int|int4|int2|smallint|mediumint|tinyint|hugeint|ubigint|uinteger)"
    r"(\(\d+\))?( unsigned)?( zerofill)?"
)
_FLOAT = re.compile(
    r"(double precision|double|float8|float4|float|real|binary_double|binary_float)(\(\d+\))?"
)
_EXACT = re.compile(r"(numeric|decimal|number|dec)(\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\))?")
_BOOLEAN = re.compile(r"(boolean|bool|bit\(1\)|bit|tinyint\(1\)|number\(1\)|number\(1,0\))")
_DATE = re.compile(r"date")
_TIMESTAMP = re.compile(r"(timestamp|datetime|timestamptz)\b.*")


def _exact_digits(column: str) -> tuple[int, int] | None:
    """(integer digits, scale) of an exact numeric column; (∞, ∞) when unconstrained."""
    match = _EXACT.fullmatch(column)
    if match is None:
        return None
    if match.group(3) is None:
        return (1_000, 1_000)
    precision, scale = int(match.group(3)), int(match.group(4) or 0)
    return (precision - scale, scale)


def accepts(column_type: str, field: ValueType | IdType) -> bool:
    """True when a column of `column_type` can hold every value of `field`."""
    column = " ".join(column_type.strip().lower().split())
    if _TEXT.fullmatch(column):
        return True
    kind = _kind(field)
    integer = bool(_INTEGER.fullmatch(column))
    exact = _exact_digits(column)
    if kind is ValueKind.LONG:
        return integer or (exact is not None and exact[0] >= 19 and exact[1] >= 0)
    if kind is ValueKind.DOUBLE:
        return bool(_FLOAT.fullmatch(column)) or (exact is not None and exact == (1_000, 1_000))
    if kind is ValueKind.DECIMAL:
        assert isinstance(field, ValueType)
        need = ((field.precision or 38) - (field.scale or 0), field.scale or 0)
        return exact is not None and exact[0] >= need[0] and exact[1] >= need[1]
    if kind is ValueKind.BOOLEAN:
        return bool(_BOOLEAN.fullmatch(column)) or integer or exact is not None
    if kind is ValueKind.DATE:
        return bool(_DATE.fullmatch(column) or _TIMESTAMP.fullmatch(column))
    if kind is ValueKind.DATETIME:
        # A DATE column is refused even on Oracle (whose DATE keeps seconds): the reported
        # type does not say which database it came from, and elsewhere DATE drops the time.
        return bool(_TIMESTAMP.fullmatch(column))
    return False


def _kind(field: ValueType | IdType) -> ValueKind:
    if isinstance(field, IdType):
        return ValueKind.LONG if field is IdType.BIGINT else ValueKind.STRING
    return field.kind
