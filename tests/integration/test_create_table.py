"""One-click creation as a service (issue 10, items 3, 10 and 11; issue 17, finding 3): every
check before any DDL, nothing left behind when a later step fails, no takeover of an existing
table, a proposed table name recorded, and no partition field on AnalyticDB PG."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from tagport.config import Settings
from tagport.domain.tasks import OfflineServiceSpec
from tagport.errors import Conflict, InvalidInput, InvalidTransition, TerminalError
from tagport.services import catalog, publication, targets
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database
from tests.integration.support import PG_DATASOURCE
from tests.integration.test_pipeline import app, apply, demo, task

__all__ = ["app", "demo"]


@pytest.fixture
def target_schema(pg_url: str) -> Iterator[str]:
    """The target's own schema (the metadata store may live in the shared test schema)."""
    name = f"target_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def _tables(pg_url: str, schema: str) -> list[str]:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,)
        ).fetchall()
    return [str(r[0]) for r in rows]


def _pg_task(db: Database, operator: Actor, tmp_path: Path, schema: str, **target: Any) -> None:
    apply(
        db,
        operator,
        tmp_path,
        PG_DATASOURCE,
        task("to_pg", "big_spenders", {"datasource": "pg", "schema": schema, **target}, False),
    )


def _draft(db: Database, name: str) -> OfflineServiceSpec:
    spec, _ = catalog.show(db, "OfflineService", name)
    assert isinstance(spec, OfflineServiceSpec)
    return spec


def test_a_publishing_task_gets_no_table(
    db: Database, operator: Actor, tmp_path: Path, demo: Settings, app: None, pg_url: str,
    target_schema: str,
) -> None:  # fmt: skip
    _pg_task(db, operator, tmp_path, target_schema, table="spenders")
    publication.request_publish(db, operator, "to_pg")
    with pytest.raises(InvalidTransition):
        targets.create_table(db, demo, operator, "to_pg")
    assert _tables(pg_url, target_schema) == []


def test_a_failure_after_the_ddl_drops_the_table_again(
    db: Database, operator: Actor, tmp_path: Path, demo: Settings, app: None, pg_url: str,
    target_schema: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _pg_task(db, operator, tmp_path, target_schema, table="spenders")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("metadata store went away")

    monkeypatch.setattr(targets, "record_grant", broken)
    with pytest.raises(TerminalError, match=r"spenders .*went away.*dropped again"):
        targets.create_table(db, demo, operator, "to_pg")
    assert _tables(pg_url, target_schema) == []
    assert _draft(db, "to_pg").mapping == "same_name" and _permissions(db) == []


def test_an_existing_table_is_not_taken_over(
    db: Database, operator: Actor, tmp_path: Path, demo: Settings, app: None, pg_url: str,
    target_schema: str,
) -> None:  # fmt: skip
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{target_schema}".spenders (user_id bigint PRIMARY KEY)')
        conn.execute(f'INSERT INTO "{target_schema}".spenders VALUES (42)')
    _pg_task(db, operator, tmp_path, target_schema, table="spenders")
    with pytest.raises(Conflict, match="already exists"):
        targets.create_table(db, demo, operator, "to_pg")
    edited = f'CREATE TABLE IF NOT EXISTS "{target_schema}".spenders (user_id bigint PRIMARY KEY)'
    with pytest.raises(InvalidInput, match="IF NOT EXISTS"):
        targets.create_table(db, demo, operator, "to_pg", edited)
    assert _permissions(db) == []
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(f'SELECT user_id FROM "{target_schema}".spenders').fetchall()
    assert rows == [(42,)]


def test_an_edited_statement_creates_the_tasks_table_only(
    db: Database, operator: Actor, tmp_path: Path, demo: Settings, app: None, pg_url: str,
    target_schema: str,
) -> None:  # fmt: skip
    _pg_task(db, operator, tmp_path, target_schema, table="spenders")
    edited = f'CREATE TABLE "{target_schema}".elsewhere (user_id bigint PRIMARY KEY)'
    with pytest.raises(InvalidInput, match="creates elsewhere; the task's target table is"):
        targets.create_table(db, demo, operator, "to_pg", edited)
    assert _tables(pg_url, target_schema) == []


def test_without_a_table_name_one_is_proposed_and_recorded(
    db: Database, operator: Actor, tmp_path: Path, demo: Settings, app: None, pg_url: str,
    target_schema: str,
) -> None:  # fmt: skip
    _pg_task(db, operator, tmp_path, target_schema)
    assert _draft(db, "to_pg").target.table is None
    publication.request_publish(db, operator, "to_pg")
    describe = targets.TargetAccess(demo).describe
    problems = publication.complete_publication(db, "to_pg", describe).problems
    assert problems == ["no target table is set; create it with: task create-table to_pg"]
    ddl = targets.generate_ddl(db, demo, "to_pg")
    assert f'CREATE TABLE "{target_schema}"."to_pg" (' in ddl
    created = targets.create_table(db, demo, operator, "to_pg")
    assert created.table.name == "to_pg" and _tables(pg_url, target_schema) == ["to_pg"]
    assert _draft(db, "to_pg").target.table == "to_pg"


def test_an_analyticdb_task_with_a_partition_field_is_refused_when_saved(
    db: Database, operator: Actor, tmp_path: Path, demo: Settings, app: None
) -> None:
    adb = PG_DATASOURCE | {"name": "adb", "type": "adb_pg"}
    target = {"datasource": "adb", "schema": "public", "table": "t", "partition_field": "ds"}
    with pytest.raises(InvalidInput, match="partition_field: ds: a adb_pg target is never part"):
        apply(db, operator, tmp_path, adb, task("to_adb", "big_spenders", target, False))
    target.pop("partition_field")
    apply(db, operator, tmp_path, adb, task("to_adb", "big_spenders", target, False))


def _permissions(db: Database) -> list[str]:
    """Every write permission recorded, as `login table`."""
    with db.uow() as uow:
        rows = uow.session.scalars(select(t.TablePermission))
        return [f"{p.user.login} {p.table_name}" for p in rows]
