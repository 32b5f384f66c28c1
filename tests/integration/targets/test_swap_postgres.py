"""PostgreSQL swap: readers never miss the table; grants, names, comments and views survive."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tagport.errors import TerminalError, TransientError
from tagport.targets.base import ConnectionParams
from tagport.targets.postgres import PostgresTarget
from tests.integration.targets.conftest import pg_params
from tests.integration.targets.data import as_reader, design, export_table, swap_points
from tests.integration.targets.readers import CountingReader


@pytest.fixture
def reader_role(pg_url: str) -> Iterator[str]:
    """A login-less role of this test's own, dropped with its grants afterwards (roles are
    server-wide: a fixed name would be shared by every database and every parallel worker)."""
    role = f"tp_reader_{uuid.uuid4().hex[:12]}"
    _sql(pg_url, f"CREATE ROLE {role}")
    yield role
    _sql(pg_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def _sql(pg_url: str, *statements: str) -> list[tuple[object, ...]]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cur = conn.execute(statement.encode())
            rows = cur.fetchall() if cur.description else []
        return rows


def _ready(target: PostgresTarget, name: str = "members") -> None:
    target.create_table(target.create_table_sql(design(name)))
    target.write(name, as_reader(export_table(1000)))


def test_readers_see_old_or_new_complete_count_during_20_swaps(
    pg_target: PostgresTarget, pg_url: str, pg_schema: str
) -> None:
    _ready(pg_target)
    sizes = [1000 + 37 * i for i in range(1, 21)]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        query = f'SELECT count(*) FROM "{pg_schema}"."members"'.encode()

        def count() -> int:
            row = conn.execute(query).fetchone()
            assert row is not None
            return int(row[0])

        with CountingReader(count) as reader:
            for i, size in enumerate(sizes):
                result = pg_target.write("members", as_reader(export_table(size, seed=i)))
                assert result.mode == "swap"
    assert reader.errors == []
    assert len(reader.counts) > 20
    assert set(reader.counts) <= {1000, *sizes}


def test_grants_names_defaults_and_comments_survive_a_swap(
    pg_target: PostgresTarget, pg_url: str, pg_schema: str, reader_role: str
) -> None:
    _ready(pg_target)
    table = f'"{pg_schema}"."members"'
    _sql(
        pg_url,
        f'GRANT USAGE ON SCHEMA "{pg_schema}" TO {reader_role}',
        f"GRANT SELECT ON {table} TO {reader_role}",
        f"CREATE INDEX members_city_idx ON {table} (city)",
        f"ALTER TABLE {table} ALTER COLUMN age SET DEFAULT 18",
        f"ALTER TABLE {table} ADD CONSTRAINT members_age_check CHECK (age >= 0)",
    )
    names_sql = (
        "SELECT relname FROM pg_class WHERE oid IN (SELECT indexrelid FROM pg_index "
        f"WHERE indrelid = '{table}'::regclass) ORDER BY 1"
    )
    before = _sql(pg_url, names_sql)
    result = pg_target.write("members", as_reader(export_table(2000, seed=9)))
    assert result.mode == "swap"
    assert _sql(pg_url, names_sql) == before == [("members_city_idx",), ("members_pkey",)]
    constraints = _sql(
        pg_url,
        f"SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass ORDER BY 1",
    )
    assert constraints == [("members_age_check",), ("members_pkey",)]
    assert _sql(pg_url, f"SET ROLE {reader_role}", f"SELECT count(*) FROM {table}") == [(2000,)]
    assert _sql(pg_url, f"SELECT obj_description('{table}'::regclass)") == [("export members",)]
    assert _sql(pg_url, f"SELECT col_description('{table}'::regclass, 4)") == [("tag age",)]
    info = pg_target.describe_table("members")
    assert [c.default for c in info.columns if c.name == "age"] == ["18"]
    assert not [t for t in pg_target.list_tables() if "_dpfx_" in t]


def test_a_table_with_a_view_is_replaced_in_place(
    pg_target: PostgresTarget, pg_url: str, pg_schema: str
) -> None:
    _ready(pg_target)
    _sql(
        pg_url,
        f'CREATE VIEW "{pg_schema}".vip AS SELECT user_id FROM "{pg_schema}".members WHERE vip',
    )
    data = export_table(3000, seed=4)
    assert pg_target.write("members", as_reader(data)).mode == "in_place"
    vips = _sql(pg_url, f'SELECT count(*) FROM "{pg_schema}".vip')
    assert vips == [(sum(1 for v in data["vip"].to_pylist() if v),)]


def test_an_in_place_replace_failing_after_its_delete_keeps_the_previous_rows(
    pg_target: PostgresTarget, pg_url: str, pg_schema: str
) -> None:
    """The delete and the insert of an in-place replacement are one transaction: an insert
    that fails (a trigger the staging copy does not inherit) leaves the old rows, seen through
    the view that made the write replace in place."""
    _ready(pg_target)
    s = f'"{pg_schema}"'
    _sql(
        pg_url,
        f"CREATE VIEW {s}.everyone AS SELECT user_id FROM {s}.members",
        f"CREATE FUNCTION {s}.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'refused by trigger'; END$$",
        f"CREATE TRIGGER refuse BEFORE INSERT ON {s}.members "
        f"FOR EACH ROW EXECUTE FUNCTION {s}.refuse()",
    )
    with pytest.raises(TerminalError, match=r"^PostgreSQL: refused by trigger$"):
        pg_target.write("members", as_reader(export_table(500, seed=3)))
    assert _sql(pg_url, f"SELECT count(*) FROM {s}.everyone") == [(1000,)]
    assert pg_target.list_tables() == ["members"]


def test_long_names_are_shortened_deterministically(pg_target: PostgresTarget) -> None:
    name = "m" * 63  # the longest name PostgreSQL allows: the suffixes cannot be appended
    _ready(pg_target, name)
    assert pg_target.write(name, as_reader(export_table(50))).rows == 50
    staging = pg_target.dialect.staging_name(name)
    assert len(staging) == 63 and staging == pg_target.dialect.staging_name(name)
    assert pg_target.list_tables() == [name]


def test_recovery_restores_a_missing_target_from_leftovers(
    pg_target: PostgresTarget, pg_url: str, pg_schema: str
) -> None:
    _ready(pg_target)
    s = f'"{pg_schema}"'
    # A crash between the two renames (impossible here: one transaction) — made by hand.
    _sql(
        pg_url,
        f"CREATE TABLE {s}.members_dpfx_b (LIKE {s}.members)",
        f"CREATE TABLE {s}.members_dpfx_slices (slice_id text PRIMARY KEY, row_count bigint)",
        f"ALTER TABLE {s}.members RENAME TO members_dpfx_tmp",
    )
    actions = pg_target.recover("members")
    assert actions == [
        "restored members from members_dpfx_tmp",
        "dropped members_dpfx_b",
        "dropped members_dpfx_slices",  # a sliced load's ledger
    ]
    assert _sql(pg_url, f"SELECT count(*) FROM {s}.members") == [(1000,)]
    assert pg_target.list_tables() == ["members"]


def test_recovery_after_a_crash_past_the_renames_keeps_the_new_table(
    pg_target: PostgresTarget, pg_url: str, pg_schema: str
) -> None:
    """Killed between the renames and the drop of the old table (possible where renames are
    not atomic): the target holds the new content, which stays; the old copy goes."""
    _ready(pg_target)
    s = f'"{pg_schema}"'
    _sql(pg_url, f"CREATE TABLE {s}.members_dpfx_tmp AS SELECT * FROM {s}.members LIMIT 10")
    assert pg_target.recover("members") == ["dropped members_dpfx_tmp"]
    assert _sql(pg_url, f"SELECT count(*) FROM {s}.members") == [(1000,)]
    assert pg_target.list_tables() == ["members"]


def test_a_swap_tells_the_hook_each_point_it_passes_in_order(pg_target: PostgresTarget) -> None:
    """The points the crash tests kill a write at (test_crash.py, which mutmut does not run);
    a swap passes every one of them, in order."""
    _ready(pg_target)
    assert swap_points(pg_target) == [
        "recovered",
        "staging_created",
        "staging_loaded",
        "target_renamed_away",
        "staging_renamed_in",
        "old_dropped",
        "replaced",
    ]


def test_a_write_into_another_schema_than_the_connections_replaces_that_table_only(
    pg_target: PostgresTarget, pg_url: str, pg_schema: str
) -> None:
    """A task's table may live in another schema than its data source's: the write recovers,
    swaps and replaces in place there, and the connection schema's table of the same name keeps
    its columns and rows."""
    here = f'"{pg_schema}".members'
    _sql(
        pg_url,
        f"CREATE TABLE {here} (user_id bigint PRIMARY KEY)",
        f"INSERT INTO {here} VALUES (7)",
    )
    elsewhere = f"{pg_schema}_b"
    _sql(pg_url, f'CREATE SCHEMA "{elsewhere}"')
    try:
        pg_target.create_table(pg_target.create_table_sql(design("members"), elsewhere), elsewhere)
        _sql(pg_url, f'CREATE TABLE "{elsewhere}".members_dpfx_b (LIKE {here})')
        swapped = pg_target.write("members", as_reader(export_table(10)), schema=elsewhere)
        assert (swapped.mode, swapped.rows) == ("swap", 10)
        _sql(pg_url, f'CREATE VIEW "{elsewhere}".vip AS SELECT * FROM "{elsewhere}".members')
        in_place = pg_target.write("members", as_reader(export_table(20)), schema=elsewhere)
        assert (in_place.mode, in_place.rows) == ("in_place", 20)
        assert _sql(pg_url, f'SELECT count(*) FROM "{elsewhere}".vip') == [(20,)]
        assert pg_target.list_tables(elsewhere) == ["members"]
    finally:
        _sql(pg_url, f'DROP SCHEMA "{elsewhere}" CASCADE')
    assert _sql(pg_url, f"SELECT * FROM {here}") == [(7,)]
    assert pg_target.list_tables() == ["members"]


def test_a_whole_table_write_into_a_partitioned_table_is_refused_naming_its_columns(
    pg_target: PostgresTarget, pg_url: str, pg_schema: str
) -> None:
    """Swapping a partitioned table for a plain copy would drop its partitioning."""
    _sql(
        pg_url,
        f'CREATE TABLE "{pg_schema}".members (user_id bigint, ds text, region text) '
        "PARTITION BY RANGE (ds, region)",
    )
    with pytest.raises(
        TerminalError,
        match=r"^target table 'members' is partitioned by ds, region: choose its date "
        r"partition field$",
    ):
        pg_target.write("members", as_reader(export_table(10).select(["user_id"])))
    assert pg_target.list_tables() == ["members"]


def test_errors_are_translated(pg_target: PostgresTarget, pg_url: str, pg_schema: str) -> None:
    with pytest.raises(TerminalError, match=r"^target table 'nope' does not exist$") as missing:
        pg_target.write("nope", as_reader(export_table(10)))
    assert missing.value.code == "target.table_missing"  # the API's problem type
    _ready(pg_target)
    _sql(
        pg_url, f'ALTER TABLE "{pg_schema}".members ALTER COLUMN city_codename TYPE bigint USING 0'
    )
    strings = export_table(10)
    with pytest.raises(TerminalError):
        pg_target.write("members", as_reader(strings))  # text values into a bigint column
    assert _sql(pg_url, f'SELECT count(*) FROM "{pg_schema}".members') == [(1000,)]


def test_connection_failures_have_clear_messages(pg_url: str, pg_schema: str) -> None:
    good = pg_params(pg_url, pg_schema)
    PostgresTarget(good).test_connection()
    refused = ConnectionParams(host="127.0.0.1", port=1, database="test", username="postgres")
    with pytest.raises(TransientError, match="refused"):
        PostgresTarget(refused).test_connection()
    unknown_db = ConnectionParams(**{**good.__dict__, "database": "no_such_db"})
    with pytest.raises(TerminalError, match="unknown database"):
        PostgresTarget(unknown_db).test_connection()
    bad_user = ConnectionParams(**{**good.__dict__, "username": "no_such_user"})
    with pytest.raises(TerminalError, match="refused the login"):
        PostgresTarget(bad_user).test_connection()


def test_introspection(pg_target: PostgresTarget, pg_schema: str) -> None:
    from tagport.domain.dates import PartitionFormat
    from tagport.targets.base import PartitionDesign

    pg_target.create_table(
        pg_target.create_table_sql(design("parted", PartitionDesign("ds", PartitionFormat.DASHED)))
    )
    assert pg_schema in pg_target.list_schemas()
    assert pg_target.list_tables() == ["parted"]
    info = pg_target.describe_table("parted")
    assert info.primary_key == ("user_id", "ds")
    assert info.partition_columns == ("ds",)
    with pytest.raises(TerminalError, match="partitioned by ds"):
        pg_target.write("parted", as_reader(export_table(10, partition="20240101")))
    assert [(c.name, c.type, c.nullable) for c in info.columns][:3] == [
        ("user_id", "bigint", False),
        ("city", "text", True),
        ("city_codename", "text", True),
    ]
