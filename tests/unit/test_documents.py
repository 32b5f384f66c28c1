"""Parsing YAML documents into specs: every problem named by its field, nothing lost on dump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tagport.domain.catalog import LookupTableSpec, TagSpec
from tagport.domain.dates import PartitionFormat
from tagport.domain.documents import KINDS, dump_spec, kind_named, parse_spec
from tagport.domain.rules import dump_rule, parse_rule
from tagport.errors import InvalidInput, Problem

EXAMPLES = Path(__file__).parents[2] / "examples" / "catalog.yaml"


def example_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(EXAMPLES.read_text()) if d]


def test_examples_hold_one_document_of_every_kind() -> None:
    assert {d["kind"] for d in example_documents()} == set(KINDS)


@pytest.mark.parametrize("document", example_documents(), ids=lambda d: f"{d['kind']}")
def test_dump_then_parse_gives_the_same_spec(document: dict[str, Any]) -> None:
    spec = parse_spec(document, "doc")
    dumped = dump_spec(spec)
    assert parse_spec(dumped, "again") == spec
    assert next(iter(dumped)) == "kind"
    assert None not in dumped.values()  # a field left out is not written as null


def test_every_problem_of_a_document_is_reported_with_its_field() -> None:
    document = {
        "kind": "OfflineService",
        "name": "bad name",
        "application": "marketing",
        "owner": "Alice",
        "schedule": {"type": "daily"},
        "audience": "hz_vip",
        "tags": [{"tag": "city", "outputs": []}],
        "target": {"datasource": "crm_pg", "table": "t", "partition_format": "dd-MM"},
        "colour": "blue",
    }
    with pytest.raises(InvalidInput) as caught:
        parse_spec(document, "a.yaml#3")
    found = {p.field: p.message for p in caught.value.problems}
    assert set(found) == {
        "name",
        "owner",
        "schedule.type",
        "tags[0].outputs",
        "target.partition_format",
        "colour",
    }
    assert found["colour"] == "unknown field"
    assert all(p.where == "a.yaml#3" for p in caught.value.problems)


def _group(**definition: Any) -> dict[str, Any]:
    """An AudienceGroup document with `definition` (rule, sql, import)."""
    return {
        "kind": "AudienceGroup",
        "code": "g",
        "name": "G",
        "entity": "user",
        "owner": "alice",
    } | {k.rstrip("_"): v for k, v in definition.items()}


def test_rule_problems_point_at_the_condition() -> None:
    document = _group(
        rule={"all": [{"tag": "age", "op": ">", "value": 3}, {"any": [{"tag": "c", "op": "in"}]}]}
    )
    with pytest.raises(
        InvalidInput, match=r"rule.all\[1\].any\[0\]: operator in needs a non-empty"
    ):
        parse_spec(document, "doc")


def test_an_audience_has_exactly_one_definition() -> None:
    document = _group(sql="SELECT 1", import_="ids.txt")
    with pytest.raises(InvalidInput, match="exactly one of rule, import or sql"):
        parse_spec(document, "doc")


KINDS_LISTED = (
    "User, Project, SecuritySettings, DataSource, Entity, LookupTable, Tag, AudienceGroup, "
    "Application, OfflineService"
)
NOT_A_MAPPING = ("", "a document must be a mapping with a kind field")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (None, NOT_A_MAPPING),
        ([], NOT_A_MAPPING),
        ("text", NOT_A_MAPPING),
        ({"name": "x"}, ("kind", f"missing; use one of {KINDS_LISTED}")),
        ({"kind": "Widget"}, ("kind", f"unknown kind 'Widget'; use one of {KINDS_LISTED}")),
    ],
)
def test_documents_that_are_not_objects_of_a_kind(document: Any, problem: tuple[str, str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(document, "a.yaml#2")
    assert caught.value.problems == [Problem("a.yaml#2", *problem)]


def test_lookup_codes_read_from_yaml_are_text() -> None:
    """YAML reads `571: Hangzhou` with a number for a key, and `0:` with no name as null."""
    document = yaml.safe_load(
        "kind: LookupTable\ncode: c\nname: C\ncodes: {571: Hangzhou, 21: 上海, 0: }"
    )
    spec = parse_spec(document, "doc")
    assert isinstance(spec, LookupTableSpec)
    assert spec.codes == {"571": "Hangzhou", "21": "上海", "0": ""}


def test_passwords_never_appear_in_a_dump() -> None:
    spec = parse_spec(
        {
            "kind": "DataSource",
            "name": "d",
            "type": "mysql",
            "host": "h",
            "database": "x",
            "password": "s3cret!",
            "owner": "alice",
        },
        "doc",
    )
    assert "s3cret!" not in repr(spec)
    assert "password" not in dump_spec(spec)


def test_kinds_are_found_whatever_the_spelling() -> None:
    assert kind_named("datasource").kind == "DataSource"
    assert kind_named("offline_service").kind == "OfflineService"
    assert kind_named("offline-service").kind == "OfflineService"
    assert kind_named("Lookup-Table").kind == "LookupTable"
    with pytest.raises(InvalidInput) as caught:
        kind_named("widget")
    assert caught.value.problems == [
        Problem("", "kind", f"unknown kind 'widget'; use one of {KINDS_LISTED}")
    ]


def test_nested_and_union_problems_name_the_field_a_person_wrote() -> None:
    """A nested model's cross-field rule names its field under the model's (`schedule.at`);
    the union of `mapping` (same_name or a list) shows no union member in the path."""
    document = {
        "kind": "OfflineService",
        "name": "t",
        "application": "marketing",
        "owner": "alice",
        "schedule": {"type": "recurring", "at": "25:99"},
        "audience": "hz_vip",
        "target": {"datasource": "crm_pg"},
        "mapping": [{"source": 1, "target": "uid"}],
    }
    with pytest.raises(InvalidInput) as caught:
        parse_spec(document, "doc")
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("schedule.at", "must be a time HH:MM, not '25:99'"),
        ("mapping", "Input should be 'same_name'"),
        ("mapping[0].source", "Input should be a valid string"),
    ]


def test_a_rule_is_stored_as_it_was_written() -> None:
    """`dump_rule` gives back the document's spelling: `not` (not the field's name `not_`),
    no `value` for a null test, dates and relative days as written."""
    written = {
        "all": [
            {"not": {"tag": "city", "op": "in", "value": ["571", "21"]}},
            {"tag": "last_order_date", "op": ">=", "value": {"relative_days": -30}},
            {"tag": "signup_date", "op": "<", "value": "2024-01-01"},
            {"any": [{"tag": "age", "op": "is_null"}, {"audience": "big_spenders"}]},
        ]
    }
    assert dump_rule(parse_rule(written)) == written


def test_lookup_codes_that_are_no_values_of_the_tags_type_are_named() -> None:
    document = next(d for d in example_documents() if d.get("code") == "age")
    tag = parse_spec(document, "doc")
    assert isinstance(tag, TagSpec)
    assert tag.lookup_problems({"18": "adult", "x": "?", "07": "child"}) == [
        "code 'x' is not a whole number"
    ]


@pytest.mark.parametrize(
    ("node", "problems"),
    [
        ({"tag": "age"}, [("rule.any[0].op", "Field required")]),
        ({"op": ">"}, [("rule.any[0].tag", "Field required")]),
        (
            {"value": 3},
            [("rule.any[0].tag", "Field required"), ("rule.any[0].op", "Field required")],
        ),
        (
            {"colour": 1},
            [
                (
                    "rule.any[0]",
                    "a rule node is one of {all: [...]}, {any: [...]}, {not: {...}}, "
                    "{tag, op, value} or {audience: CODE}",
                )
            ],
        ),
    ],
)
def test_a_rule_node_is_read_as_the_shape_its_keys_name(
    node: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    """Any one of `tag`, `op` or `value` makes a node a condition, so the problem names the
    fields it lacks; a node with none of the keys of any shape gets the list of shapes."""
    document = _group(rule={"any": [node]})
    with pytest.raises(InvalidInput) as caught:
        parse_spec(document, "doc")
    assert [(p.field, p.message) for p in caught.value.problems] == problems


def _tag_with_format(partition_format: object) -> dict[str, Any]:
    return {
        "kind": "Tag",
        "code": "age",
        "name": "Age",
        "entity": "user",
        "value_type": "long",
        "source": {
            "table": "p.t",
            "key": "uid",
            "column": "age",
            "partition_format": partition_format,
        },
    }


def test_a_partition_format_is_read_whatever_its_case_and_a_number_is_refused() -> None:
    spec = parse_spec(_tag_with_format(" YYYY-mm-DD "), "doc")
    assert isinstance(spec, TagSpec)
    assert spec.source.partition_format is PartitionFormat.DASHED
    with pytest.raises(InvalidInput) as caught:
        parse_spec(_tag_with_format(20240101), "doc")
    assert [(p.field, p.message) for p in caught.value.problems] == [
        (
            "source.partition_format",
            "Input should be 'yyyyMMdd', 'yyyy-MM-dd', 'yyyy/MM/dd' or 'yyyy.MM.dd'",
        )
    ]
