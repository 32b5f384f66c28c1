"""SQL a person writes reaches only the warehouse tables they may read (issue 15).

Tried as a plain member would: hostile SQL audiences are refused at save and never run; the
engine itself refuses the same SQL when the allow-list is bypassed (a canary file's content
never appears); members cannot estimate, page or export an audience reading a project they are
not in; `warehouse sql` is for super admins and cannot read the secret key either.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml

from tagport.cli.main import run
from tagport.config import Settings
from tagport.domain.catalog import AudienceGroupSpec
from tagport.domain.rules import parse_rule
from tagport.domain.tasks import TagOutput
from tagport.errors import InvalidInput, NotFound, PermissionDenied, TagportError
from tagport.services import catalog, config_as_code, publication, warehouse
from tagport.services.catalog import Document
from tagport.services.permissions import Actor
from tagport.services.users import actor_for
from tagport.store.db import Database
from tagport.targets.base import ColumnInfo, TableInfo
from tagport.warehouse import duckdb as duckdb_warehouse
from tagport.warehouse.base import ExportColumn
from tagport.warehouse.duckdb import DuckDBWarehouse
from tests.integration.support import describe_as
from tests.unit.warehouse.test_confine import HOSTILE

DAY = date(2024, 5, 2)
DS = "20240502"
CATALOG = """
kind: User
name: alice
display_name: Alice
---
kind: User
name: bob
display_name: Bob
---
kind: Project
name: tag_prod
type: tag
members: [alice, bob]
---
kind: Project
name: tag_secret
type: tag
members: [alice]
---
kind: Entity
code: user
name: User
project: tag_prod
id_field: user_id
id_type: bigint
---
kind: Tag
code: age
name: Age
entity: user
value_type: long
source: {table: tag_prod.user_profile, key: user_id, column: age}
---
kind: Tag
code: salary
name: Salary
entity: user
value_type: long
source: {table: tag_secret.salaries, key: user_id, column: salary}
---
kind: AudienceGroup
code: rich
name: Rich (SQL)
entity: user
owner: alice
sql: "SELECT user_id FROM tag_secret.salaries WHERE ds = '${bizdate}' AND salary > 100"
---
kind: AudienceGroup
code: rich_rule
name: Rich (rule)
entity: user
owner: alice
rule: {tag: salary, op: ">", value: 100}
---
kind: AudienceGroup
code: adults
name: Adults
entity: user
owner: bob
sql: "SELECT user_id FROM tag_prod.user_profile WHERE ds = '${bizdate}' AND age >= 18"
"""


def _table(**columns: list[Any]) -> pa.RecordBatchReader:
    table = pa.table(columns)
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings()


@pytest.fixture
def users(db: Database, operator: Actor, tmp_path: Path, settings: Settings) -> dict[str, Actor]:
    """The catalog above and its warehouse tables; the actors by login."""
    file = tmp_path / "catalog.yaml"
    file.write_text(CATALOG)
    documents, problems = config_as_code.read_documents([file])
    catalog.apply(db, operator, documents, problems=problems)
    house = DuckDBWarehouse(settings.warehouse_path)
    house.write_batches(
        "tag_prod.user_profile",
        _table(user_id=[1, 2, 3], age=[17, 30, 45], ds=[DS] * 3),
        replace=True,
    )
    house.write_batches(
        "tag_secret.salaries",
        _table(user_id=[1, 2, 3], salary=[50, 500, 5000], ds=[DS] * 3),
        replace=True,
    )
    return {login: actor_for(db, login) for login in ("alice", "bob")}


def _sql_audience(code: str, sql: str, owner: str = "bob") -> AudienceGroupSpec:
    return AudienceGroupSpec(code=code, name=code, entity="user", owner=owner, sql=sql)


def test_hostile_sql_audiences_are_refused_at_save_and_none_runs(
    db: Database, users: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_engine(*args: object, **kwargs: object) -> None:
        raise AssertionError("saving an audience group must not run its SQL")

    monkeypatch.setattr(duckdb_warehouse.duckdb, "connect", no_engine)
    for number, (sql, refusal) in enumerate(HOSTILE):
        code = f"hostile_{number}"
        with pytest.raises(InvalidInput) as caught:
            catalog.apply(db, users["bob"], [Document(_sql_audience(code, sql), "test")])
        assert f"sql: {refusal}" in str(caught.value), sql
        with pytest.raises(NotFound):
            catalog.show(db, "AudienceGroup", code)


def test_the_same_sql_is_refused_by_the_engine_itself(tmp_path: Path) -> None:
    """The allow-list bypassed: the warehouse's own connections open no file outside it."""
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-7f3a9 the content nobody may read\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "secret.key").write_text("SECRET-KEY-CANARY\n")
    house = DuckDBWarehouse(home / "warehouse.duckdb")
    house.write_batches("p.t", _table(id=[1, 2]), replace=True)
    out = tmp_path / "out.csv"
    hostile = [
        f"SELECT content FROM read_text('{canary}')",
        f"SELECT * FROM read_csv('{canary}', header=false)",
        f"SELECT content FROM read_blob('{home / 'secret.key'}')",
        f"SELECT * FROM glob('{tmp_path}/*')",
        f"SELECT * FROM '{canary}'",
        f"SELECT * FROM read_parquet('{tmp_path}/*.parquet')",
        f"COPY (SELECT 1) TO '{out}'",
        f"ATTACH '{tmp_path / 'other.db'}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET lock_configuration = false",
        f"SELECT content FROM read_text('{home / 'warehouse.tmp'}/../secret.key')",
        "SELECT content FROM read_text('https://example.com/ids.csv')",
    ]
    for sql in hostile:
        with pytest.raises(TagportError) as caught:
            house.query(sql)
        assert "CANARY" not in str(caught.value), sql
    assert not out.exists() and not (tmp_path / "other.db").exists()
    writing = house.connect(write=True)  # a writing connection is confined the same way
    with writing, pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
        writing.execute(f"SELECT content FROM read_text('{canary}')").fetchall()
    assert house.query("SELECT count(*) AS n FROM p.t").table.to_pylist() == [{"n": 2}]


