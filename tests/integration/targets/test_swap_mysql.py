"""MariaDB swap: one RENAME TABLE; readers never miss the table; grants, names, views survive."""

from __future__ import annotations

import uuid

import pymysql
import pytest

from tagport.errors import TerminalError, TransientError
from tagport.targets.base import ConnectionParams, set_swap_hook
from tagport.targets.mysql import MySqlTarget
from tests.integration.targets.data import as_reader, design, export_table, swap_points
from tests.integration.targets.readers import CountingReader


def _connect(params: ConnectionParams, **extra: object) -> pymysql.Connection:  # type: ignore[type-arg]
    return pymysql.connect(
        host=params.host,
        port=params.port or 3306,
        user=extra.pop("user", params.username),  # type: ignore[arg-type]
        password=extra.pop("password", params.password or ""),  # type: ignore[arg-type]
        database=params.database,
        autocommit=True,
    )


def _sql(params: ConnectionParams, *statements: str) -> list[tuple[object, ...]]:
    with _connect(params) as conn, conn.cursor() as cur:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cur.execute(statement)
            rows = list(cur.fetchall())
        return rows


def _ready(target: MySqlTarget, name: str = "members") -> None:
    target.create_table(target.create_table_sql(design(name)))
    target.write(name, as_reader(export_table(1000)))


def test_readers_see_old_or_new_complete_count_during_20_swaps(
    mysql_target: MySqlTarget, mysql_db: ConnectionParams
) -> None:
    _ready(mysql_target)
    sizes = [1000 + 37 * i for i in range(1, 21)]
    with _connect(mysql_db) as conn:

        def count() -> int:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM members")
                return int(cur.fetchone()[0])

        with CountingReader(count) as reader:
            for i, size in enumerate(sizes):
                assert (
                    mysql_target.write("members", as_reader(export_table(size, seed=i))).mode
                    == "swap"
                )
    assert reader.errors == []
    assert len(reader.counts) > 20
    assert set(reader.counts) <= {1000, *sizes}


def test_grants_index_names_and_views_survive_a_swap(
    mysql_target: MySqlTarget, mysql_db: ConnectionParams
) -> None:
    _ready(mysql_target)
    user = f"tp_{uuid.uuid4().hex[:8]}"
    db = mysql_db.database
    _sql(
        mysql_db,
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'",
        f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 'pw'",
        f"GRANT SELECT ON `{db}`.`members` TO '{user}'@'%'",
        f"GRANT SELECT ON `{db}`.`members` TO '{user}'@'localhost'",
        "CREATE INDEX members_city_idx ON members (city(20))",
        "CREATE VIEW vip AS SELECT user_id FROM members WHERE vip = 1",
    )
    try:
        index_sql = (
            "SELECT DISTINCT index_name FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() AND table_name = 'members' ORDER BY 1"
        )
        before = _sql(mysql_db, index_sql)
        data = export_table(2000, seed=3)
        assert mysql_target.write("members", as_reader(data)).mode == "swap"
        assert _sql(mysql_db, index_sql) == before
        with _connect(mysql_db, user=user, password="pw") as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM members")
            assert cur.fetchone() == (2000,)
        vips = sum(1 for v in data["vip"].to_pylist() if v)
        assert _sql(mysql_db, "SELECT count(*) FROM vip") == [(vips,)]
        comment = _sql(
            mysql_db,
            "SELECT table_comment FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = 'members'",
        )
        assert comment == [("export members",)]
    finally:
        _sql(mysql_db, f"DROP USER '{user}'@'%'", f"DROP USER '{user}'@'localhost'")
    assert mysql_target.list_tables() == ["members"]


def test_refused_local_infile_falls_back_to_multi_row_inserts(mysql_db: ConnectionParams) -> None:
    with MySqlTarget(mysql_db, local_infile=False) as target:
        _ready(target)
        data = export_table(12_345, seed=8)
        assert target.write("members", as_reader(data)).rows == 12_345
        from tests.integration.targets.compare import assert_same_rows

        assert_same_rows(target, "members", data)


