"""Overwrite policy: on a key conflict the new row wins, also across partitions."""

from __future__ import annotations

import datetime as dt

import pytest

from tagport.domain.dates import PartitionFormat
from tagport.targets.base import PartitionValue, Target
from tests.integration.targets.data import as_reader, export_table

DAY1 = PartitionValue("ds", PartitionFormat.YYYYMMDD, dt.date(2024, 5, 1))
DAY2 = PartitionValue("ds", PartitionFormat.YYYYMMDD, dt.date(2024, 5, 2))
COLUMNS = (
    "user_id {id} NOT NULL, city {s}, city_codename {s}, age bigint, score double precision, "
    "balance decimal(18,4), vip boolean, birthday date, last_seen timestamp, ds varchar(10), "
    "PRIMARY KEY (user_id)"
)


@pytest.mark.parametrize("fixture", ["pg_target", "mysql_target", "project_target"])
def test_new_row_wins_over_the_old_row_in_another_partition(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    """A table keyed by the entity ID alone with a date column: day 2 moves members."""
    target: Target = request.getfixturevalue(fixture)
    string = "text" if fixture != "mysql_target" else "varchar(200)"
    schema = target.params.schema
    name = f"{schema}.members" if schema else "members"
    target.create_table(f"CREATE TABLE {name} ({COLUMNS.format(id='bigint', s=string)})")
    target.write("members", as_reader(export_table(1000, partition=DAY1.value)), partition=DAY1)
    # day 2 holds members 0..499 of day 1 (user_id = 7 * i) plus new ones
    day2 = export_table(700, seed=0, partition=DAY2.value)
    target.write("members", as_reader(day2), partition=DAY2)
    quote = "`" if fixture == "mysql_target" else '"'
    table = f"{quote}{schema}{quote}.members" if schema else "members"
    rows = target._query(f"SELECT ds, count(*) FROM {table} GROUP BY ds ORDER BY ds")  # type: ignore[attr-defined]
    assert [tuple(r) for r in rows] == [(DAY1.value, 300), (DAY2.value, 700)]
