"""Several export streams into one write: loaded at once, a connection each (the project
target, one writer, takes them in turn)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pymysql
import pytest

from tagport.errors import TerminalError
from tagport.targets.base import LoadProgress, Target
from tagport.targets.postgres import PG_CAPABILITIES, PostgresTarget


def copies_running(watcher: Any, schema: str) -> int:
    """How many COPYs into `schema` PostgreSQL is running now: this test's only, as another
    test process may be loading at the same time."""
    row = watcher.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tagport' "
        "AND query LIKE %s AND state = 'active'",
        (f'COPY "{schema}".%',),
    ).fetchone()
    return int(row[0]) if row else 0


def stream(ids: range, city: str = "c") -> pa.RecordBatchReader:
    table = pa.table({"user_id": pa.array(ids, pa.int64()), "city": [city] * len(ids)})
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=7_000))


def meeting(ids: range, barrier: threading.Barrier) -> pa.RecordBatchReader:
    """`stream(ids)`, whose reader stops at its second batch until the other streams of
    `barrier` are at theirs: each has then sent a batch into a COPY it holds open, so the
    barrier's action sees every COPY at once, however the threads were scheduled."""
    source = stream(ids)

    def batches() -> Iterator[pa.RecordBatch]:
        for number, batch in enumerate(source):
            if number == 1:
                barrier.wait()
            yield batch

    return pa.RecordBatchReader.from_batches(source.schema, batches())


def members(target: Target, fixture: str) -> str:
    if fixture == "mysql_target":
        return "members"
    return f'"{target.params.schema}".members' if target.params.schema else "members"


@pytest.mark.parametrize("fixture", ["mysql_target", "pg_target", "project_target"])
def test_two_streams_make_one_table(request: pytest.FixtureRequest, fixture: str) -> None:
    target: Target = request.getfixturevalue(fixture)
    table = members(target, fixture)
    target.create_table(f"CREATE TABLE {table} (user_id bigint PRIMARY KEY, city varchar(8))")
    seen: list[int] = []

    result = target.write(
        "members",
        [stream(range(0, 30_000)), stream(range(30_000, 50_000))],
        progress=lambda p: seen.append(p.rows),
    )

    assert result.rows == 50_000 and seen[-1] == 50_000
    rows = target._query(f"SELECT count(*), min(user_id), max(user_id) FROM {table}")  # type: ignore[attr-defined]
    assert tuple(rows[0]) == (50_000, 0, 49_999)


def test_mysql_runs_the_streams_at_once(mysql_target: Target, mysql_params: dict[str, Any]) -> None:
    """Seen from the server: two LOAD DATA run together (counted while each stream holds at its
    second batch, see `meeting`)."""
    mysql_target.create_table("CREATE TABLE members (user_id bigint PRIMARY KEY, city varchar(8))")
    watcher = pymysql.connect(**mysql_params, autocommit=True)
    running: list[int] = []

    def look() -> None:
        with watcher.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM information_schema.processlist "
                "WHERE db = %s AND info LIKE 'LOAD DATA%%'",
                (mysql_target.params.database,),
            )
            running.append(int(cur.fetchone()[0]))

    met = threading.Barrier(2, action=look, timeout=30)
    try:
        result = mysql_target.write(
            "members", [meeting(range(0, 30_000), met), meeting(range(30_000, 60_000), met)]
        )
    finally:
        watcher.close()
    assert running == [2] and result.rows == 60_000


def test_postgres_runs_as_many_copies_as_it_is_given_streams(
    pg_target: Target, pg_url: str
) -> None:
    """Its default is one stream, but four streams handed over are four COPYs at once (what
    TAGPORT_LOAD_STREAMS=4 asks), not four in turn."""
    import psycopg

    schema = pg_target.params.schema
    pg_target.create_table(
        f'CREATE TABLE "{schema}".members (user_id bigint PRIMARY KEY, city text)'
    )
    running: list[int] = []
    with psycopg.connect(pg_url, autocommit=True) as watcher:

        def look(_: LoadProgress) -> None:  # called under the meter's lock: one at a time
            running.append(copies_running(watcher, schema))

        met = threading.Barrier(
            4, action=lambda: running.append(copies_running(watcher, schema)), timeout=30
        )
        blocks = [range(i * 30_000, (i + 1) * 30_000) for i in range(4)]
        result = pg_target.write("members", [meeting(b, met) for b in blocks], progress=look)
    assert result.rows == 120_000
    assert max(running) == 4