def test_a_super_admin_cannot_read_the_secret_key_with_warehouse_sql(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init"]) == 0
    key = (home / "secret.key").read_text().strip()
    assert key
    read_key = f"SELECT content FROM read_text('{home / 'secret.key'}')"
    assert run(["warehouse", "sql", read_key]) == 3
    captured = capsys.readouterr()
    assert key not in captured.out + captured.err
    assert "table function read_text" in captured.err
    with pytest.raises(TagportError, match="disabled by configuration") as caught:
        DuckDBWarehouse(home / "warehouse.duckdb").query(read_key)  # past the allow-list
    assert key not in str(caught.value)
    assert run(["user", "add", "bob"]) == 0
    capsys.readouterr()
    assert run(["--as", "bob", "warehouse", "sql", "SELECT 1 AS x"]) == 6
    assert "only a super admin may" in capsys.readouterr().err


def test_a_member_cannot_estimate_page_or_export_what_reads_a_project_they_are_not_in(
    db: Database, users: dict[str, Actor], settings: Settings
) -> None:
    alice, bob = users["alice"], users["bob"]
    assert warehouse.estimate(settings, db, alice, "rich", DAY) == 2
    for code in ("rich", "rich_rule"):
        with pytest.raises(PermissionDenied, match=f"bob may not read audience group {code}"):
            warehouse.estimate(settings, db, bob, code, DAY)
        with pytest.raises(PermissionDenied, match="tag_secret"):
            warehouse.members_page(settings, db, bob, code, DAY)
        with pytest.raises(PermissionDenied, match="tag_secret"):
            warehouse.export_plan(
                db, code, DAY, [], [ExportColumn("id", "user_id")], ["id"], reader="bob"
            )
    # Nor export a tag of a project they cannot read with an audience they can.
    with pytest.raises(PermissionDenied, match="tag_secret"):
        warehouse.export_plan(
            db,
            "adults",
            DAY,
            [TagOutput(tag="salary")],
            [ExportColumn("id", "user_id"), ExportColumn("salary", "salary")],
            ["id"],
            reader="bob",
        )
    assert warehouse.members_page(settings, db, bob, "adults", DAY).ids == [2, 3]


def test_the_allow_list_runs_again_when_the_owner_lost_the_project(
    db: Database, operator: Actor, users: dict[str, Actor], settings: Settings
) -> None:
    project = catalog.show(db, "Project", "tag_secret")[0]
    reduced = project.model_copy(update={"members": []})
    catalog.apply(db, operator, [Document(reduced, "test")])
    with pytest.raises(InvalidInput) as caught:
        warehouse.estimate(settings, db, operator, "rich", DAY)  # a super admin asks
    assert str(caught.value) == (
        "audience group rich: sql: line 1, column 21: table tag_secret.salaries: "
        "the owner may not read project tag_secret"
    )
    with pytest.raises(InvalidInput, match="the owner may not read project tag_secret"):
        warehouse.readiness(settings, db, "rich", DAY)  # a run fails before waiting for tables


def test_the_allow_list_runs_again_for_every_group_a_rule_refers_to(
    db: Database, operator: Actor, users: dict[str, Actor], settings: Settings
) -> None:
    """However deep and however often: `rich`, whose owner lost its project, is refused though
    the rule names `adults` twice after it and a group of its own that refers to `adults`."""

    def rule_group(code: str, rule: object) -> AudienceGroupSpec:
        return AudienceGroupSpec(
            code=code, name=code, entity="user", owner="bob", rule=parse_rule(rule)
        )

    combo = rule_group(
        "combo",
        {"all": [{"audience": c} for c in ("rich", "mid", "adults", "adults")]},
    )
    mid = rule_group("mid", {"not": {"audience": "adults"}})
    project = catalog.show(db, "Project", "tag_secret")[0]
    reduced = project.model_copy(update={"members": []})
    catalog.apply(db, operator, [Document(g, "test") for g in (mid, combo, reduced)])
    with pytest.raises(InvalidInput) as caught:
        warehouse.estimate(settings, db, operator, "combo", DAY)
    assert str(caught.value) == (
        "audience group rich: sql: line 1, column 21: table tag_secret.salaries: "
        "the owner may not read project tag_secret"
    )


def test_errors_from_user_sql_name_the_group_problem_and_row(
    db: Database, operator: Actor, users: dict[str, Actor], settings: Settings
) -> None:
    DuckDBWarehouse(settings.warehouse_path).write_batches(
        "tag_prod.codes", _table(code=["1", "x2", "3"]), replace=True
    )
    specs = [
        _sql_audience("bad_ids", "SELECT code FROM tag_prod.codes"),
        _sql_audience("typo", "SELECT user_id FROM tag_prod.salarie"),
    ]
    catalog.apply(db, operator, [Document(s, "test") for s in specs])
    with pytest.raises(InvalidInput) as caught:
        warehouse.estimate(settings, db, users["bob"], "bad_ids", DAY)
    assert str(caught.value) == (
        "audience group bad_ids: sql: row 2 of its result: 'x2' is not a bigint entity ID"
    )
    with pytest.raises(InvalidInput) as caught:
        warehouse.members_page(settings, db, users["bob"], "typo", DAY)
    message = str(caught.value)
    assert message.startswith("audience group typo: sql: Catalog Error: Table with name salarie")
    assert "tag_secret" not in message and "Did you mean" not in message


def test_the_first_bad_id_is_found_in_the_sql_audiences_result_at_its_bizdate(
    db: Database, operator: Actor, users: dict[str, Actor], settings: Settings
) -> None:
    """The probe that names the first value that is no ID binds the run's bizdate too (the
    other day's bad value, first in the table, is not the one named) and skips NULLs, which
    are no members, not bad IDs."""
    DuckDBWarehouse(settings.warehouse_path).write_batches(
        "tag_prod.day_codes",
        _table(code=["y0", "1", None, "x2", "z3"], ds=["20240501", DS, DS, DS, DS]),
        replace=True,
    )
    sql = "SELECT code FROM tag_prod.day_codes WHERE ds = '${bizdate}'"
    catalog.apply(db, operator, [Document(_sql_audience("day_ids", sql), "test")])
    with pytest.raises(InvalidInput) as caught:
        warehouse.estimate(settings, db, users["bob"], "day_ids", DAY)
    assert str(caught.value) == (
        "audience group day_ids: sql: row 3 of its result: 'x2' is not a bigint entity ID"
    )


def test_the_cli_refuses_a_member_with_exit_code_6(
    db_url: str,
    users: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TAGPORT_DATABASE_URL", db_url)
    for command in ("estimate", "members"):
        args = ["--as", "bob", "audience", command, "rich", "--bizdate", DAY.isoformat()]
        assert run(args) == 6
        assert "bob may not read audience group rich" in capsys.readouterr().err
    assert run(["--as", "alice", "audience", "estimate", "rich", "--bizdate", DAY.isoformat()]) == 0
    assert capsys.readouterr().out.strip() == "2"


def test_publishing_checks_the_owner_may_read_what_the_export_reads(
    db: Database, operator: Actor, users: dict[str, Actor], settings: Settings
) -> None:
    documents = """
kind: Application
name: app
project: tag_prod
services: [audience_offline]
members: [bob]
---
kind: DataSource
name: wh
type: project
project: tag_prod
owner: operator
---
kind: OfflineService
name: bobs_export
application: app
owner: bob
audience: adults
sync_tags: true
tags: [{tag: salary}]
target: {datasource: wh, table: bobs_export}
"""
    docs = [Document(d, "t.yaml") for d in _specs(documents)]
    catalog.apply(db, operator, docs)
    table = TableInfo(
        "tag_prod",
        "bobs_export",
        (ColumnInfo("user_id", "bigint", False), ColumnInfo("salary", "bigint", True)),
        ("user_id",),
    )
    publication.request_publish(db, operator, "bobs_export")
    result = publication.complete_publication(db, "bobs_export", describe_as(table))
    assert (
        "bob may not read audience group adults: it reads project(s) tag_secret, which bob "
        "is not a member of" in result.problems
    )


def _specs(text: str) -> list[Any]:
    from tagport.domain.documents import parse_spec

    return [parse_spec(raw, "t.yaml") for raw in yaml.safe_load_all(text)]
