"""Save-time rule checks: operator per value type, value types, lookup codes, paths."""

from __future__ import annotations

import pytest

from tagport.domain.rules import condition_problems, parse_rule, rule_problems
from tagport.domain.values import ValueType


def cond(tag: str, op: str, value: object = None) -> object:
    data: dict[str, object] = {"tag": tag, "op": op}
    if value is not None:
        data["value"] = value
    return parse_rule(data)


@pytest.mark.parametrize(
    ("vtype", "op", "value", "problem"),
    [
        (
            "boolean",
            ">",
            True,
            "operator > is not valid for a boolean tag; use =, !=, in, not_in, is_null, not_null",
        ),
        (
            "string",
            "between",
            ["a", "b"],
            "operator between is not valid for a string tag; "
            "use =, !=, in, not_in, is_null, not_null, contains, starts_with",
        ),
        (
            "long",
            "contains",
            "1",
            "operator contains is not valid for a long tag; use =, !=, "
            ">, >=, <, <=, in, not_in, between, is_null, not_null",
        ),
        ("long", "=", "12", "value '12' is not a whole number for a long tag"),
        ("long", "=", 1.5, "value 1.5 is not a whole number for a long tag"),
        ("long", "=", True, "value True is not a whole number for a long tag"),
        ("boolean", "=", "yes", "value 'yes' is not true or false for a boolean tag"),
        ("string", "=", 571, "value 571 is not a string: quote it for a string tag"),
        (
            "date",
            ">=",
            "2024-13-01",
            "value '2024-13-01' is not a date for a date tag; write yyyy-MM-dd",
        ),
        (
            "datetime",
            "<",
            "noon",
            "value 'noon' is not a datetime for a datetime tag; write yyyy-MM-dd[ HH:mm:ss]",
        ),
        (
            "date",
            "=",
            20240101,
            "value 20240101 is not a date for a date tag; write yyyy-MM-dd or {relative_days: N}",
        ),
        ("double", "=", "x", "value 'x' is not a number for a double tag (write numbers unquoted)"),
        ("double", "=", True, "value True is not a number for a double tag"),
        ("decimal(10,2)", "in", [1, "abc"], "value 'abc' is not a number for a decimal(10,2) tag"),
        ("decimal(10,2)", "=", True, "value True is not a number for a decimal(10,2) tag"),
        ("decimal(10,2)", "=", "NaN", "value 'NaN' is not a finite number for a decimal(10,2) tag"),
        (
            "long",
            "=",
            {"relative_days": -3},
            "value relative_days is only for date and datetime tags, not for a long tag",
        ),
    ],
)
def test_bad_conditions_are_refused_with_their_reason(
    vtype: str, op: str, value: object, problem: str
) -> None:
    problems = condition_problems(cond("t", op, value), ValueType.parse(vtype))  # type: ignore[arg-type]
    assert problems == [problem]


@pytest.mark.parametrize(
    ("vtype", "op", "value"),
    [
        ("string", "starts_with", "ab"),
        ("long", "between", [1, 5]),
        ("decimal(18,2)", ">", "10.25"),
        ("double", "<", 3),
        ("date", ">=", {"relative_days": -30}),
        ("datetime", "<", "2024-01-01 10:00:00"),
        ("boolean", "=", False),
        ("string", "is_null", None),
    ],
)
def test_good_conditions_pass(vtype: str, op: str, value: object) -> None:
    assert condition_problems(cond("t", op, value), ValueType.parse(vtype)) == []  # type: ignore[arg-type]


def test_every_bad_value_of_a_list_is_named() -> None:
    problems = condition_problems(cond("t", "in", ["a", 2, "b"]), ValueType.parse("long"))  # type: ignore[arg-type]
    assert problems == [
        "value 'a' is not a whole number for a long tag",
        "value 'b' is not a whole number for a long tag",
    ]


def test_codes_outside_the_lookup_table_are_named() -> None:
    problem = condition_problems(
        cond("city", "in", ["571", "999"]),  # type: ignore[arg-type]
        ValueType.parse("string"),
        ["571", "21"],
    )
    assert problem == ["code '999' is not in the tag's lookup table"]
    long_codes = condition_problems(
        cond("level", "=", 2),  # type: ignore[arg-type]
        ValueType.parse("long"),
        ["1", "2"],
    )
    assert long_codes == []
    # Codes are compared as written: a string code's case matters, a boolean's does not.
    assert condition_problems(
        cond("level", "=", "vip"),  # type: ignore[arg-type]
        ValueType.parse("string"),
        ["VIP"],
    ) == ["code 'vip' is not in the tag's lookup table"]
    assert (
        condition_problems(
            cond("vip", "=", True),  # type: ignore[arg-type]
            ValueType.parse("boolean"),
            ["TRUE", "False"],
        )
        == []
    )


def test_rule_problems_name_the_condition_by_path() -> None:
    rule = parse_rule(
        {
            "all": [
                {"tag": "age", "op": ">", "value": 18},
                {"any": [{"tag": "vip", "op": "contains", "value": "x"}]},
                {"not": {"tag": "age", "op": "=", "value": "old"}},
            ]
        }
    )
    types = {"age": (ValueType.parse("long"), None), "vip": (ValueType.parse("boolean"), None)}
    found = rule_problems(rule, types)
    assert [path for path, _ in found] == ["rule.all[1].any[0]", "rule.all[2].not"]
