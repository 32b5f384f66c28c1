"""Any text survives the bulk path: quotes, separators, newlines, backslashes, the word NULL."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagport.targets.base import Target
from tests.budget import examples

# NUL is the one character PostgreSQL text cannot hold; surrogates are not UTF-8.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
TRICKY = st.sampled_from(["", "NULL", "null", "\\N", '"', '""', ",", "\n", "\r\n", "\t", "\\"])
VALUES = st.lists(st.none() | TRICKY | TEXT, min_size=1, max_size=30)


@pytest.mark.parametrize("fixture", ["pg_target", "mysql_target"])
@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=VALUES)
def test_text_values_arrive_unchanged(
    request: pytest.FixtureRequest, fixture: str, values: list[str | None]
) -> None:
    target: Target = request.getfixturevalue(fixture)
    mysql = fixture == "mysql_target"
    table = "texts" if mysql else f'"{target.params.schema}".texts'
    if "texts" not in target.list_tables():
        text = "longtext CHARACTER SET utf8mb4" if mysql else "text"
        target.create_table(f"CREATE TABLE {table} (id bigint PRIMARY KEY, s {text})")
    batch = pa.record_batch(
        {"id": pa.array(range(len(values)), pa.int64()), "s": pa.array(values, pa.string())}
    )
    target.write("texts", pa.RecordBatchReader.from_batches(batch.schema, [batch]))

    rows = target._query(f"SELECT id, s FROM {table} ORDER BY id")  # type: ignore[attr-defined]
    assert [r[1] for r in rows] == values
