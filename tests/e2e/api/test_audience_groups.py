"""Audience groups over HTTP on demo data: the three kinds created and edited, estimates,
members page by page, and import files uploaded, checked and loaded."""

from __future__ import annotations

from datetime import date

import pytest

from tagport.config import Settings
from tagport.services import audience_files
from tagport.services.permissions import Actor
from tagport.services.warehouse import DemoResult, build_demo
from tagport.store.db import Database
from tests.e2e.api.conftest import MakeClient

GROUPS = "/api/v1/audience-groups"
HANGZHOU = {"all": [{"tag": "city", "op": "=", "value": "571"}]}


@pytest.fixture
def demo(settings: Settings, db: Database, operator: Actor) -> DemoResult:
    """2,000 demo users over two days, their catalog (project tag_prod, owner operator)."""
    return build_demo(settings, db, operator, 2000, date.today())


def test_estimate_and_members_page_through_the_audience(
    client: MakeClient, demo: DemoResult
) -> None:
    admin = client("operator")
    day = demo.days[-1].isoformat()
    estimated = admin.post(f"{GROUPS}/big_spenders/estimate", json={"bizdate": day})
    assert estimated.status_code == 200, estimated.text
    size = estimated.json()["size"]
    assert size == demo.audiences["big_spenders"] > 6
    assert admin.get(f"{GROUPS}/big_spenders").json()["estimated_size"] == size

    first = admin.get(f"{GROUPS}/big_spenders/members", params={"bizdate": day, "size": 3})
    second = admin.get(
        f"{GROUPS}/big_spenders/members", params={"bizdate": day, "size": 3, "page": 2}
    )
    ids = first.json()["ids"] + second.json()["ids"]
    assert ids == sorted(ids) and len(set(ids)) == 6
    assert first.json()["has_more"] is True
    everyone = admin.get(f"{GROUPS}/big_spenders/members", params={"bizdate": day, "size": 9999})
    assert len(everyone.json()["ids"]) == size and everyone.json()["has_more"] is False

    for params in [{"bizdate": "yesterday"}, {"bizdate": day, "page": 0}, {}]:
        assert admin.get(f"{GROUPS}/big_spenders/members", params=params).status_code == 422
    assert admin.post(f"{GROUPS}/nope/estimate", json={"bizdate": day}).status_code == 404


def test_rule_and_sql_groups_are_made_by_members_and_listed_by_kind(
    client: MakeClient, demo: DemoResult
) -> None:
    admin = client("operator")
    alice, bob = client("alice"), client("bob")
    admin.post("/api/v1/projects/tag_prod/members", json={"login": "alice"})
    rule = {"code": "hz", "name": "Hangzhou", "entity": "user", "rule": HANGZHOU}
    made = alice.post(GROUPS, json=rule)
    assert made.status_code == 201, made.text
    assert (made.json()["owner"], made.json()["update"]) == ("alice", "periodic")
    day = demo.days[-1].isoformat()
    assert alice.post(f"{GROUPS}/hz/estimate", json={"bizdate": day}).json()["size"] > 0

    refused = bob.put(f"{GROUPS}/hz", json=rule | {"owner": "alice", "name": "Mine"})
    assert refused.status_code == 403
    assert "only its owner who is a member of its project" in refused.json()["detail"]
    assert bob.post(GROUPS, json=rule | {"code": "hz2"}).status_code == 403

    sql = "SELECT user_id FROM tag_prod.user_orders WHERE ds = '${bizdate}'"
    sql_group = {"name": "Buyers", "entity": "user", "owner": "alice"}
    edited = alice.put(f"{GROUPS}/hz", json=sql_group | {"sql": sql})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["sql"], "rule" in edited.json()) == (sql, False)
    bad = alice.put(f"{GROUPS}/hz", json=sql_group | {"sql": "DROP TABLE x"})
    assert bad.status_code == 422
    assert [e["path"] for e in bad.json()["errors"]] == ["$.sql"]

    listed = admin.get(GROUPS, params={"kind": "sql", "sort": "code"}).json()
    assert [g["code"] for g in listed["items"]] == ["big_spenders", "hz"]
    assert admin.get(GROUPS, params={"owner": "alice"}).json()["total"] == 1
    assert admin.get(GROUPS, params={"entity": "user"}).json()["total"] == 4


def test_an_uploaded_file_becomes_the_groups_members_and_a_bad_one_changes_nothing(
    client: MakeClient, demo: DemoResult, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = client("operator")
    day = demo.days[-1].isoformat()
    admin.post(GROUPS, json={"code": "hz", "name": "Hangzhou", "entity": "user", "rule": HANGZHOU})

    def upload(name: str, content: bytes) -> tuple[int, dict[str, object]]:
        answer = admin.post(f"{GROUPS}/hz/import", files={"file": (name, content)})
        return answer.status_code, answer.json()

    assert upload("ids.txt", b"5\n7\n7\n") == (
        200,
        {"code": "hz", "ids": 2, "lines": 3, "duplicates": 1},
    )
    group = admin.get(f"{GROUPS}/hz").json()
    assert group["import"].startswith(str(settings.home / "imports"))
    members = admin.get(f"{GROUPS}/hz/members", params={"bizdate": day}).json()
    assert members["ids"] == [5, 7]

    status, problem = upload("ids.csv", b"user_id\n1\nseven\n")
    assert status == 422
    assert problem["errors"] == [
        {
            "path": "$.file",
            "message": "audience group hz: file: line 3: 'seven' is not a bigint ID",
        }
    ]
    assert upload("ids.exe", b"1\n")[0] == 422
    monkeypatch.setattr(audience_files, "MAX_UPLOAD_BYTES", 4)
    status, problem = upload("ids.txt", b"1\n2\n3\n")
    assert (status, problem["errors"][0]["path"]) == (422, "$.file")
    assert admin.get(f"{GROUPS}/hz/members", params={"bizdate": day}).json()["ids"] == [5, 7]
    assert not [p for p in (settings.home / "imports").iterdir() if p.name.startswith(".")]


def test_only_who_may_change_a_group_uploads_its_file(client: MakeClient, demo: DemoResult) -> None:
    refused = client("bob").post(
        f"{GROUPS}/crm_seed_users/import", files={"file": ("ids.txt", b"1\n")}
    )
    assert refused.status_code == 403
    assert "bob may not change audience group crm_seed_users" in refused.json()["detail"]


def test_a_group_cannot_name_a_server_file_over_http(
    client: MakeClient, demo: DemoResult, settings: Settings
) -> None:
    admin = client("operator")
    secret = settings.home / "secret.key"
    stolen = {"code": "leak", "name": "Leak", "entity": "user", "import": str(secret)}
    refused = admin.post(GROUPS, json=stolen)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "path": "$.import",
            "message": "AudienceGroup leak: import: upload the file with "
            "POST /api/v1/audience-groups/leak/import",
        }
    ]
    seeds = admin.get(f"{GROUPS}/crm_seed_users").json()
    kept = {k: seeds[k] for k in ("name", "entity", "owner", "import")}
    assert (
        admin.put(f"{GROUPS}/crm_seed_users", json=kept | {"update": "manual"}).status_code == 200
    )
    moved = admin.put(f"{GROUPS}/crm_seed_users", json=kept | {"import": str(secret)})
    assert moved.status_code == 422
