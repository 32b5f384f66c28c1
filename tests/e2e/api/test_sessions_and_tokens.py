"""Logging in, sessions with CSRF, tokens, problem details and the headers of every answer."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import select

from tagport.domain.catalog import Role
from tagport.services import users
from tagport.services.permissions import Actor
from tagport.store import tables as t
from tagport.store.db import Database
from tests.e2e.api.conftest import MakeClient

PASSWORD = "correct horse battery"


def test_a_password_login_opens_a_session_that_needs_csrf_to_change_anything(
    client: MakeClient, db: Database, operator: Actor, secret: Callable[[str], str]
) -> None:
    secret(PASSWORD)
    client("alice")
    users.set_password(db, operator, "alice", PASSWORD)
    browser = client()
    answer = browser.post("/api/v1/session", json={"login": "alice", "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    csrf = answer.json()["csrf_token"]
    assert browser.get("/api/v1/session").json()["login"] == "alice"

    refused = browser.post("/api/v1/tokens", json={"name": "x"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "auth.csrf"
    made = browser.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    secret(made.json()["token"])
    secret(browser.cookies["tagport_session"])

    assert browser.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert browser.get("/api/v1/session").status_code == 401


def test_wrong_passwords_are_refused_alike_then_rate_limited(
    client: MakeClient, db: Database, operator: Actor
) -> None:
    client("bob")
    users.set_password(db, operator, "bob", PASSWORD)
    anonymous = client()
    for login in ["bob", "nobody"]:
        wrong = anonymous.post("/api/v1/session", json={"login": login, "password": "nope"})
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "wrong login or password"
    for _ in range(4):
        anonymous.post("/api/v1/session", json={"login": "bob", "password": "nope"})
    limited = anonymous.post("/api/v1/session", json={"login": "bob", "password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert limited.headers["content-type"] == "application/problem+json"


def test_a_token_is_shown_once_listed_without_its_value_and_dies_when_revoked(
    client: MakeClient, secret: Callable[[str], str]
) -> None:
    carol = client("carol")
    made = carol.post("/api/v1/tokens", json={"name": "ci", "days": 7})
    assert made.status_code == 201
    token = secret(made.json()["token"])
    assert token.startswith("tp_")
    listed = carol.get("/api/v1/tokens").json()
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("token" not in t for t in listed)
    with httpx.Client(base_url=str(carol.base_url), timeout=30) as script:
        script.headers["Authorization"] = f"Bearer {token}"
        assert script.get("/api/v1/session").json()["login"] == "carol"
        assert carol.delete(f"/api/v1/tokens/{made.json()['id']}").json()["revoked"] is True
        gone = script.get("/api/v1/session")
        assert gone.status_code == 401
        assert gone.json()["code"] == "auth.invalid_token"
        assert gone.headers["www-authenticate"] == "Bearer"


def test_a_token_longer_than_the_cap_is_refused_by_json_path(client: MakeClient) -> None:
    dave = client("dave")
    refused = dave.post("/api/v1/tokens", json={"name": "ci", "days": 3651})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "$.days"
    capped = dave.post("/api/v1/tokens", json={"name": "ci", "days": 400})
    assert capped.status_code == 422
    assert "must be 1 to 365" in capped.json()["detail"]


def test_every_answer_is_a_problem_with_a_request_id_and_security_headers(
    client: MakeClient,
) -> None:
    anonymous = client()
    missing = anonymous.get("/api/v1/users")
    assert missing.status_code == 401
    body = missing.json()
    assert body["type"] == "urn:tagport:problem:auth.required"
    assert body["request_id"] == missing.headers["x-request-id"]
    assert missing.headers["x-content-type-options"] == "nosniff"
    assert missing.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in missing.headers["content-security-policy"]
    nowhere = client("erin").get("/api/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "not_found"
    wrong_method = client("erin").patch("/api/v1/session")  # the console at / must not take it
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "request.method_not_allowed"
    broken = client("erin").post(
        "/api/v1/tokens", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400, broken.text


def test_users_are_found_by_keyword_in_pages(client: MakeClient) -> None:
    admin = client("root", (Role.SUPER_ADMIN,))
    for n in range(5):
        assert admin.post("/api/v1/users", json={"login": f"ann{n}"}).status_code == 201
    first = admin.get("/api/v1/users", params={"search": "ann", "size": 2, "sort": "-login"})
    page = first.json()
    assert page["total"] == 5
    assert [u["login"] for u in page["items"]] == ["ann4", "ann3"]
    after = admin.get(
        "/api/v1/users",
        params={"search": "ann", "size": 2, "sort": "-login", "after": page["next_cursor"]},
    )
    assert [u["login"] for u in after.json()["items"]] == ["ann2", "ann1"]
    member = client("ann0")
    refused = member.post("/api/v1/users", json={"login": "zed"})
    assert refused.status_code == 403
    assert "only a super admin may" in refused.json()["detail"]
    bad = admin.post("/api/v1/users", json={"login": "Not A Login"})
    assert bad.status_code == 422, bad.text


def test_a_change_is_audited_as_the_caller_from_their_address_and_request(
    client: MakeClient, db: Database
) -> None:
    admin = client("root", (Role.SUPER_ADMIN,))
    made = admin.post("/api/v1/users", json={"login": "fred"}, headers={"X-Request-Id": "req-42"})
    assert made.status_code == 201
    with db.uow() as uow:
        entry = uow.session.scalars(
            select(t.AuditEntry).where(t.AuditEntry.kind == "User", t.AuditEntry.key == "fred")
        ).one()
        seen = (entry.actor, entry.origin, entry.request_id, entry.action, entry.after)
    assert seen[:4] == ("root", "127.0.0.1", "req-42", "created")
    assert seen[4] is not None and seen[4]["login"] == "fred"


def test_a_body_announced_too_large_is_refused_before_it_is_read(client: MakeClient) -> None:
    """An upload larger than the limit gets 413 at once: nothing of it is received or stored."""
    import socket
    from urllib.parse import urlsplit

    from tagport.api.middleware import MAX_BODY_BYTES

    address = urlsplit(str(client().base_url))
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(
            b"POST /api/v1/audience-groups/x/import HTTP/1.1\r\nHost: t\r\n"
            + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        )
        answer = raw.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413")
    assert "request.too_large" in answer and "x-request-id" in answer.lower()
