"""Tag value type × target family → column type: the table one-click creation uses.

`docs/targets.md` renders the same table (a unit test keeps them equal).
"""

from __future__ import annotations

from enum import StrEnum

from tagport.domain.values import IdType, ValueKind, ValueType
from tagport.errors import InvalidInput


class Family(StrEnum):
    """Targets that share one type system."""

    POSTGRES = "postgres"  # postgresql, opengauss, greenplum, adb_pg
    MYSQL = "mysql"
    ORACLE = "oracle"
    DUCKDB = "duckdb"  # project


TYPES: dict[Family, dict[ValueKind, str]] = {
    Family.POSTGRES: {
        ValueKind.STRING: "text",
        ValueKind.LONG: "bigint",
        ValueKind.DOUBLE: "double precision",
        ValueKind.DECIMAL: "numeric({p},{s})",
        ValueKind.BOOLEAN: "boolean",
        ValueKind.DATE: "date",
        ValueKind.DATETIME: "timestamp",
    },
    # MySQL strings are `text`: a row of many varchar(n) utf8mb4 columns hits the 64 KB row limit.
    Family.MYSQL: {
        ValueKind.STRING: "text",
        ValueKind.LONG: "bigint",
        ValueKind.DOUBLE: "double",
        ValueKind.DECIMAL: "decimal({p},{s})",
        ValueKind.BOOLEAN: "tinyint(1)",
        ValueKind.DATE: "date",
        ValueKind.DATETIME: "datetime(6)",
    },
    Family.ORACLE: {
        ValueKind.STRING: "VARCHAR2(4000)",
        ValueKind.LONG: "NUMBER(19)",
        ValueKind.DOUBLE: "BINARY_DOUBLE",
        ValueKind.DECIMAL: "NUMBER({p},{s})",
        ValueKind.BOOLEAN: "NUMBER(1)",
        ValueKind.DATE: "DATE",
        ValueKind.DATETIME: "TIMESTAMP",
    },
    Family.DUCKDB: {
        ValueKind.STRING: "VARCHAR",
        ValueKind.LONG: "BIGINT",
        ValueKind.DOUBLE: "DOUBLE",
        ValueKind.DECIMAL: "DECIMAL({p},{s})",
        ValueKind.BOOLEAN: "BOOLEAN",
        ValueKind.DATE: "DATE",
        ValueKind.DATETIME: "TIMESTAMP",
    },
}

# Keys need a bounded type in MySQL and Oracle; 128 characters holds every realistic entity ID.
ID_TYPES: dict[Family, dict[IdType, str]] = {
    Family.POSTGRES: {IdType.BIGINT: "bigint", IdType.STRING: "varchar(128)"},
    Family.MYSQL: {IdType.BIGINT: "bigint", IdType.STRING: "varchar(128)"},
    Family.ORACLE: {IdType.BIGINT: "NUMBER(19)", IdType.STRING: "VARCHAR2(128)"},
    Family.DUCKDB: {IdType.BIGINT: "BIGINT", IdType.STRING: "VARCHAR"},
}

PARTITION_TYPES: dict[Family, str] = {
    Family.POSTGRES: "varchar(10)",
    Family.MYSQL: "varchar(10)",
    Family.ORACLE: "VARCHAR2(10)",
    Family.DUCKDB: "VARCHAR",
}
"""The partition column holds the rendered bizdate (at most 10 characters: yyyy-MM-dd)."""

MAX_DECIMAL: dict[Family, tuple[int, int]] = {
    Family.POSTGRES: (1000, 1000),
    Family.MYSQL: (65, 30),
    Family.ORACLE: (38, 127),
    Family.DUCKDB: (38, 38),
}


def column_type(family: Family, value_type: ValueType | IdType) -> str:
    """The column type for a tag value type or entity ID type in `family`."""
    if isinstance(value_type, IdType):
        return ID_TYPES[family][value_type]
    spelled = TYPES[family][value_type.kind]
    if value_type.kind is ValueKind.DECIMAL:
        precision, scale = value_type.precision or 38, value_type.scale or 0
        max_p, max_s = MAX_DECIMAL[family]
        if precision > max_p or scale > max_s:
            raise InvalidInput.one(
                "column",
                "type",
                f"{value_type} exceeds {family.value}'s decimal({max_p},{max_s})",
            )
        return spelled.format(p=precision, s=scale)
    return spelled


def markdown_table() -> str:
    """The mapping as a Markdown table (the one in docs/targets.md)."""
    families = list(Family)
    lines = [
        "| tag value type | " + " | ".join(f.value for f in families) + " |",
        "| --- |" + " --- |" * len(families),
    ]
    for kind in ValueKind:
        cells = [TYPES[f][kind].replace("{p},{s}", "p,s") for f in families]
        lines.append(f"| {kind.value} | " + " | ".join(f"`{c}`" for c in cells) + " |")
    for id_type in IdType:
        cells = [ID_TYPES[f][id_type] for f in families]
        lines.append(f"| entity ID {id_type.value} | " + " | ".join(f"`{c}`" for c in cells) + " |")
    cells = [PARTITION_TYPES[f] for f in families]
    lines.append("| partition field | " + " | ".join(f"`{c}`" for c in cells) + " |")
    return "\n".join(lines)
