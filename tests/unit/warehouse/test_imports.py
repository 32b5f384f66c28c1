"""Audience ID files: line numbers for bad lines, duplicates counted and dropped."""

from __future__ import annotations

import pytest

from tagport.domain.values import IdType
from tagport.errors import InvalidInput
from tagport.warehouse.imports import parse_text


def test_txt_ids_are_deduplicated_in_order() -> None:
    parsed = parse_text("3\n1\n\n3\n2\n1\n", IdType.BIGINT, "user_id", is_csv=False, where="f")
    assert parsed.ids.to_pylist() == [3, 1, 2]
    assert parsed.duplicates == 2


def test_bad_bigint_lines_are_reported_by_number() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_text(
            "1\nx2\n3\n99999999999999999999\n", IdType.BIGINT, "user_id", is_csv=False, where="f"
        )
    fields = [p.field for p in caught.value.problems]
    assert fields == ["line 2", "line 4"]
    assert "'x2' is not a bigint ID" in str(caught.value)


def test_csv_needs_the_id_field_in_its_header() -> None:
    with pytest.raises(InvalidInput, match="header must name the ID field 'user_id'"):
        parse_text("uid\n1\n", IdType.BIGINT, "user_id", is_csv=True, where="f.csv")


def test_csv_reads_the_id_column_and_reports_bad_rows() -> None:
    parsed = parse_text(
        "name,USER_ID\na,u1\nb,u2\nc,u1\n", IdType.STRING, "user_id", is_csv=True, where="f"
    )
    assert parsed.ids.to_pylist() == ["u1", "u2"]
    assert parsed.duplicates == 1
    with pytest.raises(InvalidInput) as caught:
        parse_text("user_id,x\n1,a\n,b\n", IdType.STRING, "user_id", is_csv=True, where="f")
    assert [p.field for p in caught.value.problems] == ["line 3"]
