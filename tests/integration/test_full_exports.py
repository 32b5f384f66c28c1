"""1M-member exports through the real pipeline into every server target, compared row by row.

One demo warehouse of 1,000,000 users is built once; an everyone-audience (all users at the
bizdate) is exported with tags and code names into PostgreSQL, MariaDB and the project target,
non-partitioned; the partitioned writes export every 20th user in each partition format
(50,000: the format changes the partition value, not the volume; a partition's replace at
200,000 rows in ten batches is `targets/test_roundtrip.py`'s). The rows in each target are
compared with the export query's own output.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml

from tagport.config import Settings
from tagport.domain.dates import PartitionFormat
from tagport.domain.tasks import OfflineServiceSpec, TagOutput
from tagport.services import catalog, config_as_code, targets, warehouse
from tagport.services.permissions import Actor
from tagport.services.users import actor_for, init_operator
from tagport.store.db import Database
from tagport.targets.base import ConnectionParams
from tagport.warehouse.base import ExportColumn
from tests.integration.support import APP, MYSQL_DATASOURCE, PG_DATASOURCE, WH_DATASOURCE

pytestmark = pytest.mark.slow  # a million-user demo warehouse, exported to every target

USERS = 1_000_000
BIZDATE = date.today() - timedelta(days=1)
TAGS = [
    {"tag": "city", "outputs": ["value", "codename"]},
    {"tag": "total_spend"},
    {"tag": "last_order_date"},
]
FIELDS = ["user_id", "city", "city_codename", "total_spend", "last_order_date"]
FORMATS = [None, *PartitionFormat]
SAMPLED = "every_20th"
"""The audience of the formats other than the default (`audience_for`)."""


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Settings, Actor]]:
    root = tmp_path_factory.mktemp("million")
    settings = Settings(home=root / "home")
    db = Database(f"sqlite:///{root / 'meta.db'}", b"secret")
    db.upgrade()
    init_operator(db)
    operator = actor_for(db, None)
    warehouse.build_demo(settings, db, operator, USERS, date.today())
    file = root / "catalog.yaml"
    file.write_text(
        yaml.safe_dump_all(
            [
                APP,
                {
                    "kind": "AudienceGroup",
                    "code": "everyone",
                    "name": "Everyone",
                    "entity": "user",
                    "owner": "operator",
                    "sql": "SELECT user_id FROM tag_prod.user_profile WHERE ds = '${bizdate}'",
                },
                {
                    "kind": "AudienceGroup",
                    "code": SAMPLED,
                    "name": "Every 20th user",
                    "entity": "user",
                    "owner": "operator",
                    "sql": "SELECT user_id FROM tag_prod.user_profile WHERE ds = '${bizdate}' "
                    "AND user_id % 20 = 0",
                },
            ]
        )
    )
    docs, problems = config_as_code.read_documents([file])
    catalog.apply(db, operator, docs, problems=problems)
    yield db, settings, operator
    db.dispose()


def audience_for(fmt: PartitionFormat | None) -> str:
    """A million members without partitions, 50,000 in each partition format."""
    return "everyone" if fmt is None else SAMPLED


def expected(
    db: Database, settings: Settings, fmt: PartitionFormat | None, partition: str | None
) -> list[tuple[Any, ...]]:
    outputs = [TagOutput.model_validate(t) for t in TAGS]
    plan = warehouse.export_plan(
        db,
        audience_for(fmt),
        BIZDATE,
        outputs,
        [ExportColumn(f, f) for f in FIELDS],
        ["user_id"],
        reader="operator",
    )
    rows = warehouse.export_reader(settings, plan).read_all().to_pylist()
    suffix = (partition,) if partition else ()
    return sorted(tuple(r.values()) + suffix for r in rows)


def run(
    db: Database,
    settings: Settings,
    operator: Actor,
    tmp_path: Path,
    datasource: dict[str, Any],
    target: dict[str, Any],
    name: str,
    audience: str,
) -> int:
    file = tmp_path / "task.yaml"
    file.write_text(
        yaml.safe_dump_all(
            [
                datasource,
                {
                    "kind": "OfflineService",
                    "name": name,
                    "application": "app",
                    "owner": "operator",
                    "audience": audience,
                    "sync_tags": True,
                    "tags": TAGS,
                    "target": target,
                },
            ]
        )
    )
    docs, problems = config_as_code.read_documents([file])
    catalog.apply(db, operator, docs, problems=problems)
    targets.create_table(db, settings, operator, name)
    spec, _ = catalog.show(db, "OfflineService", name)
    assert isinstance(spec, OfflineServiceSpec)
    return targets.load(db, settings, spec, BIZDATE).rows


def target_for(fmt: PartitionFormat | None) -> dict[str, Any]:
    if fmt is None:
        return {}
    return {"partition_field": "ds", "partition_format": fmt.value}


def name_for(kind: str, fmt: PartitionFormat | None) -> str:
    return f"{kind}_{'plain' if fmt is None else list(PartitionFormat).index(fmt)}"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f or "plain")
def test_a_million_members_into_postgresql(
    million: tuple[Database, Settings, Actor],
    tmp_path: Path,
    pg_url: str,
    pg_schema: str,
    fmt: PartitionFormat | None,
) -> None:
    db, settings, operator = million
    name = name_for("pg", fmt)
    rows = run(
        db,
        settings,
        operator,
        tmp_path,
        PG_DATASOURCE,
        {"datasource": "pg", "schema": pg_schema, "table": name} | target_for(fmt),
        name,
        audience_for(fmt),
    )
    columns = ", ".join(FIELDS + (["ds"] if fmt else []))
    with psycopg.connect(pg_url) as conn:
        got = sorted(tuple(r) for r in conn.execute(f'SELECT {columns} FROM "{pg_schema}".{name}'))
    want = expected(db, settings, fmt, fmt.render(BIZDATE) if fmt else None)
    assert rows == len(want) > (900_000 if audience_for(fmt) == "everyone" else 45_000)
    assert got == want


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f or "plain")
def test_a_million_members_into_mariadb(
    million: tuple[Database, Settings, Actor],
    tmp_path: Path,
    mysql_params: dict[str, Any],
    mysql_db: ConnectionParams,
    fmt: PartitionFormat | None,
) -> None:
    db, settings, operator = million
    name = name_for("my", fmt)
    conn = pymysql.connect(**mysql_params | {"database": mysql_db.database}, autocommit=True)
    try:
        rows = run(
            db,
            settings,
            operator,
            tmp_path,
            MYSQL_DATASOURCE | {"database": mysql_db.database},
            {"datasource": "my", "table": name} | target_for(fmt),
            name,
            audience_for(fmt),
        )
        columns = ", ".join(FIELDS + (["ds"] if fmt else []))
        with conn.cursor() as cur:
            cur.execute(f"SELECT {columns} FROM {name}")
            got = sorted(tuple(r) for r in cur.fetchall())
    finally:
        conn.close()
    want = expected(db, settings, fmt, fmt.render(BIZDATE) if fmt else None)
    assert rows == len(want)
    assert got == want


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f or "default")
def test_a_million_members_into_the_project_target(
    million: tuple[Database, Settings, Actor], tmp_path: Path, fmt: PartitionFormat | None
) -> None:
    db, settings, operator = million
    name = name_for("wh", fmt)
    rows = run(
        db,
        settings,
        operator,
        tmp_path,
        WH_DATASOURCE,
        {"datasource": "wh", "table": name} | target_for(fmt),
        name,
        audience_for(fmt),
    )
    # A project table is partitioned by `ds` (yyyyMMdd) unless told otherwise.
    rendered = (fmt or PartitionFormat.YYYYMMDD).render(BIZDATE)
    result = warehouse.run_sql(
        settings, operator, f"SELECT {', '.join(FIELDS)}, ds FROM tag_prod.{name}", 2 * USERS
    )
    got = sorted(tuple(r.values()) for r in result.table.to_pylist())
    assert rows == len(got)
    assert got == expected(db, settings, fmt, rendered)
