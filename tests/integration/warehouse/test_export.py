"""The export query against a reference computed in Python, for every output combination and
partition format, plus imports, SQL audiences, readiness and a busy warehouse file."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSource, TagSpec
from tagport.domain.dates import PartitionFormat
from tagport.domain.naming import codename_field
from tagport.domain.rules import parse_rule
from tagport.domain.tasks import Output, TagOutput
from tagport.errors import Conflict, InvalidInput, TerminalError, TransientError
from tagport.warehouse import duckdb as duckdb_warehouse
from tagport.warehouse.base import (
    AudienceScope,
    ExportColumn,
    ExportPlan,
    PartitionRef,
    TagRef,
    Warehouse,
)
from tagport.warehouse.duckdb import DuckDBWarehouse
from tests.budget import crossed
from tests.integration.warehouse.engines import ENGINES, make_warehouse

BIZDATE = date(2024, 5, 2)
DS = "20240502"
CITIES = {"571": "Hangzhou", "21": "Shanghai"}

PROFILE = [  # uid, city, age, vip, ds  (uid 4 has no profile row today; uid 9 only yesterday)
    (1, "571", 30, True, DS),
    (2, "21", None, False, DS),
    (3, "999", 41, None, DS),
    (5, None, 25, True, DS),
    (9, "571", 50, True, "20240501"),
]
ORDERS = [  # uid, spend, last order, signed up, ds
    (1, Decimal("10.50"), date(2024, 5, 1), datetime(2020, 1, 1, 8, 0), DS),
    (4, Decimal("99.99"), None, datetime(2021, 6, 1, 9, 30), DS),
    (5, None, date(2024, 4, 1), None, DS),
]


def _tag(code: str, vtype: str, table: str, column: str, lookup: bool = False) -> TagRef:
    spec = TagSpec(
        code=code,
        name=code.title(),
        entity="user",
        value_type=vtype,
        source=TagSource(table=table, key="uid", column=column),
        lookup="city_codes" if lookup else None,
    )
    return TagRef(spec, CITIES if lookup else None)


TAGS = {
    "city": _tag("city", "string", "p.profile", "city_code", lookup=True),
    "age": _tag("age", "long", "p.profile", "age"),
    "is_vip": _tag("is_vip", "boolean", "p.profile", "vip"),
    "spend": _tag("spend", "decimal(12,2)", "p.orders", "spend"),
    "last_order": _tag("last_order", "date", "p.orders", "last_order"),
    "signup": _tag("signup", "datetime", "p.orders", "signup"),
}
ENTITY = EntitySpec(code="user", name="User", project="p", id_field="user_id", id_type="bigint")
EVERYONE = AudienceGroupSpec(
    code="everyone",
    name="All",
    entity="user",
    owner="o",
    rule=parse_rule({"any": [{"tag": "age", "op": "is_null"}, {"tag": "age", "op": "not_null"}]}),
)


LOADS = {"duckdb": ["unrecorded", "recorded", "duplicated"], "spark": ["duplicated"]}
"""How the sources are loaded: as they are (made unique by every query), recorded as unique
(read by plain scans), and with every row twice, recorded (made unique again). Spark records
nothing, so every query makes its sources unique: the sources with every row twice check that,
and sources loaded once would run the very same SQL again (a Spark query costs seconds)."""


@pytest.fixture(
    params=[
        pytest.param((engine.values[0], load), id=f"{engine.id}-{load}", marks=engine.marks)
        for engine in ENGINES
        for load in LOADS[str(engine.values[0])]
    ]
)
def warehouse(
    tmp_path: Path, request: pytest.FixtureRequest, loaded_files: dict[str, Path]
) -> Warehouse:
    """The sources and an import audience, loaded as `LOADS` says, on each engine: the same
    export each way."""
    engine, load = request.param
    if engine == "duckdb":
        shutil.copy(loaded_files[load], tmp_path / "warehouse.duckdb")
        return make_warehouse(engine, tmp_path, request, busy_timeout=1)
    return _loaded(make_warehouse(engine, tmp_path, request, busy_timeout=1), load)


@pytest.fixture(params=LOADS["duckdb"])
def duckdb_house(
    tmp_path: Path, request: pytest.FixtureRequest, loaded_files: dict[str, Path]
) -> DuckDBWarehouse:
    """`warehouse` on DuckDB only, for what is DuckDB's own (its file, its SQL)."""
    shutil.copy(loaded_files[request.param], tmp_path / "warehouse.duckdb")
    return DuckDBWarehouse(tmp_path / "warehouse.duckdb", busy_timeout=1)


