"""Publishing's type check: which reported column types can hold which exported fields."""

from __future__ import annotations

import pytest

from tagport.domain.values import IdType, ValueType
from tagport.targets.compat import accepts


@pytest.mark.parametrize(
    ("column", "field", "ok"),
    [
        ("text", "long", True),
        ("character varying(64)", "string", True),
        ("VARCHAR2(4000)", "datetime", True),
        ("bigint", "long", True),
        ("bigint(20)", "long", True),
        ("integer", "long", True),  # narrower: overflow fails the load, not publishing
        ("numeric(19,0)", "long", True),
        ("numeric(10,0)", "long", False),
        ("date", "long", False),
        ("double precision", "double", True),
        ("BINARY_DOUBLE", "double", True),
        ("numeric", "double", True),
        ("bigint", "double", False),
        ("numeric(20,6)", "decimal(18,4)", True),
        ("decimal(18,4)", "decimal(18,4)", True),
        ("numeric(18,2)", "decimal(18,4)", False),
        ("double precision", "decimal(18,4)", False),
        ("boolean", "boolean", True),
        ("tinyint(1)", "boolean", True),
        ("NUMBER(1)", "boolean", True),
        ("date", "boolean", False),
        ("date", "date", True),
        ("timestamp without time zone", "date", True),
        ("datetime(6)", "datetime", True),
        ("timestamp", "datetime", True),
        ("DATE", "datetime", False),  # conservative, also for Oracle (see compat.py)
        ("date", "datetime", False),
    ],
)
def test_accepts(column: str, field: str, ok: bool) -> None:
    assert accepts(column, ValueType.parse(field)) is ok


def test_entity_ids() -> None:
    assert accepts("bigint", IdType.BIGINT)
    assert accepts("varchar(128)", IdType.STRING)
    assert not accepts("bigint", IdType.STRING)
