"""The whole run, for real: demo warehouse -> one-click table -> publish -> worker -> target rows.

PostgreSQL and MariaDB are the real servers; the project target is the home's DuckDB warehouse.
The rows in the target are compared with the export query's own output.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml

from tagport.config import Settings, WarehouseEngine
from tagport.domain.states import TaskStatus
from tagport.domain.values import IdType
from tagport.runtime.pipeline import executor
from tagport.runtime.worker import Worker, WorkerConfig
from tagport.services import catalog, config_as_code, instances, publication, targets, warehouse
from tagport.services.permissions import Actor
from tagport.store.db import Database
from tagport.targets.base import ConnectionParams
from tagport.warehouse import demo as demo_data
from tagport.warehouse import partition_stats
from tagport.warehouse.base import PartitionRef
from tagport.warehouse.duckdb import DuckDBWarehouse
from tagport.warehouse.queries import Scan
from tagport.warehouse.spark import SparkConfig
from tests.integration.support import MYSQL_DATASOURCE, PG_DATASOURCE, WH_DATASOURCE

TODAY = date.today()
BIZDATE = TODAY - timedelta(days=1)
TAGS = [
    {"tag": "city", "outputs": ["value", "codename"]},
    {"tag": "gender", "outputs": ["codename"]},
    {"tag": "age"},
    {"tag": "is_vip"},
    {"tag": "total_spend"},
    {"tag": "signup_time"},
    {"tag": "last_order_date"},
]


@pytest.fixture
def demo(db: Database, operator: Actor, tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    warehouse.build_demo(settings, db, operator, 3000, TODAY)
    return settings


def apply(db: Database, actor: Actor, tmp_path: Path, *documents: dict[str, Any]) -> None:
    file = tmp_path / "extra.yaml"
    file.write_text(yaml.safe_dump_all(documents, allow_unicode=True))
    docs, problems = config_as_code.read_documents([file])
    catalog.apply(db, actor, docs, problems=problems)


def task(name: str, audience: str, target: dict[str, Any], tags: bool = True) -> dict[str, Any]:
    return {
        "kind": "OfflineService",
        "name": name,
        "application": "demo_app",
        "owner": "operator",
        "schedule": {"type": "manual"},
        "audience": audience,
        "sync_tags": tags,
        "tags": TAGS if tags else [],
        "target": target,
    }


def run_to_completion(db: Database, settings: Settings, actor: Actor, name: str) -> int:
    assert publication.request_publish(db, actor, name) is TaskStatus.PUBLISHING
    result = publication.complete_publication(db, name, targets.TargetAccess(settings).describe)
    assert result.problems == []
    instance_id = instances.run(db, actor, name, BIZDATE)
    worker = Worker(db, executor(settings, db), WorkerConfig())
    assert worker.run_once(instance_id=instance_id)
    view = instances.show(db, instance_id)
    assert (view.status, view.error) == ("succeeded", None)
    assert view.rows and view.bytes and view.bytes > view.rows and view.seconds is not None
    return instance_id


def expected_rows(
    db: Database, settings: Settings, audience: str, tags: bool
) -> set[tuple[Any, ...]]:
    """The export query's own answer, fetched independently of any target."""
    from tagport.domain.tasks import TagOutput
    from tagport.warehouse.base import ExportColumn

    outputs = [TagOutput.model_validate(t) for t in TAGS] if tags else []
    fields = ["user_id", *(f for o in outputs for f in o.fields())]
    plan = warehouse.export_plan(
        db,
        audience,
        BIZDATE,
        outputs,
        [ExportColumn(f, f) for f in fields],
        ["user_id"],
        reader="operator",
    )
    table = warehouse.export_reader(settings, plan).read_all()
    return {tuple(row.values()) for row in table.to_pylist()}


APPLICATION = {
    "kind": "Application",
    "name": "demo_app",
    "project": "tag_prod",
    "services": ["audience_offline"],
    "admins": ["operator"],
}


@pytest.fixture
def app(db: Database, operator: Actor, tmp_path: Path, demo: Settings) -> None:
    apply(db, operator, tmp_path, APPLICATION)


