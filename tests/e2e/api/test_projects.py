"""Projects over HTTP: the catalog round trip every kind shares, members by login, and who
may change them."""

from __future__ import annotations

from tagport.store.db import Database
from tests.e2e.api.conftest import MakeClient

PROJECTS = "/api/v1/projects"


def test_a_project_is_created_listed_changed_and_deleted_each_answer_its_new_state(
    client: MakeClient,
) -> None:
    admin = client("operator")
    client("alice")
    made = admin.post(PROJECTS, json={"name": "sales", "type": "tag", "members": ["alice"]})
    assert made.status_code == 201, made.text
    assert made.json() | {"created_at": "", "updated_at": ""} == {
        "name": "sales",
        "type": "tag",
        "members": ["alice"],
        "write_through": False,
        "created_at": "",
        "updated_at": "",
    }
    admin.post(PROJECTS, json={"name": "finance"})

    found = admin.get(PROJECTS, params={"search": "SAL"}).json()
    assert (found["total"], [p["name"] for p in found["items"]]) == (1, ["sales"])
    mine = admin.get(PROJECTS, params={"member": "alice", "sort": "-name"}).json()
    assert [p["name"] for p in mine["items"]] == ["sales"]
    paged = admin.get(PROJECTS, params={"size": 1, "sort": "name"}).json()
    assert (paged["total"], paged["items"][0]["name"]) == (2, "finance")
    assert paged["next_cursor"] is not None

    changed = admin.put(f"{PROJECTS}/sales", json={"type": "tag", "write_through": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["write_through"], changed.json()["members"]) == (True, [])
    assert admin.get(f"{PROJECTS}/sales").json()["write_through"] is True

    assert admin.delete(f"{PROJECTS}/finance").status_code == 204
    assert admin.get(f"{PROJECTS}/finance").status_code == 404


def test_members_are_added_and_removed_by_login(client: MakeClient) -> None:
    admin = client("operator")
    client("alice"), client("bob")
    admin.post(PROJECTS, json={"name": "sales"})
    added = admin.post(f"{PROJECTS}/sales/members", json={"login": "bob"})
    assert added.json()["members"] == ["bob"]
    both = admin.put(f"{PROJECTS}/sales/members", json={"members": ["bob", "alice"]})
    assert both.json()["members"] == ["alice", "bob"]
    left = admin.delete(f"{PROJECTS}/sales/members/bob")
    assert left.json()["members"] == ["alice"]
    nobody = admin.post(f"{PROJECTS}/sales/members", json={"login": "ghost"})
    assert nobody.status_code == 422
    assert nobody.json()["errors"] == [
        {"path": "$.members", "message": "Project sales: members: user 'ghost' does not exist"}
    ]


def test_a_member_may_not_change_the_project_and_is_told_who_may(client: MakeClient) -> None:
    admin = client("operator")
    alice = client("alice")
    admin.post(PROJECTS, json={"name": "sales", "members": ["alice"]})
    refused = alice.post(f"{PROJECTS}/sales/members", json={"login": "alice"})
    assert refused.status_code == 403
    assert "only a super admin may" in refused.json()["detail"]
    assert alice.delete(f"{PROJECTS}/sales").status_code == 403
    assert alice.get(f"{PROJECTS}/sales").json()["members"] == ["alice"]


def test_every_problem_of_a_document_comes_back_at_once(client: MakeClient, db: Database) -> None:
    admin = client("operator")
    bad = admin.post(PROJECTS, json={"name": "Bad Name!", "type": "nope", "colour": "red"})
    assert bad.status_code == 422
    paths = sorted(e["path"] for e in bad.json()["errors"])
    assert paths == ["$.colour", "$.name", "$.type"]
    admin.post(PROJECTS, json={"name": "sales"})
    again = admin.post(PROJECTS, json={"name": "sales"})
    assert (again.status_code, again.json()["code"]) == (409, "catalog.exists")
    renamed = admin.put(f"{PROJECTS}/sales", json={"name": "other"})
    assert renamed.status_code == 422
    assert admin.put(f"{PROJECTS}/ghost", json={}).status_code == 404
    assert admin.get(PROJECTS, params={"sort": "colour"}).status_code == 422
