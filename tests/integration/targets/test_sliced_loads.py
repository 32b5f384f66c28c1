"""An export that the warehouse's own tasks load, slice by slice, into the staging table: each
slice exactly once, whatever dies when.

Without Spark, an export stands in that hands the sink its slices as a Spark job would, retries
included; with Spark (local mode, one retry a task), a task is killed mid-write, and after its
commit, and the target still holds every row once, row for row what DuckDB's export loads.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pytest

from tagport.errors import TerminalError, TransientError
from tagport.targets import sql
from tagport.targets.base import SlicedExport, SliceSink, Target
from tagport.targets.sql import SliceLoader, Statement
from tagport.warehouse.base import ExportPlan, Warehouse
from tests.integration.targets.data import design, export_table
from tests.integration.warehouse.engines import make_warehouse
from tests.integration.warehouse.mixed_export import fill, plan

TARGETS = ["pg_target", "mysql_target"]
USERS = 6_000


def _rows(target: Target, table: str) -> list[tuple[object, ...]]:
    qualified = target.dialect.qualify(target.params.schema, table)  # type: ignore[attr-defined]
    return [tuple(r) for r in target._query(f"SELECT * FROM {qualified} ORDER BY user_id")]  # type: ignore[attr-defined]


def _tables(target: Target) -> list[str]:
    return target.list_tables(target.params.schema)


class Slices:
    """A sliced export of `data` in `count` slices, loaded as a job would: `attempts` calls of
    the sink per slice (a retry, or an attempt started twice), the first `failing` of them
    dying after `dies_after` rows."""

    def __init__(
        self, data: pa.Table, count: int, attempts: int = 1, failing: int = 0, dies_after: int = 0
    ) -> None:
        self.data, self.count = data, count
        self.attempts, self.failing, self.dies_after = attempts, failing, dies_after
        self.slices = self.bytes = 0

    @property
    def schema(self) -> pa.Schema:
        return self.data.schema

    def _part(self, index: int) -> pa.Table:
        size = -(-self.data.num_rows // self.count)
        return self.data.slice(index * size, size)

    def load(self, sink: SliceSink) -> None:
        for index in range(self.count):
            part = self._part(index)
            for attempt in range(self.attempts):
                batches = part.to_batches(max_chunksize=100)
                if attempt < self.failing:
                    batches = _dying(batches, self.dies_after)
                try:
                    sink(str(index), pa.RecordBatchReader.from_batches(part.schema, batches))
                except _TaskDied:
                    continue
        self.slices, self.bytes = self.count, self.data.nbytes


class _TaskDied(Exception):
    pass


def _dying(batches: list[pa.RecordBatch], after: int) -> Iterator[pa.RecordBatch]:
    handed = 0
    for batch in batches:
        if handed >= after:
            raise _TaskDied
        handed += batch.num_rows
        yield batch


@pytest.mark.parametrize("fixture", TARGETS)
@pytest.mark.parametrize(
    ("attempts", "failing"),
    [(1, 0), (2, 0), (2, 1), (3, 2)],
    ids=["once", "twice-both-whole", "died-then-retried", "died-twice"],
)
def test_each_slice_is_loaded_once_whatever_its_attempts(
    request: pytest.FixtureRequest, fixture: str, attempts: int, failing: int
) -> None:
    target: Target = request.getfixturevalue(fixture)
    table = f"sliced_{attempts}_{failing}"
    target.create_table(target.create_table_sql(design(table)))
    data = export_table(2_000, seed=3)
    progress: list[int] = []
    export = Slices(data, 4, attempts, failing, dies_after=300)
    result = target.write(table, export, progress=lambda p: progress.append(p.rows))
    rows = _rows(target, table)
    assert result.rows == len(rows) == data.num_rows
    assert len({r[0] for r in rows}) == data.num_rows
    assert progress[-1] == data.num_rows
    assert _tables(target) == [table]  # the staging table and the ledger are gone


@pytest.mark.parametrize("fixture", TARGETS)
def test_a_slice_that_fails_every_attempt_leaves_the_target_untouched(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    target: Target = request.getfixturevalue(fixture)
    table = "sliced_failing"
    target.create_table(target.create_table_sql(design(table)))
    before = export_table(50, seed=1)
    target.write(table, pa.RecordBatchReader.from_batches(before.schema, before.to_batches()))

    class Failing(Slices):
        def load(self, sink: SliceSink) -> None:
            super().load(sink)
            raise TerminalError("exporting audience group g: slice 2 failed 2 times")

    with pytest.raises(TerminalError, match="slice 2 failed 2 times"):
        target.write(table, Failing(export_table(2_000, seed=3), 4))
    assert len(_rows(target, table)) == 50
    assert _tables(target) == [table]


@pytest.mark.parametrize("fixture", TARGETS)
def test_progress_is_told_while_the_slices_load_each_slice_once(
    request: pytest.FixtureRequest, fixture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write reads the ledger while the warehouse's tasks run: each loaded slice's rows
    reach the progress callback before the next slice starts (not only when the export ends),
    and each count is told once. The export runs in a thread the CLI's log lines name; the
    ledger is in the table's schema, where the next run's recovery looks for leftovers."""
    monkeypatch.setattr(sql, "SLICE_PROGRESS_SECONDS", 0.05)
    target: Target = request.getfixturevalue(fixture)
    target.create_table(target.create_table_sql(design("sliced_progress")))
    progress: list[int] = []
    told: list[int] = []

    threads: list[str] = []
    ledgers: list[str] = []

    class Watched(Slices):
        def load(self, sink: SliceSink) -> None:
            threads.append(threading.current_thread().name)
            with type(target)(target.params) as another:  # the ledger, where recovery looks
                ledgers.extend(t for t in _tables(another) if t.endswith("_dpfx_slices"))

            def one(name: str, batches: pa.RecordBatchReader) -> int:
                rows = sink(name, batches)
                loaded = (told[-1] if told else 0) + rows
                deadline = time.monotonic() + 5
                while progress[-1:] != [loaded] and time.monotonic() < deadline:
                    time.sleep(0.01)
                told.append(progress[-1] if progress else 0)
                return rows

            super().load(one)

    data = export_table(2_000, seed=3)
    result = target.write(
        "sliced_progress", Watched(data, 4), progress=lambda p: progress.append(p.rows)
    )
    assert result.rows == data.num_rows
    assert told == [500, 1_000, 1_500, 2_000]
    assert progress == told
    assert threads[0].startswith("tagport-slices")
    assert ledgers == ["sliced_progress_dpfx_slices"]