def test_export_to_postgresql_with_one_click_table(
    db: Database,
    operator: Actor,
    tmp_path: Path,
    demo: Settings,
    app: None,
    pg_url: str,
    pg_schema: str,
) -> None:
    apply(
        db,
        operator,
        tmp_path,
        PG_DATASOURCE,
        task(
            "women_to_pg",
            "active_women_hz_sh",
            {"datasource": "pg", "schema": pg_schema, "table": "active_women"},
        ),
    )
    ddl = targets.generate_ddl(db, demo, "women_to_pg")
    assert "PRIMARY KEY" in ddl and "city_codename" in ddl
    created = targets.create_table(db, demo, operator, "women_to_pg")
    assert [m.target for m in created.mapping][:3] == ["user_id", "city", "city_codename"]
    instance_id = run_to_completion(db, demo, operator, "women_to_pg")
    got = women_rows(pg_url, pg_schema)
    want = expected_rows(db, demo, "active_women_hz_sh", True)
    assert got == want and len(got) > 10
    assert any(isinstance(r[6], Decimal) for r in got)
    log = [m for *_, m in instances.log_lines(db, instance_id)]
    assert any(m.startswith("replaced active_women (swap)") for m in log)
    # A second run for the same day replaces, it does not append.
    instances.rerun(db, operator, instance_id)
    Worker(db, executor(demo, db), WorkerConfig()).run_once(instance_id=instance_id)
    with psycopg.connect(pg_url) as conn:
        count = conn.execute(f'SELECT count(*) FROM "{pg_schema}".active_women').fetchone()
    assert count is not None and count[0] == len(want)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not the point here