@pytest.fixture(scope="module")
def loaded_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One DuckDB file per way of loading, loaded once and copied by each test (loading costs
    a quarter of a second, a copy a millisecond); a test changes only its own copy."""
    files = {}
    for load in LOADS["duckdb"]:
        folder = tmp_path_factory.mktemp(f"loaded-{load}")
        _loaded(DuckDBWarehouse(folder / "warehouse.duckdb"), load)
        files[load] = folder / "warehouse.duckdb"
    return files


def _loaded(house: Warehouse, load: str) -> Warehouse:
    profile = pa.table(
        {
            "uid": [r[0] for r in PROFILE],
            "city_code": [r[1] for r in PROFILE],
            "age": pa.array([r[2] for r in PROFILE], pa.int32()),
            "vip": [r[3] for r in PROFILE],
            "ds": [r[4] for r in PROFILE],
        }
    )
    orders = pa.table(
        {
            "uid": [r[0] for r in ORDERS],
            "spend": pa.array([r[1] for r in ORDERS], pa.decimal128(12, 2)),
            "last_order": pa.array([r[2] for r in ORDERS], pa.date32()),
            "signup": pa.array([r[3] for r in ORDERS], pa.timestamp("us")),
            "ds": [r[4] for r in ORDERS],
        }
    )
    for name, table in (("p.profile", profile), ("p.orders", orders)):
        if load == "duplicated":
            table = pa.concat_tables([table, table])
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        house.write_batches(name, reader, replace=True)
        if load != "unrecorded":
            house.record_partitions(name, "uid", "ds")
    house.store_audience("picked", pa.array([1, 4, 7], pa.int64()))
    return house


def reference(tags: list[TagOutput], uids: list[int]) -> dict[str, dict[int, Any]]:
    """Field -> uid -> value, computed in plain Python from the rows above."""
    profile = {r[0]: r for r in PROFILE if r[4] == DS}
    orders = {r[0]: r for r in ORDERS if r[4] == DS}
    raw = {
        "city": lambda u: profile[u][1] if u in profile else None,
        "age": lambda u: profile[u][2] if u in profile else None,
        "is_vip": lambda u: profile[u][3] if u in profile else None,
        "spend": lambda u: orders[u][1] if u in orders else None,
        "last_order": lambda u: orders[u][2] if u in orders else None,
        "signup": lambda u: orders[u][3] if u in orders else None,
    }
    fields: dict[str, dict[int, Any]] = {"user_id": {u: u for u in uids}}
    for output in tags:
        values = {u: raw[output.tag](u) for u in uids}
        if Output.VALUE in output.outputs:
            fields[output.tag] = values
        if Output.CODENAME in output.outputs:
            fields[codename_field(output.tag)] = {u: CITIES.get(v) for u, v in values.items()}
    return fields


OUTPUTS = [[Output.VALUE], [Output.CODENAME], [Output.VALUE, Output.CODENAME]]
FORMATS = [None, *PartitionFormat]


@pytest.mark.parametrize(
    ("fmt", "outputs"),
    [
        pytest.param(
            fmt,
            outputs,
            id=f"{fmt.value if fmt else 'no-partition'}-" + "+".join(x.value for x in outputs),
        )
        for fmt, outputs in crossed(FORMATS, OUTPUTS)
    ],
)
@pytest.mark.parametrize("audience", ["rule", "import"])
def test_export_matches_reference(
    warehouse: Warehouse,
    outputs: list[Output],
    fmt: PartitionFormat | None,
    audience: str,
) -> None:
    tags = [TagOutput(tag="city", outputs=outputs)] + [
        TagOutput(tag=t) for t in ("age", "is_vip", "spend", "last_order", "signup")
    ]
    spec = EVERYONE
    uids = [1, 2, 3, 4, 5]
    if audience == "import":
        spec = AudienceGroupSpec(code="picked", name="P", entity="user", owner="o", import_="x")
        uids = [1, 4, 7]
    fields = [f for t in tags for f in t.fields()]
    # Target columns in an order of their own, renamed, partition column in the middle.
    columns = [ExportColumn(f"col_{f}", f) for f in reversed(fields)]
    if fmt is not None:
        columns.insert(2, ExportColumn("dt", "dt"))
    columns.append(ExportColumn("uid", "user_id"))
    plan = ExportPlan(
        audience=spec,
        scope=AudienceScope(ENTITY, TAGS, {}),
        bizdate=BIZDATE,
        tags=tags,
        columns=columns,
        key=["uid"],
        partition_field="dt" if fmt else None,
        partition_format=fmt or PartitionFormat.YYYYMMDD,
    )
    reader = warehouse.export_reader(plan, batch_size=2)
    table = reader.read_all()
    assert table.column_names == [c.name for c in columns]
    expected_types = {
        "col_city": pa.string(),
        "col_city_codename": pa.string(),
        "col_age": pa.int64(),
        "col_is_vip": pa.bool_(),
        "col_spend": pa.decimal128(12, 2),
        "col_last_order": pa.date32(),
        "col_signup": pa.timestamp("us"),
        "uid": pa.int64(),
        "dt": pa.string(),
    }
    assert {f.name: f.type for f in table.schema} == {
        c.name: expected_types[c.name] for c in columns
    }
    rows = sorted(table.to_pylist(), key=lambda r: r["uid"])
    ref = reference(tags, uids)
    expected = [
        {
            c.name: (fmt.render(BIZDATE) if c.name == "dt" and fmt else ref[c.source][uid])
            for c in columns
        }
        for uid in uids
    ]
    assert rows == expected


def test_export_is_unique_on_key_with_duplicate_source_rows(warehouse: Warehouse) -> None:
    dup = pa.table({"uid": [1, 1, 2], "city_code": ["571", "571", "21"], "ds": [DS] * 3})
    warehouse.write_batches(
        "p.profile", pa.RecordBatchReader.from_batches(dup.schema, dup.to_batches()), replace=True
    )
    scope = AudienceScope(ENTITY, {"city": TAGS["city"]}, {})
    everyone = AudienceGroupSpec(
        code="e",
        name="E",
        entity="user",
        owner="o",
        rule=parse_rule({"tag": "city", "op": "not_null"}),
    )
    plan = ExportPlan(
        everyone,
        scope,
        BIZDATE,
        [TagOutput(tag="city")],
        [ExportColumn("user_id", "user_id"), ExportColumn("city", "city")],
        ["user_id"],
    )
    rows = warehouse.export_reader(plan).read_all().to_pylist()
    assert sorted(r["user_id"] for r in rows) == [1, 2]


def sql_group(sql: str) -> AudienceGroupSpec:
    """An audience group of the user entity defined by `sql`."""
    return AudienceGroupSpec(code="q", name="Q", entity="user", owner="o", sql=sql)


def test_sql_audience_binds_bizdate_and_refuses_writes(warehouse: Warehouse) -> None:
    scope = AudienceScope(ENTITY, TAGS, {})
    spec = sql_group("SELECT uid FROM p.profile WHERE ds = '${bizdate}' AND age > 26")
    assert warehouse.members(scope, spec, BIZDATE, 0, 10) == [1, 3]
    dashed = spec.model_copy(
        update={
            "sql": "SELECT uid FROM p.profile "
            "WHERE strptime(ds, '%Y%m%d')::date = ${bizdate:yyyy-MM-dd}::date"
        }
    )
    assert warehouse.estimate(scope, dashed, BIZDATE) == 4
    bad = spec.model_copy(update={"sql": "DELETE FROM p.profile"})
    with pytest.raises(InvalidInput, match="SELECT"):
        warehouse.estimate(scope, bad, BIZDATE)


def test_readiness_names_missing_partitions(warehouse: Warehouse) -> None:
    needed = [
        PartitionRef("p.profile", "ds", DS),
        PartitionRef("p.profile", "ds", "20240503"),
        PartitionRef("p.nothing"),
    ]
    result = warehouse.readiness(needed, BIZDATE)
    assert result.missing == needed[1:]
    assert not result.ready


def test_import_table_partition_is_atomic_and_idempotent(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    csv = tmp_path / "day.csv"
    csv.write_text("uid,score\n1,5\n2,7\n")
    assert warehouse.import_table("p.scores", csv, partition_value="20240501") == 2
    assert warehouse.import_table("p.scores", csv, partition_value="20240502") == 2
    assert warehouse.import_table("p.scores", csv, partition_value="20240502") == 2
    counts = warehouse.query("SELECT ds, count(*) n FROM p.scores GROUP BY ds ORDER BY ds")
    assert counts.table.to_pylist() == [{"ds": "20240501", "n": 2}, {"ds": "20240502", "n": 2}]
    with pytest.raises(Conflict, match="--replace"):
        warehouse.import_table("p.scores", csv)
    bad = tmp_path / "bad.csv"
    bad.write_text("uid,score\n1,notanumber\n")
    with pytest.raises(InvalidInput, match="line 2, column score: 'notanumber' is not a valid"):
        warehouse.import_table("p.scores", bad, partition_value="20240502")
    after = warehouse.query("SELECT count(*) n FROM p.scores WHERE ds = '20240502'")
    assert after.table.to_pylist() == [{"n": 2}]


class SleepingClock:
    """Stands in for `time` in the warehouse module: sleeping moves the clock, instantly."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, list[float]()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_busy_file_waits_then_says_so(
    duckdb_house: DuckDBWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "time.sleep(30)",
            str(duckdb_house.path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        clock = SleepingClock()
        monkeypatch.setattr(duckdb_warehouse, "time", clock)
        with pytest.raises(TransientError, match=r"is busy: another process.*waited 1 s"):
            duckdb_house.tables()
        # It retried, backing off, for the whole busy timeout (1 s) and not longer.
        assert len(clock.sleeps) > 2 and clock.sleeps == sorted(clock.sleeps)
        assert 1.0 <= clock.now < 1.0 + clock.sleeps[-1] + 1e-9
    finally:
        holder.kill()
        holder.wait()


def test_an_ordered_export_comes_sorted_by_the_key(duckdb_house: DuckDBWarehouse) -> None:
    """For targets clustered on the key (InnoDB), the export is sorted by it."""
    plan = ExportPlan(
        audience=EVERYONE,
        scope=AudienceScope(ENTITY, TAGS, {}),
        bizdate=BIZDATE,
        tags=[TagOutput(tag="age")],
        columns=[ExportColumn("age", "age"), ExportColumn("uid", "user_id")],
        key=["uid"],
        ordered=True,
    )
    assert 'ORDER BY "uid"' in duckdb_house.export_sql(plan)
    ids = duckdb_house.export_reader(plan, batch_size=2).read_all().column("uid").to_pylist()
    assert ids == sorted(ids) == [1, 2, 3, 4, 5]


OPENS_FOR_WRITING = (
    "import duckdb, sys\n"
    "try:\n    duckdb.connect(sys.argv[1]).close()\n"
    "except duckdb.Error as error:\n    sys.exit(str(error))\n"
)


def _another_process_may_write(path: Path) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", OPENS_FOR_WRITING, str(path)], capture_output=True, check=False
    )
    return done.returncode == 0


