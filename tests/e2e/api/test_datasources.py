"""Data sources over HTTP: a write-only password, the connection test and the table pickers'
browse endpoints against the real PostgreSQL and MariaDB, and which ones a user may target."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pymysql
import pytest

from tagport.config import Settings
from tagport.domain.catalog import Role
from tagport.services.warehouse import open_warehouse
from tests.e2e.api.conftest import MakeClient
from tests.integration.support import MYSQL_DATASOURCE, PG_DATASOURCE

SOURCES = "/api/v1/datasources"
SECRET = "s3cret-Pa55word"


def _document(template: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {k: v for k, v in template.items() if k != "kind"} | fields


@pytest.fixture
def pg_tables(pg_url: str) -> Iterator[str]:
    """A schema of the PostgreSQL test database holding `hz_vip` and `other`."""
    schema = f"b_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".hz_vip (user_id bigint PRIMARY KEY, city text)')
        conn.execute(f'CREATE TABLE "{schema}".other (x int)')
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def mysql_database(mysql_params: dict[str, Any]) -> Iterator[str]:
    """A MariaDB database holding `hz_vip` and `other`."""
    name = f"b_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(**mysql_params, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"CREATE TABLE `{name}`.hz_vip (user_id bigint PRIMARY KEY, city text)")
        cur.execute(f"CREATE TABLE `{name}`.other (x int)")
    yield name
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")
    admin.close()


def test_the_password_is_accepted_but_never_returned_not_even_to_its_owner(
    client: MakeClient, pg_url: str, secret: Callable[[str], str]
) -> None:
    secret(SECRET)  # nor logged, nor audited
    owner = client("dsa", (Role.DATASOURCE_ADMIN,))
    made = owner.post(SOURCES, json=_document(PG_DATASOURCE, owner="dsa", password=SECRET))
    assert made.status_code == 201, made.text
    assert made.json()["password_set"] is True
    answers = [
        made,
        owner.get(f"{SOURCES}/pg"),
        owner.get(SOURCES),
        owner.put(f"{SOURCES}/pg", json=_document(PG_DATASOURCE, owner="dsa", description="CRM")),
        client("alice").get(f"{SOURCES}/pg"),
    ]
    for answer in answers:
        assert answer.status_code == 200 or answer.status_code == 201, answer.text
        assert SECRET not in answer.text
        assert "password" not in answer.text.replace("password_set", "")
    assert answers[3].json()["password_set"] is True  # an update without one keeps it
    assert answers[3].json()["description"] == "CRM"
    nopass = owner.post(SOURCES, json=_document(MYSQL_DATASOURCE, owner="dsa"))
    assert nopass.json()["password_set"] is False


def test_only_the_owning_data_source_admin_may_change_it_and_is_named(
    client: MakeClient, pg_url: str
) -> None:
    client("dsa", (Role.DATASOURCE_ADMIN,)).post(
        SOURCES, json=_document(PG_DATASOURCE, owner="dsa")
    )
    alice = client("alice")
    refused = alice.put(f"{SOURCES}/pg", json=_document(PG_DATASOURCE, owner="dsa", port=5433))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "alice may not change data source pg: only its owner who is a data source admin "
        "or a super admin may"
    )
    assert alice.post(SOURCES, json=_document(MYSQL_DATASOURCE, owner="alice")).status_code == 403
    assert client("operator").get(f"{SOURCES}/pg").json()["port"] == 5432


def test_a_connection_test_reports_the_version_or_why_it_failed(
    client: MakeClient, pg_url: str, mysql_params: dict[str, Any]
) -> None:
    admin = client("operator")
    admin.post(SOURCES, json=_document(PG_DATASOURCE))
    admin.post(SOURCES, json=_document(MYSQL_DATASOURCE))
    admin.post(SOURCES, json=_document(PG_DATASOURCE, name="down", port=1))
    pg = admin.post(f"{SOURCES}/pg/test").json()
    assert pg["ok"] is True and pg["server_version"][:1].isdigit(), pg
    my = admin.post(f"{SOURCES}/my/test").json()
    assert my["ok"] is True and "MariaDB" in my["server_version"], my
    down = admin.post(f"{SOURCES}/down/test")
    assert down.status_code == 200
    assert (down.json()["ok"], down.json()["server_version"]) == (False, None)
    assert "127.0.0.1" in down.json()["reason"] or "connect" in down.json()["reason"].lower()
    assert admin.post(f"{SOURCES}/ghost/test").status_code == 404
    unreachable = admin.get(f"{SOURCES}/down/schemas")
    assert unreachable.status_code in (502, 503)
    assert "Connection refused" in unreachable.json()["detail"]


def test_the_pickers_browse_postgresql_schemas_tables_and_columns(
    client: MakeClient, pg_tables: str
) -> None:
    admin = client("operator")
    admin.post(SOURCES, json=_document(PG_DATASOURCE))
    member = client("alice")
    assert pg_tables in member.get(f"{SOURCES}/pg/schemas").json()
    tables = member.get(f"{SOURCES}/pg/tables", params={"schema": pg_tables})
    assert tables.json() == ["hz_vip", "other"]
    found = member.get(f"{SOURCES}/pg/tables", params={"schema": pg_tables, "search": "VIP"})
    assert found.json() == ["hz_vip"]
    described = member.get(f"{SOURCES}/pg/tables/hz_vip/columns", params={"schema": pg_tables})
    assert described.status_code == 200, described.text
    table = described.json()
    assert (table["schema"], table["primary_key"]) == (pg_tables, ["user_id"])
    assert [(c["name"], c["nullable"]) for c in table["columns"]] == [
        ("user_id", False),
        ("city", True),
    ]
    missing = member.get(f"{SOURCES}/pg/tables/nope/columns", params={"schema": pg_tables})
    assert missing.status_code == 404


def test_the_pickers_browse_a_mariadb_database(client: MakeClient, mysql_database: str) -> None:
    admin = client("operator")
    admin.post(SOURCES, json=_document(MYSQL_DATASOURCE, database=mysql_database))
    assert mysql_database in admin.get(f"{SOURCES}/my/schemas").json()
    assert admin.get(f"{SOURCES}/my/tables", params={"search": "hz"}).json() == ["hz_vip"]
    table = admin.get(f"{SOURCES}/my/tables/hz_vip/columns").json()
    assert [c["name"] for c in table["columns"]] == ["user_id", "city"]
    assert table["primary_key"] == ["user_id"]


def test_a_project_is_a_target_only_for_its_members_when_it_writes_through(
    client: MakeClient,
) -> None:
    admin = client("operator")
    client("alice")
    for name, write_through, members in [
        ("wt_joined", True, ["alice"]),
        ("ro_joined", False, ["alice"]),
        ("wt_other", True, []),
    ]:
        project = {"name": name, "write_through": write_through, "members": members}
        assert admin.post("/api/v1/projects", json=project).status_code == 201
        source = {"name": f"ds_{name}", "type": "project", "project": name}
        assert admin.post(SOURCES, json=source).status_code == 201, source
    admin.post(SOURCES, json=_document(PG_DATASOURCE))
    usable = client("alice").get(SOURCES, params={"usable_as_target": True, "sort": "name"})
    assert [d["name"] for d in usable.json()["items"]] == ["ds_wt_joined", "pg"]
    others = client("alice").get(SOURCES, params={"usable_as_target": False, "sort": "name"})
    assert [d["name"] for d in others.json()["items"]] == ["ds_ro_joined", "ds_wt_other"]
    projects = admin.get(SOURCES, params={"type": "project", "project": "wt_other"}).json()
    assert [d["name"] for d in projects["items"]] == ["ds_wt_other"]


def test_a_project_data_source_shows_its_own_project_to_its_members_only(
    client: MakeClient, settings: Settings
) -> None:
    """The warehouse file holds every project's tables: a project data source must not be a
    window on another project's, nor on its own for someone who has not joined it."""
    admin = client("operator")
    client("alice")
    for name in ("mine", "theirs"):
        project = {
            "name": name,
            "write_through": True,
            "members": ["alice"] if name == "mine" else [],
        }
        assert admin.post("/api/v1/projects", json=project).status_code == 201
        source = {"name": f"ds_{name}", "type": "project", "project": name}
        assert admin.post(SOURCES, json=source).status_code == 201
    house = open_warehouse(settings)
    for table in ("mine.scores", "theirs.secret_scores"):
        one = pa.table({"uid": [1]})
        house.write_batches(
            table, pa.RecordBatchReader.from_batches(one.schema, one.to_batches()), replace=True
        )
    alice = client("alice")
    assert alice.get(f"{SOURCES}/ds_mine/schemas").json() == ["mine"]
    assert alice.get(f"{SOURCES}/ds_mine/tables").json() == ["scores"]
    other = alice.get(f"{SOURCES}/ds_mine/tables", params={"schema": "theirs"})
    assert other.status_code == 422 and "has one: mine" in other.text
    columns = alice.get(
        f"{SOURCES}/ds_mine/tables/secret_scores/columns", params={"schema": "theirs"}
    )
    assert columns.status_code == 422
    for path in ("schemas", "tables", "tables/secret_scores/columns"):
        refused = alice.get(f"{SOURCES}/ds_theirs/{path}")
        assert refused.status_code == 403, path
        assert "only a member of project theirs" in refused.text
    assert alice.post(f"{SOURCES}/ds_theirs/test").status_code == 403
    assert admin.get(f"{SOURCES}/ds_theirs/tables").json() == ["secret_scores"]