def test_the_load_streams_setting_cuts_a_run_into_that_many_streams(
    db: Database,
    operator: Actor,
    tmp_path: Path,
    demo: Settings,
    app: None,
    pg_url: str,
    pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TAGPORT_LOAD_STREAMS=3 into PostgreSQL (whose default is one stream): the run cuts its
    export into three ID ranges (of 300 members at least here), loads them as three streams and
    leaves the rows the export query gives."""
    settings = Settings(home=demo.home, load_streams=3)
    small = lambda s: DuckDBWarehouse(s.warehouse_path, chunk_rows=300)  # noqa: E731
    monkeypatch.setitem(warehouse._ENGINES, WarehouseEngine.DUCKDB, small)
    target = {"datasource": "pg", "schema": pg_schema, "table": "active_women"}
    apply(db, operator, tmp_path, PG_DATASOURCE, task("women_to_pg", "active_women_hz_sh", target))
    targets.create_table(db, settings, operator, "women_to_pg")
    instance_id = run_to_completion(db, settings, operator, "women_to_pg")
    log = [m for *_, m in instances.log_lines(db, instance_id)]
    assert any(m.startswith("replaced active_women") and "3 load stream(s)" in m for m in log)
    assert women_rows(pg_url, pg_schema) == expected_rows(db, settings, "active_women_hz_sh", True)


def women_rows(pg_url: str, schema: str) -> set[tuple[object, ...]]:
    """The rows of the active_women target table, as `expected_rows` gives them."""
    with psycopg.connect(pg_url) as conn:
        return {
            tuple(r)
            for r in conn.execute(
                f"SELECT user_id, city, city_codename, gender_codename, age, is_vip, total_spend, "
                f'signup_time, last_order_date FROM "{schema}".active_women'
            )
        }


@pytest.fixture
def spark_demo(
    db: Database, operator: Actor, tmp_path: Path, spark_config: SparkConfig
) -> Settings:
    """The demo in a home whose warehouse is Spark (on the test process's session)."""
    settings = Settings(home=tmp_path / "home", warehouse=WarehouseEngine.SPARK)
    warehouse.build_demo(settings, db, operator, 3000, TODAY)
    return settings


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not the point here
def test_a_run_on_the_spark_warehouse_exports_into_postgresql(
    db: Database, operator: Actor, tmp_path: Path, spark_demo: Settings, pg_url: str, pg_schema: str
) -> None:
    """The same run as above with TAGPORT_WAREHOUSE=spark: readiness, export and load through
    the worker, the rows the export query gives."""
    target = {"datasource": "pg", "schema": pg_schema, "table": "active_women"}
    women = task("women_to_pg", "active_women_hz_sh", target)
    apply(db, operator, tmp_path, APPLICATION, PG_DATASOURCE, women)
    targets.create_table(db, spark_demo, operator, "women_to_pg")
    run_to_completion(db, spark_demo, operator, "women_to_pg")
    got = women_rows(pg_url, pg_schema)
    want = expected_rows(db, spark_demo, "active_women_hz_sh", True)
    assert got == want and len(got) > 10
    assert (spark_demo.home / "warehouse.spark" / "tag_prod" / "user_profile").is_symlink()
    assert not spark_demo.warehouse_path.exists()  # nothing went to a DuckDB file


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_project_target_is_refused_on_the_spark_warehouse_naming_why(
    db: Database, operator: Actor, tmp_path: Path, spark_demo: Settings
) -> None:
    """Project targets write DuckDB tables, which a Spark warehouse would never read: the
    publication fails saying so, rather than exporting where nobody looks."""
    target = {"datasource": "wh", "table": "big_spenders"}
    spenders = task("spenders_to_wh", "big_spenders", target, tags=False)
    apply(db, operator, tmp_path, APPLICATION, WH_DATASOURCE, spenders)
    assert publication.request_publish(db, operator, "spenders_to_wh") is TaskStatus.PUBLISHING
    describe = targets.TargetAccess(spark_demo).describe
    result = publication.complete_publication(db, "spenders_to_wh", describe)
    assert result.status is TaskStatus.PUBLISH_FAILED
    assert any(
        "data source wh: project targets write DuckDB warehouse tables; the spark warehouse "
        "cannot take them yet" in problem
        for problem in result.problems
    ), result.problems
    assert not spark_demo.warehouse_path.exists()


def test_a_run_after_a_crash_between_the_renames_recovers_the_target(
    db: Database,
    operator: Actor,
    tmp_path: Path,
    demo: Settings,
    app: None,
    pg_url: str,
    pg_schema: str,
) -> None:
    apply(
        db,
        operator,
        tmp_path,
        PG_DATASOURCE,
        task("to_pg", "big_spenders", {"datasource": "pg", "schema": pg_schema, "table": "big"}),
    )
    targets.create_table(db, demo, operator, "to_pg")
    instance_id = run_to_completion(db, demo, operator, "to_pg")
    # What a crash between non-atomic renames leaves: the target renamed away, staging loaded.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".big_dpfx_b (LIKE "{pg_schema}".big)')
        conn.execute(f'ALTER TABLE "{pg_schema}".big RENAME TO big_dpfx_tmp')

    instances.rerun(db, operator, instance_id)
    Worker(db, executor(demo, db), WorkerConfig()).run_once(instance_id=instance_id)

    view = instances.show(db, instance_id)
    assert (view.status, view.error) == ("succeeded", None)
    with psycopg.connect(pg_url) as conn:
        count = conn.execute(f'SELECT count(*) FROM "{pg_schema}".big').fetchone()
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'big%%'",
            (pg_schema,),
        ).fetchall()
    assert count == (len(expected_rows(db, demo, "big_spenders", True)),) and count[0] > 0
    assert tables == [("big",)]


def test_export_to_the_project_target_partitioned_by_default(
    db: Database, operator: Actor, tmp_path: Path, demo: Settings, app: None
) -> None:
    apply(
        db,
        operator,
        tmp_path,
        WH_DATASOURCE,
        task(
            "spenders_to_wh",
            "big_spenders",
            {"datasource": "wh", "table": "big_spenders"},
            tags=False,
        ),
    )
    created = targets.create_table(db, demo, operator, "spenders_to_wh")
    assert created.table.column_names == ("user_id", "ds")
    run_to_completion(db, demo, operator, "spenders_to_wh")
    result = warehouse.run_sql(
        demo, operator, "SELECT user_id, ds FROM tag_prod.big_spenders", 100_000
    )
    want = {
        (r[0], BIZDATE.strftime("%Y%m%d")) for r in expected_rows(db, demo, "big_spenders", False)
    }
    assert {tuple(r.values()) for r in result.table.to_pylist()} == want and want


def test_export_to_mariadb_with_mapping_to_other_names(
    db: Database,
    operator: Actor,
    tmp_path: Path,
    demo: Settings,
    app: None,
    mysql_params: dict[str, Any],
    mysql_db: ConnectionParams,
) -> None:
    conn = pymysql.connect(**mysql_params | {"database": mysql_db.database}, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE seed_export (uid bigint PRIMARY KEY, "
            "loaded_by varchar(20) NOT NULL DEFAULT 'tagport', ds varchar(10))"
        )
    apply(
        db,
        operator,
        tmp_path,
        MYSQL_DATASOURCE | {"database": mysql_db.database},
        task(
            "seed_to_mysql",
            "crm_seed_users",
            {
                "datasource": "my",
                "table": "seed_export",
                "partition_field": "ds",
                "partition_format": "yyyy-MM-dd",
            },
            tags=False,
        )
        | {"mapping": [{"source": "user_id", "target": "uid"}]},
    )
    run_to_completion(db, demo, operator, "seed_to_mysql")
    with conn.cursor() as cur:
        cur.execute("SELECT uid, loaded_by, ds FROM seed_export")
        got = set(cur.fetchall())
    conn.close()
    want = {
        (r[0], "tagport", BIZDATE.isoformat())
        for r in expected_rows(db, demo, "crm_seed_users", False)
    }
    assert got == want and want


def test_a_run_fails_naming_the_partitions_that_never_came(
    db: Database, operator: Actor, tmp_path: Path, demo: Settings, app: None
) -> None:
    apply(
        db,
        operator,
        tmp_path,
        WH_DATASOURCE,
        task("late", "active_women_hz_sh", {"datasource": "wh", "table": "late"}, tags=False),
    )
    targets.create_table(db, demo, operator, "late")
    publication.request_publish(db, operator, "late")
    publication.complete_publication(db, "late", targets.TargetAccess(demo).describe)
    instance_id = instances.run(db, operator, "late", TODAY)  # today's partitions do not exist
    impatient = demo.model_copy(update={"readiness_timeout_seconds": 0})
    Worker(db, executor(impatient, db), WorkerConfig()).run_once(instance_id=instance_id)
    view = instances.show(db, instance_id)
    day = TODAY.strftime("%Y%m%d")
    assert view.status == "failed"
    assert view.error == (
        f"source partitions never arrived: tag_prod.user_profile ds={day}, "
        f"tag_prod.user_orders ds={day}"
    )


def test_the_demo_records_its_partitions_so_queries_skip_deduplication(
    db: Database, demo: Settings
) -> None:
    """Every source partition the demo loaded is known unique; the day it did not load is not."""
    house = warehouse.open_warehouse(demo)
    assert isinstance(house, DuckDBWarehouse)
    con = house.connect()
    try:
        for day, loaded in ((BIZDATE, True), (TODAY, False)):
            for table in (demo_data.PROFILE, demo_data.ORDERS):
                ref = PartitionRef(table, "ds", day.strftime("%Y%m%d"))
                scan = Scan(ref, "user_id", IdType.BIGINT)
                assert partition_stats.proven_unique(con, scan) is loaded, scan
    finally:
        con.close()


def test_an_imported_partition_of_a_tag_source_is_recorded(
    db: Database, operator: Actor, demo: Settings, tmp_path: Path
) -> None:
    day = TODAY.strftime("%Y%m%d")
    file = tmp_path / "orders.csv"
    file.write_text(
        "user_id,total_spend,last_order_date,order_count\n1,10.00,2024-01-01,1\n2,5.00,,2\n"
    )
    warehouse.import_table(demo, db, operator, demo_data.ORDERS, file, ds=TODAY)
    house = warehouse.open_warehouse(demo)
    assert isinstance(house, DuckDBWarehouse)
    con = house.connect()
    try:
        scan = Scan(PartitionRef(demo_data.ORDERS, "ds", day), "user_id", IdType.BIGINT)
        assert partition_stats.proven_unique(con, scan)
    finally:
        con.close()
