"""Permission requests, write permissions and the audit log over HTTP: what each person may do,
the codes a refused step answers with, and that the audit log keeps no secret."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tagport.domain.catalog import Role
from tagport.domain.documents import parse_spec
from tagport.services import catalog
from tagport.services.permissions import Actor
from tagport.store import audit
from tagport.store import tables as t
from tagport.store.db import Database
from tests.e2e.api.conftest import MakeClient

REQUESTS, GRANTS, AUDIT = "/api/v1/permission-requests", "/api/v1/grants", "/api/v1/audit"
TABLE = {"datasource": "crm_mysql", "table": "seed_users"}


@pytest.fixture
def people(client: MakeClient, catalogued: Database) -> dict[str, httpx.Client]:
    """bob (wants to write), carol (owns crm_mysql, not a super admin), dave (neither), root."""
    made = {login: client(login) for login in ("bob", "carol", "dave")}
    made["root"] = client("root", (Role.SUPER_ADMIN,))
    with catalogued.uow() as uow:
        carol = uow.session.scalar(select(t.User.id).where(t.User.login == "carol"))
        uow.session.execute(
            update(t.DataSource).where(t.DataSource.name == "crm_mysql").values(owner_id=carol)
        )
        uow.commit()
    return made


def ask(who: httpx.Client, **fields: Any) -> httpx.Response:
    return who.post(REQUESTS, json=TABLE | {"reason": "daily CRM sync", "days": 30} | fields)


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    return body


def test_a_request_is_decided_once_by_the_data_source_owner(
    people: dict[str, httpx.Client],
) -> None:
    bob, carol, dave = people["bob"], people["carol"], people["dave"]
    made = ask(bob)
    assert made.status_code == 201, made.text
    first = made.json()
    assert (first["status"], first["user"], first["schema"], first["days"]) == (
        "pending",
        "bob",
        "",
        30,
    )
    assert problem(ask(bob), 409)["code"] == "permission.request_pending"

    inbox = carol.get(REQUESTS, params={"to_approve": "true", "status": "pending"}).json()
    assert [r["id"] for r in inbox["items"]] == [first["id"]] and inbox["total"] == 1
    assert dave.get(REQUESTS, params={"to_approve": "true"}).json()["total"] == 0
    assert problem(dave.get(f"{REQUESTS}/{first['id']}"), 403)["code"] == "permission.denied"
    assert problem(dave.post(f"{REQUESTS}/{first['id']}/approve"), 403)
    assert problem(carol.post(f"{REQUESTS}/{first['id']}/withdraw"), 403)

    no_comment = problem(carol.post(f"{REQUESTS}/{first['id']}/reject", json={}), 422)
    assert [e["path"] for e in no_comment["errors"]] == ["$.comment"]
    blank = problem(carol.post(f"{REQUESTS}/{first['id']}/reject", json={"comment": "  "}), 422)
    assert [e["path"] for e in blank["errors"]] == ["$.comment"]

    approved = carol.post(f"{REQUESTS}/{first['id']}/approve", json={"comment": "ok"})
    assert approved.status_code == 200, approved.text
    assert {k: approved.json()[k] for k in ("status", "decided_by", "comment")} == {
        "status": "approved",
        "decided_by": "carol",
        "comment": "ok",
    }
    for step, body in [("reject", {"comment": "too late"}), ("approve", None), ("withdraw", None)]:
        who = bob if step == "withdraw" else carol
        late = problem(who.post(f"{REQUESTS}/{first['id']}/{step}", json=body), 409)
        assert late["code"] == "permission.request_not_pending"
        assert late["detail"] == f"cannot {step}: the request is approved"
    assert bob.get(f"{REQUESTS}/{first['id']}").json() == approved.json()


def test_rejected_and_withdrawn_requests_say_so_and_grant_nothing(
    people: dict[str, httpx.Client],
) -> None:
    bob, carol = people["bob"], people["carol"]
    first = ask(bob).json()["id"]
    rejected = carol.post(f"{REQUESTS}/{first}/reject", json={"comment": "use staging"})
    assert (rejected.json()["status"], rejected.json()["comment"]) == ("rejected", "use staging")
    until = (date.today() + timedelta(days=10)).isoformat()
    second = ask(bob, days=None, until=until).json()
    assert second["days"] == 10
    assert bob.post(f"{REQUESTS}/{second['id']}/withdraw").json()["status"] == "withdrawn"
    mine = bob.get(REQUESTS, params={"size": 1}).json()
    assert (mine["total"], [r["id"] for r in mine["items"]]) == (2, [second["id"]])
    following = bob.get(REQUESTS, params={"size": 1, "after": mine["next_cursor"]}).json()
    assert [r["id"] for r in following["items"]] == [first]
    assert bob.get(REQUESTS, params={"status": "rejected"}).json()["total"] == 1
    assert bob.get(GRANTS).json()["total"] == 0


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"days": 8}, "$.days"),
        ({"days": None}, "$.days"),
        ({"until": date.today().isoformat(), "days": None}, "$.until"),
        ({"until": (date.today() + timedelta(days=400)).isoformat(), "days": None}, "$.until"),
        ({"days": 10**30}, "$.days"),
        ({"reason": ""}, "$.reason"),
        ({"table": "x" * 129}, "$.table"),
        ({"datasource": "crm\x00"}, "$.datasource"),
    ],
)
def test_a_request_asks_for_a_known_period_of_a_named_table(
    people: dict[str, httpx.Client], fields: dict[str, Any], path: str
) -> None:
    refused = problem(ask(people["bob"], **fields), 422)
    assert path in [e["path"] for e in refused["errors"]]


def test_unknown_things_are_not_found(people: dict[str, httpx.Client]) -> None:
    bob = people["bob"]
    assert problem(ask(bob, datasource="nowhere"), 404)["code"] == "not_found"
    assert problem(bob.get(f"{REQUESTS}/{2**31 - 1}"), 404)
    assert problem(bob.post(f"{GRANTS}/{2**31 - 1}/return"), 404)
    assert problem(bob.get(f"{REQUESTS}/{2**31}"), 422)


def _approved(people: dict[str, httpx.Client], **fields: Any) -> dict[str, Any]:
    request_id = ask(people["bob"], **fields).json()["id"]
    assert people["carol"].post(f"{REQUESTS}/{request_id}/approve").status_code == 200
    [grant] = people["bob"].get(GRANTS, params={"status": "active"}).json()["items"]
    return dict(grant)


def test_grants_are_listed_to_their_holder_and_the_owner_and_returned_once(
    people: dict[str, httpx.Client],
) -> None:
    bob, carol, dave, root = people["bob"], people["carol"], people["dave"], people["root"]
    grant = _approved(people, days=7)
    assert (grant["source"], grant["status"], grant["expiring_soon"]) == ("request", "active", True)
    assert bob.get(GRANTS, params={"expiring": "true"}).json()["total"] == 1
    assert carol.get(GRANTS).json()["total"] == 0  # her own: none
    assert [g["user"] for g in carol.get(GRANTS, params={"scope": "all"}).json()["items"]] == [
        "bob"
    ]
    assert dave.get(GRANTS, params={"scope": "all"}).json()["total"] == 0
    assert problem(dave.get(f"{GRANTS}/{grant['id']}"), 403)
    assert problem(carol.post(f"{GRANTS}/{grant['id']}/return"), 403)

    returned = bob.post(f"{GRANTS}/{grant['id']}/return")
    assert returned.status_code == 200, returned.text
    assert (returned.json()["status"], returned.json()["expiring_soon"]) == ("returned", False)
    again = problem(bob.post(f"{GRANTS}/{grant['id']}/return"), 409)
    assert again["code"] == "permission.not_active"
    assert bob.get(GRANTS, params={"expiring": "true"}).json()["total"] == 0
    assert bob.get(GRANTS, params={"status": "returned"}).json()["total"] == 1

    direct = {"user": "dave"} | TABLE
    assert problem(dave.post(GRANTS, json=direct), 403)["code"] == "permission.denied"
    made = root.post(GRANTS, json=direct | {"days": 90})
    assert made.status_code == 201, made.text
    assert (made.json()["user"], made.json()["source"], made.json()["status"]) == (
        "dave",
        "grant",
        "active",
    )
    assert dave.get(f"{GRANTS}/{made.json()['id']}").json() == made.json()
    everyone = root.get(GRANTS, params={"scope": "all", "datasource": "crm_mysql"}).json()
    assert sorted(g["user"] for g in everyone["items"]) == ["bob", "dave"]
    assert root.get(GRANTS, params={"scope": "all", "user": "dave"}).json()["total"] == 1


def test_the_audit_log_is_for_super_admins_newest_first_with_before_and_after(
    people: dict[str, httpx.Client],
) -> None:
    bob, root = people["bob"], people["root"]
    grant = _approved(people, days=30)
    bob.post(f"{GRANTS}/{grant['id']}/return", headers={"X-Request-Id": "give-back"})
    refused = problem(bob.get(AUDIT), 403)
    assert refused["detail"] == "bob may not read the audit log: only a super admin may"

    changes = root.get(AUDIT, params={"kind": "TablePermission", "key": str(grant["id"])}).json()
    assert [e["action"] for e in changes["items"]] == ["updated", "created"]
    returned, created = changes["items"]
    assert (returned["actor"], returned["origin"], returned["request_id"]) == (
        "bob",
        "127.0.0.1",
        "give-back",
    )
    assert returned["before"] == {"returned_at": None}
    assert returned["after"]["returned_at"] is not None
    assert (created["actor"], created["before"], created["after"]["source"]) == (
        "carol",
        None,
        "request",
    )

    decided = root.get(AUDIT, params={"actor": "carol", "action": "updated"}).json()
    assert [e["kind"] for e in decided["items"]] == ["PermissionRequest"]
    assert decided["items"][0]["after"]["status"] == "approved"

    walked, after = [], None
    while True:
        page = root.get(AUDIT, params={"size": 2} | ({"after": after} if after else {})).json()
        walked += [e["id"] for e in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert walked == sorted(walked, reverse=True) and len(walked) == page["total"]

    since = returned["at"]
    later = root.get(AUDIT, params={"since": since}).json()
    assert [e["id"] for e in later["items"]] == [returned["id"]]
    earlier = root.get(AUDIT, params={"until": since, "kind": "TablePermission"}).json()
    assert [e["id"] for e in earlier["items"]] == [created["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-30T08:00:00"},  # no time zone
        {"until": "0001-01-01T00:00:00+14:00"},
        {"action": "renamed"},
        {"sort": "actor"},
        {"after": "not a cursor"},
        {"after": base64.urlsafe_b64encode(json.dumps(["yesterday", 1]).encode()).decode()},
        {"after": base64.urlsafe_b64encode(json.dumps([None, 2**70]).encode()).decode()},
        {"after": base64.urlsafe_b64encode(json.dumps([5, 2**40]).encode()).decode(), "sort": "id"},
        {"key": "k\x00"},
    ],
)
def test_a_meaningless_audit_query_is_refused_not_failed(
    client: MakeClient, params: dict[str, str]
) -> None:
    root = client("root", (Role.SUPER_ADMIN,))
    assert problem(root.get(AUDIT, params=params), 422)["code"] == "invalid_input"


def test_no_password_or_token_reaches_the_audit_log(
    client: MakeClient, catalogued: Database, operator: Actor
) -> None:
    password, changed = "s3cret-Pa55word", "n3w-s3cret-Pa55word"
    document = {
        "kind": "DataSource",
        "name": "vault_pg",
        "type": "postgresql",
        "host": "127.0.0.1",
        "database": "test",
        "username": "postgres",
        "owner": "operator",
    }
    with audit.acting(audit.Origin("operator", "203.0.113.9")):
        for secret in (password, changed):
            spec = parse_spec(document | {"password": secret}, "test")
            catalog.apply(catalogued, operator, [catalog.Document(spec, "test")])
    root = client("root", (Role.SUPER_ADMIN,))
    token = root.post("/api/v1/tokens", json={"name": "ci"}).json()["token"]

    entries = root.get(AUDIT, params={"kind": "DataSource", "key": "vault_pg"}).json()["items"]
    assert [(e["action"], e["origin"]) for e in entries] == [
        ("updated", "203.0.113.9"),
        ("created", "203.0.113.9"),
    ]
    assert entries[0]["before"]["password_encrypted"] == "(set)"
    assert entries[1]["after"]["password_encrypted"] == "(set)"
    with catalogued.uow() as uow:
        rows = uow.session.execute(select(t.AuditEntry.before, t.AuditEntry.after)).all()
    logged = json.dumps([list(row) for row in rows])
    for secret in (password, changed, token, token.removeprefix("tp_")):
        assert secret not in logged