@pytest.mark.parametrize("fixture", TARGETS)
def test_a_sliced_load_whose_connection_is_lost_fails_as_transient_and_the_next_run_recovers(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    """The write's own connection killed while the warehouse's tasks load: the write fails with
    the lost connection's error (dropping the ledger on it fails too: that is left unsaid), and
    the next run writes the table, its leftovers gone."""
    target: Target = request.getfixturevalue(fixture)
    table = "sliced_lost"
    target.create_table(target.create_table_sql(design(table)))
    conn = target.conn  # type: ignore[attr-defined]
    kill = (
        f"SELECT pg_terminate_backend({conn.info.backend_pid})"
        if fixture == "pg_target"
        else f"KILL CONNECTION {conn.thread_id()}"
    )

    class Killing(Slices):
        def load(self, sink: SliceSink) -> None:
            super().load(sink)
            with type(target)(target.params) as another:
                another._run([Statement(kill)], transaction=False)  # type: ignore[attr-defined]

    with pytest.raises(TransientError, match=r"^(PostgreSQL|MySQL): .+ \(retry may help\)$"):
        target.write(table, Killing(export_table(400, seed=3), 2))
    target.close()
    data = export_table(600, seed=4)
    assert target.write(table, Slices(data, 3)).rows == data.num_rows
    assert _tables(target) == [table]


TOO_LONG = {
    "pg_target": r"^PostgreSQL: data does not fit the column types: value too long for type "
    r"character varying\(200\)$",
    "mysql_target": r"^MySQL: Data too long for column 'slice_id' at row 1$",
}


@pytest.mark.parametrize("fixture", TARGETS)
def test_a_slice_whose_record_fails_leaves_none_of_its_rows(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    """A slice and its ledger record are one transaction: when the record cannot be written
    (here an ID longer than the ledger takes), none of the slice's rows stay in staging, so the
    task's retry loads them once."""
    target: Target = request.getfixturevalue(fixture)
    target.create_table(target.create_table_sql(design("sliced_record")))
    d, schema = target.dialect, target.params.schema  # type: ignore[attr-defined]
    staging, ledger = (d.qualify(schema, f"sliced_record{s}") for s in ("_dpfx_b", "_dpfx_slices"))
    target._run(  # type: ignore[attr-defined]
        [
            Statement(s)
            for s in (
                *d.create_like(d.qualify(schema, "sliced_record"), staging, partitioned=False),
                d.create_ledger(ledger),
            )
        ],
        transaction=False,
    )
    info = target.describe_table("sliced_record")
    loader = SliceLoader(target, staging, ledger, info)  # type: ignore[arg-type]
    data = export_table(300, seed=5)
    with pytest.raises(TerminalError, match=TOO_LONG[fixture]):
        loader("x" * 201, pa.RecordBatchReader.from_batches(data.schema, data.to_batches()))
    assert _count(target, staging) == 0
    assert loader("0", pa.RecordBatchReader.from_batches(data.schema, data.to_batches())) == 300
    assert _count(target, staging) == 300
    assert target.recover("sliced_record") == [
        "dropped sliced_record_dpfx_b",
        "dropped sliced_record_dpfx_slices",
    ]


def _count(target: Target, table: str) -> int:
    return int(str(target._query(f"SELECT count(*) FROM {table}")[0][0]))  # type: ignore[attr-defined]


# --- Spark ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Killing:
    """A sink that kills the Spark task's Python worker the first time it loads slice 0: after
    `after` rows reached the load (mid-write), or after its load committed (`after` None)."""

    sink: SliceSink
    marker: str

    after: int | None

    def __call__(self, name: str, batches: pa.RecordBatchReader) -> int:
        first = name == "0" and not os.path.exists(self.marker)
        if first:
            Path(self.marker).touch()
        if first and self.after is not None:
            batches = pa.RecordBatchReader.from_batches(batches.schema, self._dies(batches))
        rows = self.sink(name, batches)
        if first:
            os._exit(1)
        return rows

    def _dies(self, batches: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        handed = 0
        for batch in batches:
            for part in pa.Table.from_batches([batch]).to_batches(max_chunksize=100):
                if self.after is not None and handed >= self.after:
                    os._exit(1)
                handed += part.num_rows
                yield part


class KilledOnce:
    """Spark's sliced export, its slice 0's first attempt killed (see `Killing`)."""

    def __init__(self, export: SlicedExport, marker: Path, after: int | None) -> None:
        self.export, self.marker, self.after = export, str(marker), after
        self.slices = self.bytes = 0

    @property
    def schema(self) -> pa.Schema:
        return self.export.schema

    def load(self, sink: SliceSink) -> None:
        self.export.load(Killing(sink, self.marker, self.after))
        self.slices, self.bytes = self.export.slices, self.export.bytes


@pytest.fixture(scope="module")
def houses(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Warehouse]:
    """The mixed export's sources in DuckDB and in Spark."""
    found = {}
    for engine in ("duckdb", "spark"):
        warehouse = make_warehouse(engine, tmp_path_factory.mktemp(engine), request)
        fill(warehouse, USERS)
        found[engine] = warehouse
    return found


def _expected(
    houses: dict[str, Warehouse], target: Target, export: ExportPlan, table: str
) -> list[tuple[object, ...]]:
    target.create_table(target.create_table_sql(design(table)))
    target.write(table, houses["duckdb"].export_readers(export, 1))
    return _rows(target, table)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize(
    ("fixture", "kill"),
    # A Spark job each (20-40 s here): both targets killed mid-write, the rest split between
    # them (the untouched path into PostgreSQL runs in test_pipeline.py as well).
    [
        ("pg_target", "mid-write"),
        ("pg_target", "after-commit"),
        ("mysql_target", "mid-write"),
        ("mysql_target", "none"),
    ],
)
def test_spark_tasks_load_the_rows_duckdb_exports_though_one_is_killed(
    houses: dict[str, Warehouse],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fixture: str,
    kill: str,
) -> None:
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Spark's workers run `Killing`
    target: Target = request.getfixturevalue(fixture)
    export = replace(plan(), ordered=target.capabilities.sorted_load)
    want = _expected(houses, target, export, f"from_duckdb_{kill.replace('-', '_')}")
    sliced = houses["spark"].sliced_export(export, 4)
    assert sliced is not None
    if kill != "none":
        sliced = KilledOnce(sliced, tmp_path / "killed", 200 if kill == "mid-write" else None)
    table = f"from_spark_{kill.replace('-', '_')}"
    target.create_table(target.create_table_sql(design(table)))
    result = target.write(table, sliced)
    assert _rows(target, table) == want
    assert result.rows == len(want) > USERS // 3
    assert sliced.slices == 4 and sliced.bytes > 0  # not merged by adaptive execution
    if kill != "none":
        assert (tmp_path / "killed").exists()  # the kill happened, and Spark retried the task


@pytest.mark.spark
@pytest.mark.slow
def test_a_target_error_in_a_spark_task_is_told_in_the_targets_words(
    houses: dict[str, Warehouse], pg_target: Target
) -> None:
    """A value too long for its column fails the task on every attempt: the run's error says
    what the target said, not Spark's stack, and the target is untouched."""
    sliced = houses["spark"].sliced_export(plan(), 2)
    assert sliced is not None
    pg_target.create_table(pg_target.create_table_sql(design("too_narrow")))
    qualified = f'"{pg_target.params.schema}"."too_narrow"'
    pg_target._run(
        [Statement(f"ALTER TABLE {qualified} ALTER city TYPE varchar(2)")], transaction=False
    )  # type: ignore[attr-defined]
    with pytest.raises(TerminalError) as raised:
        pg_target.write("too_narrow", sliced)
    assert str(raised.value).startswith("exporting audience group mixed: ")
    assert "value too long for type character varying(2)" in str(raised.value)
    assert "Traceback" not in str(raised.value)
    assert _rows(pg_target, "too_narrow") == []
    assert _tables(pg_target) == ["too_narrow"]