def test_a_held_warehouse_serves_every_call_of_the_process_then_lets_go(
    duckdb_house: DuckDBWarehouse,
) -> None:
    """`held` (a demo build): calls in this process share one open file and see each other's
    writes; a person's SQL still never runs on a writable connection; afterwards the file is
    free for another process."""
    data = pa.table({"uid": [1, 2, 3]})
    with duckdb_house.held():
        another = DuckDBWarehouse(duckdb_house.path)  # the services open their own: same file
        reader = pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
        another.write_batches("p.fresh", reader, replace=True)
        with another.held():  # nested: the first hold goes on
            assert {"fresh", "profile"} <= {t.name for t in duckdb_house.tables("p")}
        assert next(t.rows for t in duckdb_house.tables("p") if t.name == "fresh") == 3
        assert not _another_process_may_write(duckdb_house.path)
        with pytest.raises(TerminalError, match="opening the warehouse"):
            duckdb_house.query("SELECT count(*) FROM p.fresh")
    assert _another_process_may_write(duckdb_house.path)
    assert duckdb_house.query("SELECT count(*) AS n FROM p.fresh").table.to_pylist() == [{"n": 3}]


def test_an_ordered_export_of_many_members_comes_sorted_by_the_key(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Sorted across all of its batches, with members enough to span several of the engine's
    partitions, ranges or files (and in no order as loaded)."""
    house = make_warehouse(engine, tmp_path, request)
    uids = random.Random(5).sample(range(-(10**9), 10**9), 5_000)
    ages = pa.array([u % 90 for u in uids], pa.int32())
    table = pa.table({"uid": uids, "age": ages, "ds": [DS] * len(uids)})
    house.write_batches(
        "p.profile",
        pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        replace=True,
    )
    scope = AudienceScope(ENTITY, {"age": TAGS["age"]}, {})
    plan = ExportPlan(
        audience=EVERYONE,
        scope=scope,
        bizdate=BIZDATE,
        tags=[TagOutput(tag="age")],
        columns=[ExportColumn("age", "age"), ExportColumn("uid", "user_id")],
        key=["uid"],
        ordered=True,
    )
    rows = house.export_reader(plan, batch_size=300).read_all().to_pylist()
    assert rows == [{"age": u % 90, "uid": u} for u in sorted(uids)]


@pytest.mark.parametrize(
    "vip_codes",
    [{" True ": "VIP", "false": "regular"}, {"1": "VIP", "0": "regular"}],
    ids=["true-false", "1-0"],
)
def test_code_names_of_number_boolean_and_text_tags(
    warehouse: Warehouse, vip_codes: dict[str, str]
) -> None:
    """A lookup's codes are text; each is matched as a value of its tag's type: a number, a
    boolean spelled true/false or 1/0 in any case and with spaces around (as a lookup may
    hold them), or text that need not look like a number."""
    tags = {
        "age": TagRef(TAGS["age"].spec, {"30": "thirty", "41": "forty-one"}),
        "is_vip": TagRef(TAGS["is_vip"].spec, vip_codes),
        "city": TagRef(TAGS["city"].spec, {"571": "Hangzhou", "hz": "unused"}),
    }
    fields = ["age_codename", "is_vip_codename", "city_codename"]
    plan = ExportPlan(
        audience=EVERYONE,
        scope=AudienceScope(ENTITY, tags, {}),
        bizdate=BIZDATE,
        tags=[TagOutput(tag=code, outputs=[Output.CODENAME]) for code in tags],
        columns=[ExportColumn("uid", "user_id"), *(ExportColumn(f, f) for f in fields)],
        key=["uid"],
    )
    rows = sorted(warehouse.export_reader(plan).read_all().to_pylist(), key=lambda r: r["uid"])
    assert [tuple(r.values()) for r in rows] == [
        (1, "thirty", "VIP", "Hangzhou"),
        (2, None, "regular", None),
        (3, "forty-one", None, None),
        (5, None, "VIP", None),  # 4 has no row in these tags' source
    ]


def test_an_export_keyed_on_a_tag_has_one_row_per_key_and_one_without_key_every_member(
    warehouse: Warehouse,
) -> None:
    """A target keyed on a column that is not the ID gets one row per key value (members 2 and
    4 share a missing age: 2 is kept); a target without a key gets every member."""

    def rows(key: list[str]) -> list[dict[str, Any]]:
        plan = ExportPlan(
            audience=EVERYONE,
            scope=AudienceScope(ENTITY, TAGS, {}),
            bizdate=BIZDATE,
            tags=[TagOutput(tag="age")],
            columns=[ExportColumn("uid", "user_id"), ExportColumn("age", "age")],
            key=key,
        )
        return warehouse.export_reader(plan).read_all().to_pylist()

    everyone = [(1, 30), (2, None), (3, 41), (4, None), (5, 25)]
    assert sorted((r["uid"], r["age"]) for r in rows([])) == everyone
    # One row per age, the same on every engine and run: the first by the exported columns.
    assert {r["age"]: r["uid"] for r in rows(["age"])} == {None: 2, 25: 5, 30: 1, 41: 3}
    assert len(rows(["age"])) == 4


def test_a_sql_audience_counts_each_id_once_and_no_null(warehouse: Warehouse) -> None:
    """Its members are the distinct non-NULL values of its column, cast to the ID type."""
    scope = AudienceScope(ENTITY, TAGS, {})
    spec = sql_group(
        "SELECT CASE WHEN age > 26 THEN CAST(uid AS VARCHAR) END FROM p.profile "
        "WHERE ds = '${bizdate}' UNION ALL SELECT '1'"
    )
    assert warehouse.members(scope, spec, BIZDATE, 0, 10) == [1, 3]
    assert warehouse.estimate(scope, spec, BIZDATE) == 2


def test_a_sql_audience_keeps_its_numbers_as_numbers(warehouse: Warehouse) -> None:
    """Binding the bizdate rewrites only the placeholder's literal: `ORDER BY 1 DESC LIMIT 2`
    still orders by the first column (a string '1' would order by a constant)."""
    scope = AudienceScope(ENTITY, TAGS, {})
    spec = sql_group(
        "SELECT DISTINCT uid FROM p.profile WHERE ds = '${bizdate}' AND uid < 1 + 4 "
        "ORDER BY 1 DESC LIMIT 2"
    )
    assert warehouse.members(scope, spec, BIZDATE, 0, 10) == [2, 3]


def test_a_rule_export_has_the_rules_members_only(warehouse: Warehouse) -> None:
    """A selective rule that refers to another group: the export holds its members and no one
    else (the reference tests export everyone, where the rule's filter changes nothing); 7 is
    picked but in no source at the bizdate, so no member."""
    picked = AudienceGroupSpec(code="picked", name="P", entity="user", owner="o", import_="x")
    some = AudienceGroupSpec(
        code="some",
        name="S",
        entity="user",
        owner="o",
        rule=parse_rule({"any": [{"tag": "age", "op": ">", "value": 26}, {"audience": "picked"}]}),
    )
    plan = ExportPlan(
        audience=some,
        scope=AudienceScope(ENTITY, TAGS, {"picked": picked}),
        bizdate=BIZDATE,
        tags=[TagOutput(tag="age")],
        columns=[ExportColumn("uid", "user_id"), ExportColumn("age", "age")],
        key=["uid"],
    )
    rows = warehouse.export_reader(plan).read_all().to_pylist()
    assert sorted((r["uid"], r["age"]) for r in rows) == [(1, 30), (3, 41), (4, None)]
    assert warehouse.estimate(plan.scope, some, BIZDATE) == 3


def test_tags_named_like_a_lookups_columns_export_their_own_values(warehouse: Warehouse) -> None:
    """Tags whose codes are `code` and `name` (the columns of a lookup's inline table) export
    their values and code names: every column the export reads is qualified by its source."""
    tags = {
        "code": _tag("code", "string", "p.profile", "city_code", lookup=True),
        "name": _tag("name", "long", "p.profile", "age"),
    }
    plan = ExportPlan(
        audience=EVERYONE,
        scope=AudienceScope(ENTITY, {**TAGS, **tags}, {}),
        bizdate=BIZDATE,
        tags=[
            TagOutput(tag="code", outputs=[Output.VALUE, Output.CODENAME]),
            TagOutput(tag="name"),
        ],
        columns=[
            ExportColumn("uid", "user_id"),
            ExportColumn("code", "code"),
            ExportColumn("code_name", codename_field("code")),
            ExportColumn("name", "name"),
        ],
        key=["uid"],
    )
    rows = warehouse.export_reader(plan).read_all().to_pylist()
    assert sorted(tuple(r.values()) for r in rows) == [
        (1, "571", CITIES["571"], 30),
        (2, "21", CITIES["21"], None),
        (3, "999", None, 41),
        (4, None, None, None),
        (5, None, None, 25),
    ]
