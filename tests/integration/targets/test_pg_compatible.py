"""openGauss, Greenplum and AnalyticDB PG share the PostgreSQL runtime: run it on PostgreSQL.

Their DDL differs (snapshot-tested in tests/unit/targets); here the tables are created with
PostgreSQL DDL and written through each target class (CSV COPY path, swap, by-value partitions).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tagport.domain.dates import PartitionFormat
from tagport.targets.adb_pg import AdbPgTarget
from tagport.targets.base import PartitionDesign, PartitionValue
from tagport.targets.greenplum import GreenplumTarget
from tagport.targets.opengauss import OpenGaussTarget
from tagport.targets.postgres import PostgresTarget
from tests.integration.targets.compare import assert_same_rows
from tests.integration.targets.data import as_reader, design, export_table

CLASSES = [GreenplumTarget, AdbPgTarget, OpenGaussTarget]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_swap_through_the_csv_copy_path(
    pg_target: PostgresTarget, cls: type[PostgresTarget]
) -> None:
    pg_target.create_table(pg_target.create_table_sql(design("members")))
    with cls(pg_target.params) as target:
        target.write("members", as_reader(export_table(500, seed=1)))
        data = export_table(20_000, seed=2)
        assert target.write("members", as_reader(data)).mode == "swap"
        assert_same_rows(target, "members", data)
        assert target.list_tables() == ["members"]


def test_adb_pg_replaces_a_partition_value_without_partitions(pg_target: PostgresTarget) -> None:
    adb = AdbPgTarget(pg_target.params)
    ddl = adb.create_table_sql(design("members", PartitionDesign("ds")))
    assert "PARTITION BY" not in ddl
    # The same table without the DISTRIBUTED BY clause PostgreSQL does not know.
    pg_target.create_table(ddl.replace(' DISTRIBUTED BY ("user_id")', ""))
    day1 = PartitionValue("ds", PartitionFormat.YYYYMMDD, dt.date(2024, 6, 1))
    day2 = PartitionValue("ds", PartitionFormat.YYYYMMDD, dt.date(2024, 6, 2))
    first = export_table(3000, seed=1, partition=day1.value)
    adb.write("members", as_reader(first), partition=day1)
    adb.write("members", as_reader(export_table(10, seed=2, partition=day2.value)), partition=day2)
    second = export_table(2000, seed=3, partition=day2.value)
    assert adb.write("members", as_reader(second), partition=day2).mode == "partition"
    assert_same_rows(adb, "members", first, f"WHERE ds = '{day1.value}'")
    assert_same_rows(adb, "members", second, f"WHERE ds = '{day2.value}'")
    adb.close()
