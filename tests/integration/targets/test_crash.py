"""A killed load leaves complete content behind, and the next run recovers.

Two ways to kill: SIGKILL from outside in the middle of the bulk load, and the load killing itself
at each named point of the swap (`set_swap_hook`), on PostgreSQL, MariaDB (each also made to
rename non-atomically, as Oracle does) and the project target. A reader on its own connection
counts the table throughout: it sees the old or the new content, and an error only between the
crash and the next run's recovery (only where renames are not atomic).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pymysql
import pytest

from tagport.domain.catalog import DataSourceType
from tagport.targets.base import ConnectionParams, Target, set_swap_hook
from tests.integration.targets.compare import assert_same_rows
from tests.integration.targets.crash_loader import NON_ATOMIC
from tests.integration.targets.data import as_reader, design, export_table
from tests.integration.targets.readers import CountingReader

pytestmark = pytest.mark.slow  # a loader process killed at every point of every swap

ROOT = Path(__file__).resolve().parents[3]


def _kill_mid_load(kind: DataSourceType, target: Target, table: str) -> None:
    params = json.dumps(dataclasses.asdict(target.params))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.targets.crash_loader", kind.value, params, table],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if int(line) >= 50_000:  # well inside the load
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("pg_target", DataSourceType.POSTGRESQL),
        ("mysql_target", DataSourceType.MYSQL),
        ("project_target", DataSourceType.PROJECT),
    ],
)
def test_sigkill_mid_load_keeps_previous_content(
    request: pytest.FixtureRequest, fixture: str, kind: DataSourceType
) -> None:
    target: Target = request.getfixturevalue(fixture)
    target.create_table(target.create_table_sql(design("members")))
    previous = export_table(3000, seed=1)
    target.write("members", as_reader(previous))
    target.close()  # the project's DuckDB file admits one writing process

    _kill_mid_load(kind, target, "members")

    assert_same_rows(target, "members", previous)  # intact and readable
    if kind is not DataSourceType.PROJECT:  # DuckDB rolls back; the others keep a staging table
        assert "members_dpfx_b" in target.list_tables()
    data = export_table(4000, seed=2)
    assert target.write("members", as_reader(data)).rows == 4000
    assert_same_rows(target, "members", data)
    assert target.list_tables() == ["members"]  # no _dpfx_ leftovers


SQL_POINTS = ("staging_created", "staging_loaded", "staging_renamed_in", "old_dropped", "replaced")
RENAMED_AWAY = "target_renamed_away"
POINTS: dict[str, tuple[str, ...]] = {
    "postgresql": (*SQL_POINTS[:2], RENAMED_AWAY, *SQL_POINTS[2:]),  # inside one transaction
    "postgresql-non-atomic": (*SQL_POINTS[:2], RENAMED_AWAY, *SQL_POINTS[2:]),
    "mysql": SQL_POINTS,  # one RENAME TABLE statement: no point between the renames
    "mysql-non-atomic": (*SQL_POINTS[:2], RENAMED_AWAY, *SQL_POINTS[2:]),
    "project": ("recovered", "target_emptied", "rows_inserted", "replaced"),
}
COMMITTED: dict[str, set[str]] = {
    "postgresql": {"replaced"},
    "postgresql-non-atomic": {"staging_renamed_in", "old_dropped", "replaced"},
    "mysql": {"staging_renamed_in", "old_dropped", "replaced"},
    "mysql-non-atomic": {"staging_renamed_in", "old_dropped", "replaced"},
    "project": {"replaced"},
}
"""Points after which the crashed run's content is the table's (before them: the previous)."""
FIXTURES = {"postgresql": "pg_target", "mysql": "mysql_target", "project": "project_target"}
CRASHED_SEED = 2
PREVIOUS, CRASHED, NEXT = (
    export_table(rows, seed=seed) for rows, seed in ((900, 1), (1100, CRASHED_SEED), (1300, 3))
)


def _crash_at(kind: str, params: ConnectionParams, table: str, point: str) -> None:
    """Write CRASHED in a subprocess that SIGKILLs itself when the write reaches `point`."""
    rows, seed = str(len(CRASHED)), str(CRASHED_SEED)
    arguments = [kind, json.dumps(dataclasses.asdict(params)), table, point, rows, seed]
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.targets.crash_loader", *arguments],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, f"never reached {point}: {done.stderr}"


@contextmanager
def _counting(kind: str, target: Target) -> Iterator[CountingReader | None]:
    """A reader counting `members` on its own connection (none for DuckDB: one process only)."""
    p = target.params
    count: Callable[[], int]
    if kind.startswith("postgresql"):
        conn = psycopg.connect(
            host=p.host, port=p.port, dbname=p.database, user=p.username, autocommit=True
        )
        query = f'SELECT count(*) FROM "{p.schema}".members'.encode()

        def count() -> int:
            return int(conn.execute(query).fetchone()[0])  # type: ignore[index]

    elif kind.startswith("mysql"):
        conn = pymysql.connect(  # type: ignore[assignment]
            host=p.host,
            port=p.port or 3306,
            user=p.username,
            password=p.password or "",
            database=p.database,
            autocommit=True,
        )

        def count() -> int:
            with conn.cursor() as cur:  # type: ignore[attr-defined]
                cur.execute("SELECT count(*) FROM members")
                return int(cur.fetchone()[0])

    else:
        yield None
        return
    try:
        with CountingReader(count) as reader:
            yield reader
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("kind", "point"), [(kind, point) for kind, points in POINTS.items() for point in points]
)
def test_a_write_killed_at_each_point_of_the_swap_is_recovered_by_the_next_run(
    request: pytest.FixtureRequest, kind: str, point: str
) -> None:
    target: Target = request.getfixturevalue(FIXTURES[kind.removesuffix("-non-atomic")])
    target.create_table(target.create_table_sql(design("members")))
    target.write("members", as_reader(PREVIOUS))
    target.close()  # the project's DuckDB file admits one writing process
    recovered: list[float] = []
    with _counting(kind, target) as reader:
        started = time.monotonic()
        _crash_at(kind, target.params, "members", point)
        expected = CRASHED if point in COMMITTED[kind] else PREVIOUS
        if not (kind in NON_ATOMIC and point == RENAMED_AWAY):  # there, the table is missing
            assert_same_rows(target, "members", expected)
        # The next run, as a load runs it: recover and read the table, then write.
        set_swap_hook(
            lambda reached: recovered.append(time.monotonic()) if reached == "recovered" else None
        )
        try:
            assert target.describe_for_write("members").name == "members"
            assert_same_rows(target, "members", expected)  # recovered, complete
            assert target.write("members", as_reader(NEXT)).rows == len(NEXT)
        finally:
            set_swap_hook(None)
    assert_same_rows(target, "members", NEXT)
    assert target.list_tables() == ["members"]  # no _dpfx_ leftovers
    if reader is None:
        return
    assert set(reader.counts) <= {len(PREVIOUS), len(CRASHED), len(NEXT)} and reader.counts
    if kind in NON_ATOMIC:
        # Missing between the renames, and from a crash there to the next run's recovery;
        # never after it.
        assert all(started < t < recovered[0] for t in reader.error_times)
        assert reader.errors or point != RENAMED_AWAY
    else:
        assert reader.errors == []
