"""Replacing one partition is all or nothing: a failure after the delete keeps the old rows."""

from __future__ import annotations

import datetime as dt

import pytest

from tagport.domain.dates import PartitionFormat
from tagport.errors import ExternalError
from tagport.targets.base import PartitionValue, Target
from tagport.targets.mysql import MySqlTarget
from tagport.targets.postgres import PostgresTarget
from tests.integration.targets.data import as_reader, export_table

DAY = PartitionValue("ds", PartitionFormat.YYYYMMDD, dt.date(2024, 5, 1))
COLUMNS = (
    "user_id bigint NOT NULL, city {s}, city_codename {s}, age bigint, score double precision, "
    "balance decimal(18,4), vip boolean, birthday date, last_seen timestamp, ds varchar(10), "
    "PRIMARY KEY (user_id)"
)
REFUSE = {
    # A trigger the staging copy does not inherit: loading succeeds, the final insert fails.
    "pg_target": [
        "CREATE FUNCTION {schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'refused by trigger'; END$$",
        "CREATE TRIGGER refuse BEFORE INSERT ON {schema}.members "
        "FOR EACH ROW EXECUTE FUNCTION {schema}.refuse()",
    ],
    "mysql_target": [
        "CREATE TRIGGER refuse BEFORE INSERT ON members FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by trigger'",
    ],
}


def refuse_inserts(target: Target, statements: list[str]) -> None:
    """Run setup DDL on the target's own connection."""
    if isinstance(target, PostgresTarget):
        for statement in statements:
            target.conn.execute(statement.encode())
    else:
        assert isinstance(target, MySqlTarget)
        with target.conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)


def stored(target: Target, name: str) -> list[tuple[object, ...]]:
    """(user_id, city) of the day's rows, by user_id."""
    rows = target._query(f"SELECT user_id, city FROM {name} WHERE ds = '{DAY.value}' ORDER BY 1")  # type: ignore[attr-defined]
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("fixture", sorted(REFUSE))
def test_a_partition_replace_failing_after_its_delete_keeps_the_previous_rows(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    target: Target = request.getfixturevalue(fixture)
    schema = target.params.schema
    string = "varchar(200)" if fixture == "mysql_target" else "text"
    name = f"{schema}.members" if schema else "members"
    target.create_table(f"CREATE TABLE {name} ({COLUMNS.format(s=string)})")
    previous = export_table(1200, seed=1, partition=DAY.value)
    target.write("members", as_reader(previous), partition=DAY)
    refuse_inserts(target, [s.format(schema=schema) for s in REFUSE[fixture]])

    following = export_table(900, seed=2, partition=DAY.value)
    with pytest.raises(ExternalError, match="refused by trigger"):
        target.write("members", as_reader(following), partition=DAY)

    # The delete was rolled back with the failed insert: the day still holds its rows.
    assert stored(target, name) == sorted(
        zip(previous["user_id"].to_pylist(), previous["city"].to_pylist(), strict=True)
    )
    assert target.list_tables() == ["members"]  # and staging is gone