@pytest.mark.parametrize("lanes", [1, 2])
def test_streams_beyond_a_targets_most_are_loaded_in_its_last_lane(
    pg_target: Target, pg_url: str, lanes: int
) -> None:
    """A target that loads at most `lanes` streams at once (Oracle: one) given four: never more
    than `lanes` COPYs at a time, the extra streams after one another in the last lane, each
    stream read by its lane alone, and every row. The lanes run in threads the CLI's log lines
    name."""
    import psycopg

    class Narrow(PostgresTarget):
        capabilities = replace(PG_CAPABILITIES, max_load_streams=lanes)

    schema = pg_target.params.schema
    pg_target.create_table(
        f'CREATE TABLE "{schema}".members (user_id bigint PRIMARY KEY, city text)'
    )
    running: list[int] = []
    threads: set[str] = set()
    with psycopg.connect(pg_url, autocommit=True) as watcher, Narrow(pg_target.params) as narrow:

        def look(_: LoadProgress) -> None:  # called under the meter's lock: one at a time
            running.append(copies_running(watcher, schema))
            threads.add(threading.current_thread().name.split("_")[0])

        readers: list[list[str]] = [[] for _ in range(4)]
        # The first stream of each lane waits at its second batch for the others' (see
        # `meeting`): then the lanes' COPYs are all open, and counted.
        met = threading.Barrier(
            lanes, action=lambda: running.append(copies_running(watcher, schema)), timeout=30
        )

        def read_by(block: int) -> Iterator[pa.RecordBatch]:
            """The stream of block `block` as an export gives it (a generator), telling by whom
            each batch is read."""
            ids = range(block * 50_000, (block + 1) * 50_000)
            for number, batch in enumerate(stream(ids)):
                if number == 1 and block < lanes:
                    met.wait()
                readers[block].append(threading.current_thread().name)
                yield batch

        streams = [
            pa.RecordBatchReader.from_batches(stream(range(0)).schema, read_by(b)) for b in range(4)
        ]
        result = narrow.write("members", streams, progress=look)
    assert result.rows == 200_000
    assert max(running) == lanes
    assert threads == ({"MainThread"} if lanes == 1 else {"tagport-load"})
    lane = [set(r) for r in readers]  # each stream read by one lane, the last ones by the last
    assert all(len(r) == 1 for r in lane) and len(set.union(*lane)) == lanes
    assert lane[lanes - 1] == lane[3]
    rows = pg_target._query(f'SELECT count(*), min(user_id), max(user_id) FROM "{schema}".members')  # type: ignore[attr-defined]
    assert tuple(rows[0]) == (200_000, 0, 199_999)


def test_each_stream_has_a_lane_of_its_own_up_to_the_targets_most(pg_target: Target) -> None:
    """Eight streams (TAGPORT_LOAD_STREAMS may ask up to 16) into PostgreSQL are eight lanes at
    once, whatever the machine's cores: none waits for a lane to free."""
    schema = pg_target.params.schema
    pg_target.create_table(
        f'CREATE TABLE "{schema}".members (user_id bigint PRIMARY KEY, city text)'
    )
    readers: list[set[str]] = [set() for _ in range(8)]
    all_started = threading.Barrier(8, timeout=10)

    def read_by(block: int) -> Iterator[pa.RecordBatch]:
        all_started.wait()  # every stream is being read before any is loaded
        for batch in stream(range(block * 1_000, (block + 1) * 1_000)):
            readers[block].add(threading.current_thread().name)
            yield batch

    schema_of = stream(range(0)).schema
    streams = [pa.RecordBatchReader.from_batches(schema_of, read_by(b)) for b in range(8)]
    assert pg_target.write("members", streams).rows == 8_000
    assert len(set.union(*readers)) == 8


def test_a_failing_mysql_stream_fails_the_write_and_keeps_the_table(
    mysql_target: Target,
) -> None:
    mysql_target.create_table("CREATE TABLE members (user_id bigint PRIMARY KEY, city varchar(8))")
    mysql_target.write("members", stream(range(3)))

    with pytest.raises(TerminalError, match="do not fit"):
        mysql_target.write(
            "members", [stream(range(0, 20_000)), stream(range(20_000, 40_000), "far too long")]
        )

    rows = mysql_target._query("SELECT count(*) FROM members")  # type: ignore[attr-defined]
    assert rows[0][0] == 3
    assert mysql_target.list_tables() == ["members"]