def test_recovery_restores_a_missing_target(
    mysql_target: MySqlTarget, mysql_db: ConnectionParams
) -> None:
    _ready(mysql_target)
    _sql(
        mysql_db,
        "CREATE TABLE members_dpfx_b LIKE members",
        "CREATE TABLE members_dpfx_slices (slice_id VARCHAR(200) PRIMARY KEY, row_count BIGINT)",
        "RENAME TABLE members TO members_dpfx_tmp",
    )
    assert mysql_target.recover("members") == [
        "restored members from members_dpfx_tmp",
        "dropped members_dpfx_b",
        "dropped members_dpfx_slices",
    ]
    assert _sql(mysql_db, "SELECT count(*) FROM members") == [(1000,)]


def test_recovery_after_a_crash_past_the_rename_keeps_the_new_table(
    mysql_target: MySqlTarget, mysql_db: ConnectionParams
) -> None:
    """Killed between the rename and the drop of the old table: the target holds the new
    content, which stays; the old copy goes."""
    _ready(mysql_target)
    _sql(mysql_db, "CREATE TABLE members_dpfx_tmp AS SELECT * FROM members LIMIT 10")
    assert mysql_target.recover("members") == ["dropped members_dpfx_tmp"]
    assert _sql(mysql_db, "SELECT count(*) FROM members") == [(1000,)]
    assert mysql_target.list_tables() == ["members"]


def test_a_swap_tells_the_hook_each_point_it_passes_in_order(mysql_target: MySqlTarget) -> None:
    """The points the crash tests kill a write at (test_crash.py, which mutmut does not run);
    one RENAME TABLE statement: no point between the renames."""
    _ready(mysql_target)
    assert swap_points(mysql_target) == [
        "recovered",
        "staging_created",
        "staging_loaded",
        "staging_renamed_in",
        "old_dropped",
        "replaced",
    ]


def test_a_write_whose_connection_is_lost_fails_as_transient_and_the_next_run_recovers(
    mysql_target: MySqlTarget, mysql_db: ConnectionParams
) -> None:
    """The connection killed once the staging table is loaded: the write fails with the lost
    connection's own error (the staging table cannot be dropped on it: that failure is left
    unsaid), the table keeps its rows, and the next run drops the leftover and writes."""
    _ready(mysql_target)
    victim = mysql_target.conn.thread_id()

    def kill(point: str) -> None:
        if point == "staging_loaded":
            _sql(mysql_db, f"KILL CONNECTION {victim}")

    previous = set_swap_hook(kill)
    try:
        with pytest.raises(TransientError, match=r"^MySQL: .+ \(retry may help\)$"):
            mysql_target.write("members", as_reader(export_table(10)))
    finally:
        set_swap_hook(previous)
    mysql_target.close()
    assert _sql(mysql_db, "SELECT count(*) FROM members") == [(1000,)]
    assert mysql_target.list_tables() == ["members", "members_dpfx_b"]
    assert mysql_target.write("members", as_reader(export_table(20))).rows == 20
    assert mysql_target.list_tables() == ["members"]


def test_errors_are_translated(mysql_target: MySqlTarget, mysql_db: ConnectionParams) -> None:
    with pytest.raises(TerminalError, match=r"^target table 'nope' does not exist$") as missing:
        mysql_target.write("nope", as_reader(export_table(10)))
    assert missing.value.code == "target.table_missing"  # the API's problem type
    _ready(mysql_target)
    _sql(
        mysql_db,
        "UPDATE members SET city_codename = NULL",
        "ALTER TABLE members MODIFY city_codename bigint",
    )
    with pytest.raises(TerminalError, match="do not fit"):
        mysql_target.write("members", as_reader(export_table(10)))
    assert _sql(mysql_db, "SELECT count(*) FROM members") == [(1000,)]
    assert mysql_target.list_tables() == ["members"]


def test_connection_failures_have_clear_messages(mysql_db: ConnectionParams) -> None:
    MySqlTarget(mysql_db).test_connection()
    refused = ConnectionParams(host="127.0.0.1", port=1, database="test", username="root")
    with pytest.raises(TransientError, match="refused"):
        MySqlTarget(refused).test_connection()
    unknown_db = ConnectionParams(**{**mysql_db.__dict__, "database": "no_such_db"})
    with pytest.raises(TerminalError, match="unknown database"):
        MySqlTarget(unknown_db).test_connection()
    bad_user = ConnectionParams(**{**mysql_db.__dict__, "username": "no_such_user"})
    with pytest.raises(TerminalError, match="refused the login"):
        MySqlTarget(bad_user).test_connection()
