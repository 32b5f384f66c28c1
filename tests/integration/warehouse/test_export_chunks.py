"""An export split into ID ranges gives exactly the rows of one query over everything.

`DuckDBWarehouse(chunk_rows=n)` splits the export into ranges of about n members placed from a
sample of the sources' IDs; ranges are half-open and the ends unbounded, so no member may be lost
or doubled, whatever the IDs (sparse, negative, strings) and however the sample falls.
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagport.domain.catalog import (
    AudienceGroupSpec,
    EntitySpec,
    TagSource,
    TagSpec,
)
from tagport.domain.rules import parse_rule
from tagport.domain.tasks import TagOutput
from tagport.warehouse import queries
from tagport.warehouse.base import AudienceScope, ExportColumn, ExportPlan, TagRef
from tagport.warehouse.duckdb import DuckDBWarehouse, _render
from tests.budget import examples

BIZDATE = date(2024, 5, 2)
DS = "20240502"
USERS = 3_000
WHOLE = 10**9
"""A chunk size no test reaches: one query over everything, the reference."""


def _ids(kind: str, rng: random.Random) -> list[object]:
    if kind == "bigint":  # sparse, negative and huge ones too
        return rng.sample(range(-(2**40), 2**40), USERS)
    alphabet = "aAbB09_-中é"
    return list({"".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(USERS)})


def _scope(kind: str) -> AudienceScope:
    def tag(code: str, vtype: str, table: str) -> TagRef:
        source = TagSource(table=f"p.{table}_{kind}", key="uid", column=code)
        spec = TagSpec(code=code, name=code, entity="e", value_type=vtype, source=source)
        return TagRef(spec, None)

    entity = EntitySpec(code="e", name="E", project="p", id_field="uid", id_type=kind)
    tags = {"age": tag("age", "long", "profile"), "spend": tag("spend", "double", "orders")}
    return AudienceScope(entity, tags, {})


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sources per ID type, overlapping, with duplicate rows and another day's rows."""
    file = tmp_path_factory.mktemp("chunks") / "warehouse.duckdb"
    house = DuckDBWarehouse(file)
    rng = random.Random(7)
    for kind in ("bigint", "string"):
        ids = _ids(kind, rng)
        profile = ids[: len(ids) * 3 // 4] + ids[:50]  # duplicates
        orders = ids[len(ids) // 2 :]
        for table, keys, column in (("profile", profile, "age"), ("orders", orders, "spend")):
            values = [rng.choice([None, 1, 2, 30]) for _ in keys]
            data = pa.table(
                {
                    "uid": keys + keys[:20],
                    column: values + values[:20],
                    "ds": [DS] * len(keys) + ["20240501"] * 20,
                }
            )
            house.write_batches(
                f"p.{table}_{kind}",
                pa.RecordBatchReader.from_batches(data.schema, data.to_batches()),
                replace=True,
            )
    return file


def _plan(kind: str, audience: str, ordered: bool) -> ExportPlan:
    if audience == "rule":
        spec = AudienceGroupSpec(
            code="a",
            name="A",
            entity="e",
            owner="o",
            rule=parse_rule({"not": {"tag": "age", "op": "=", "value": 2}}),
        )
    else:
        spec = AudienceGroupSpec(
            code="a",
            name="A",
            entity="e",
            owner="o",
            sql=f"SELECT uid FROM p.orders_{kind} WHERE ds = '${{bizdate}}'",
        )
    return ExportPlan(
        audience=spec,
        scope=_scope(kind),
        bizdate=BIZDATE,
        tags=[TagOutput(tag="age"), TagOutput(tag="spend")],
        columns=[
            ExportColumn("id", "uid"),
            ExportColumn("age", "age"),
            ExportColumn("spend", "spend"),
        ],
        key=["id"],
        ordered=ordered,
    )


def _rows(path: Path, chunk_rows: int, plan: ExportPlan) -> list[dict[str, object]]:
    house = DuckDBWarehouse(path, chunk_rows=chunk_rows)
    return house.export_reader(plan, batch_size=97).read_all().to_pylist()


def _key(row: dict[str, object]) -> str:
    return repr(sorted(row.items()))


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    chunk_rows=st.integers(min_value=1, max_value=4_000),
    kind=st.sampled_from(["bigint", "string"]),
    audience=st.sampled_from(["rule", "sql"]),
    ordered=st.booleans(),
)
def test_chunked_export_and_count_have_the_rows_of_one_query(
    path: Path, chunk_rows: int, kind: str, audience: str, ordered: bool
) -> None:
    plan = _plan(kind, audience, ordered)
    whole = _rows(path, WHOLE, plan)
    chunked = _rows(path, chunk_rows, plan)
    assert len(whole) > 1_000
    # What an estimate too large for memory falls back to, on the same ranges.
    house = DuckDBWarehouse(path, chunk_rows=chunk_rows)
    con = house.connect()
    try:
        ranged = house._count_in_ranges(
            con, plan.scope, plan.audience, BIZDATE, queries.nothing_unique
        )
    finally:
        con.close()
    assert ranged == len(whole)
    if ordered:
        ids = [r["id"] for r in chunked]
        assert ids == sorted(ids)  # type: ignore[type-var]
        assert chunked == whole
    else:
        assert sorted(chunked, key=_key) == sorted(whole, key=_key)


def test_small_chunks_do_split_the_export(path: Path) -> None:
    """The property above would hold trivially if nothing split: check that something does."""
    plan = _plan("bigint", "rule", ordered=True)
    house = DuckDBWarehouse(path, chunk_rows=200)
    con = house.connect()
    try:
        ranges = house._ranges(con, plan)
    finally:
        con.close()
    assert 10 <= len(ranges) <= 20  # ~2,300 rows in the largest source
    assert ranges[0][0] is None and ranges[-1][1] is None  # type: ignore[index]


@pytest.mark.parametrize("kind", ["bigint", "string"])
def test_the_id_sample_counts_the_largest_source_and_holds_every_rows_id(
    path: Path, kind: str
) -> None:
    """What the ranges are placed from (`key_sample_query`): the row count at the bizdate of
    the largest source the export reads (here the second one) and, sample large enough, the ID
    of every row of those sources, an ID two sources hold twice; a smaller sample is as large
    as asked."""

    def tag(code: str, table: str, vtype: str) -> TagRef:
        source = TagSource(table=f"p.{table}_{kind}", key="uid", column=code.split("_")[1])
        return TagRef(TagSpec(code=code, name=code, entity="e", value_type=vtype, source=source))

    tags = {"a_spend": tag("a_spend", "orders", "double"), "b_age": tag("b_age", "profile", "long")}
    rule = parse_rule({"not": {"tag": "b_age", "op": "=", "value": 2}})  # needs no source
    plan = replace(
        _plan(kind, "rule", ordered=False),
        scope=AudienceScope(_scope(kind).entity, tags, {}),
        audience=AudienceGroupSpec(code="a", name="A", entity="e", owner="o", rule=rule),
        tags=[],
        columns=[ExportColumn("id", "uid")],
    )
    con = DuckDBWarehouse(path).connect()
    try:
        held = {
            table: [
                row[0]
                for row in con.execute(
                    f"SELECT uid FROM p.{table}_{kind} WHERE ds = '{DS}'"
                ).fetchall()
            ]
            for table in ("orders", "profile")
        }
        rows, ids = con.execute(_render(queries.key_sample_query(plan, 10**6))).fetchall()[0]
        few = con.execute(_render(queries.key_sample_query(plan, 10))).fetchall()[0][1]
    finally:
        con.close()
    assert len(held["orders"]) < len(held["profile"]) == rows
    assert sorted(ids) == sorted(held["orders"] + held["profile"])
    assert len(few) == 10 and set(few) <= set(ids)


def test_an_abandoned_export_stops_its_thread_and_releases_the_file(path: Path) -> None:
    plan = _plan("bigint", "rule", ordered=False)
    house = DuckDBWarehouse(path, chunk_rows=100)
    reader = house.export_reader(plan, batch_size=10)
    reader.read_next_batch()
    del reader  # what a failed load does: drop the reader half-read (Arrow's close keeps it)
    assert not [t for t in threading.enumerate() if t.name == "tagport-export"]
    with house.connect(write=True) as con:  # a read-only connection left open would refuse
        con.execute("CREATE TABLE p.touched AS SELECT 1 AS x")


@pytest.mark.parametrize("ordered", [False, True])
def test_streams_hold_contiguous_id_blocks_in_order(path: Path, ordered: bool) -> None:
    """What a two-stream load needs: disjoint ID blocks, stream 1 below stream 2, together
    the whole export (each stream sorted when the plan is)."""
    plan = _plan("string", "rule", ordered)
    house = DuckDBWarehouse(path, chunk_rows=300)
    streams = [r.read_all().to_pylist() for r in house.export_readers(plan, 2, batch_size=50)]
    assert len(streams) == 2 and all(streams)
    first, second = ([r["id"] for r in s] for s in streams)
    assert max(first) < min(second)  # type: ignore[type-var]
    if ordered:
        assert first == sorted(first) and second == sorted(second)  # type: ignore[type-var]
    whole = _rows(path, WHOLE, plan)
    assert sorted(streams[0] + streams[1], key=_key) == sorted(whole, key=_key)
    assert len(DuckDBWarehouse(path).export_readers(plan, 2)) == 1  # too small to split


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("kind", ["bigint", "string"])
def test_a_laned_export_has_the_rows_of_one_query_each_in_its_range(
    path: Path, kind: str, ordered: bool
) -> None:
    """What Spark writes for several streams (`laned_export_query`): every row of the export
    once, with the index of the ID range it falls in; sorted by lane, then key, when asked (a
    key that starts with a tag, so that key order is not lane order). The query is
    engine-neutral, so DuckDB runs the same tree here, on sources with duplicate keys, with
    the ranges `id_ranges` places from the sample."""
    plan = replace(_plan(kind, "rule", ordered), key=["age", "id"])
    house = DuckDBWarehouse(path)
    con = house.connect()
    try:
        rows, ids = con.execute(_render(queries.key_sample_query(plan, 500))).fetchall()[0]
        ranges = queries.id_ranges(int(rows), ids, 600, 4)
        laned = queries.laned_export_query(plan, len(ranges))
        table = con.sql(_render(laned), params=queries.lane_parameters(ranges)).to_arrow_table()
    finally:
        con.close()
    assert len(ranges) >= 3  # several lanes, the middle ones closed at both ends
    got = table.to_pylist()
    assert table.column_names == ["id", "age", "spend", queries.LANE]
    for row in got:
        after, upto = ranges[row[queries.LANE]]  # type: ignore[misc]
        assert (after is None or row["id"] > after) and (upto is None or row["id"] <= upto)
    if ordered:  # NULLs last, as both engines sort them by default
        order = [(r[queries.LANE], r["age"] is None, r["age"] or 0, r["id"]) for r in got]
        assert order == sorted(order)  # type: ignore[type-var]
    whole = _rows(path, WHOLE, plan)
    without_lane = [{k: v for k, v in r.items() if k != queries.LANE} for r in got]
    assert sorted(without_lane, key=_key) == sorted(whole, key=_key)
