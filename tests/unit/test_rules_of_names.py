"""Naming and size rules at their boundaries, as a person meets them through a spec."""

from __future__ import annotations

from typing import Any

import pytest

from tagport.domain.documents import parse_spec
from tagport.errors import InvalidInput

TASK = {
    "kind": "OfflineService",
    "name": "t",
    "application": "marketing",
    "owner": "alice",
    "audience": "hz_vip",
    "target": {"datasource": "crm_pg", "table": "hz_vip"},
}
TAG = {
    "kind": "Tag",
    "code": "city",
    "name": "City",
    "entity": "user",
    "value_type": "string",
    "source": {"table": "tag_prod.user_profile", "key": "user_id", "column": "city_code"},
}


def problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(document, "doc")
    return [f"{p.field}: {p.message}" for p in caught.value.problems]


def test_task_name_of_64_characters_is_accepted_and_65_refused() -> None:
    assert parse_spec(TASK | {"name": "a" * 64}, "doc").key == "a" * 64
    assert problems(TASK | {"name": "a" * 65}) == [
        "name: must be 1-64 Chinese or English letters, digits or _"
    ]


@pytest.mark.parametrize("name", ["杭州会员导出", "每日_VIP_2026", "任务" * 32])
def test_chinese_task_names_are_accepted(name: str) -> None:
    assert parse_spec(TASK | {"name": name}, "doc").key == name


@pytest.mark.parametrize("name", ["", "has space", "dash-ed", "emoji😀", "任务" * 33])
def test_task_names_outside_the_rule_are_refused(name: str) -> None:
    assert problems(TASK | {"name": name})[0].startswith("name: must be 1-64")


@pytest.mark.parametrize("code", ["City", "1city", "_city", "city-code", "c" * 65, ""])
def test_codes_with_upper_case_leading_digit_or_other_characters_are_refused(code: str) -> None:
    assert problems(TAG | {"code": code})[0].startswith("code: must start with a lower-case letter")


@pytest.mark.parametrize("code", ["c", "city_2", "c" * 64])
def test_valid_codes(code: str) -> None:
    assert parse_spec(TAG | {"code": code}, "doc").key == code


def test_description_of_1000_characters_is_accepted_and_1001_refused() -> None:
    parse_spec(TASK | {"description": "x" * 1000}, "doc")
    assert problems(TASK | {"description": "x" * 1001}) == [
        "description: String should have at most 1000 characters"
    ]


def lookup(n: int) -> dict[str, Any]:
    return {
        "kind": "LookupTable",
        "code": "l",
        "name": "L",
        "codes": {str(i): f"n{i}" for i in range(n)},
    }


def test_lookup_table_of_10000_codes_is_accepted_and_10001_refused() -> None:
    assert len(parse_spec(lookup(10_000), "doc").codes) == 10_000  # type: ignore[attr-defined]
    assert problems(lookup(10_001)) == ["codes: at most 10,000 codes, not 10,001"]


@pytest.mark.parametrize("value_type", ["double", "decimal(10,2)", "date", "datetime"])
def test_a_lookup_on_a_tag_that_is_not_string_long_or_boolean_is_refused(value_type: str) -> None:
    assert problems(TAG | {"value_type": value_type, "lookup": "city_codes"}) == [
        f"lookup: a {value_type} tag cannot have a lookup table (only string, long and boolean)"
    ]


@pytest.mark.parametrize("value_type", ["string", "long", "boolean"])
def test_a_lookup_on_string_long_and_boolean_tags_is_accepted(value_type: str) -> None:
    parse_spec(TAG | {"value_type": value_type, "lookup": "codes"}, "doc")


@pytest.mark.parametrize(
    ("login", "ok"),
    [("alice", True), ("a.b-c_1", True), ("Alice", False), ("1a", False), ("a" * 65, False)],
)
def test_login_rule(login: str, ok: bool) -> None:
    document = {"kind": "User", "name": login}
    if ok:
        assert parse_spec(document, "doc").key == login
    else:
        assert problems(document)[0].startswith("name: must start with a lower-case letter")
