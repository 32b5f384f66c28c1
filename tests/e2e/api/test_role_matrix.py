"""The role × endpoint matrix: every /api/v1 operation, called by each role, answers as the
rules of DESIGN §3 say — enforced by the services, seen over real HTTP.

The world is the example catalog: application `marketing` with alice as admin and bob as
member; bob owns task 杭州会员导出, alice owns hz_vip_to_crm. Each role acts on the object that
makes it what it is: the member-owner (bob) on his own task, the member non-owner (bob again) on
alice's, the application admin (alice, also the data sources' owner, no longer a super admin) on
bob's. `root` is a super admin; `xavier` belongs to nothing. Anonymous callers
and expired tokens get 401 from every operation but the login.

Expectations, one letter per role in `ROLES` order: Y allowed (any answer but 401/403 and
never 5xx: a 404 or 409 from the object's state is fine), N refused with 403, H hidden (403,
or 404 where the object's existence is not shown to the caller).
A test fails when an operation of the app has no row: a new endpoint must say who may call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import update

from tagport.api.app import create_app
from tagport.config import Settings
from tagport.domain.catalog import Role, UserSpec
from tagport.services import permission_requests, table_permissions, tokens, users
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef
from tagport.store import tables as t
from tagport.store.db import Database

ROLES = ("super_admin", "app_admin", "owner", "non_owner", "outsider")


@dataclass(frozen=True)
class Who:
    login: str
    task: str
    """The task this role acts on."""
    other: str
    """Another user than itself."""


WHO = {
    "super_admin": Who("root", "hz_vip_to_crm", "alice"),
    "app_admin": Who("alice", "杭州会员导出", "bob"),
    "owner": Who("bob", "杭州会员导出", "alice"),
    "non_owner": Who("bob", "hz_vip_to_crm", "alice"),
    "outsider": Who("xavier", "hz_vip_to_crm", "alice"),
}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: str
    body: dict[str, Any] | None = None
    files: dict[str, tuple[str, bytes]] | None = None
    """A multipart upload instead of a JSON body."""

    def url(self, who: Who) -> str:
        return "/api/v1" + self.path.format(
            me=who.login, other=who.other, task=quote(who.task, safe="")
        )


PASSWORD = {"password": "a long enough password"}
MARKETING = {
    "project": "tag_prod",
    "services": ["audience_offline"],
    "admins": ["alice"],
    "members": ["bob"],
}
USER = {"name": "User", "project": "tag_prod", "id_field": "user_id", "id_type": "bigint"}
CITY = {"name": "City", "codes": {"571": "Hangzhou", "21": "Shanghai"}}
TAG = {
    "name": "Gender",
    "entity": "user",
    "value_type": "string",
    "source": {"table": "tag_prod.user_profile", "key": "user_id", "column": "gender"},
}
HZ_VIP = {
    "name": "Hangzhou VIPs",
    "entity": "user",
    "owner": "alice",
    "rule": {"all": [{"tag": "city", "op": "=", "value": "571"}]},
}
MYSQL = {"type": "mysql", "host": "127.0.0.1", "database": "test", "owner": "alice"}
SAFE = {"cross_project_safe_mode": True}
CATALOG_ROWS = [
    # Projects and security settings: super admins change them; anyone reads.
    Row("GET", "/projects?member=bob", "YYYYY"),
    Row("GET", "/projects/tag_prod", "YYYYY"),
    Row("POST", "/projects", "YNNNN", {"name": "matrix"}),
    Row("PUT", "/projects/crm_export", "YNNNN", {"members": ["alice"], "write_through": True}),
    Row("PUT", "/projects/crm_export/members", "YNNNN", {"members": ["alice"]}),
    Row("POST", "/projects/crm_export/members", "YNNNN", {"login": "bob"}),
    Row("DELETE", "/projects/crm_export/members/{other}", "YNNNN"),
    Row("DELETE", "/projects/crm_export", "YNNNN"),  # in use: 409
    Row("GET", "/security", "YYYYY"),
    Row("PUT", "/security", "YNNNN", SAFE),
    Row("PUT", "/security/projects/crm_export", "YNNNN", SAFE),
    Row("DELETE", "/security/projects/crm_export", "YNNNN"),
    # Applications: its admins manage it and its members.
    Row("GET", "/applications", "YYYYY"),
    Row("GET", "/applications/marketing", "YYYYY"),
    Row("POST", "/applications", "YNNNN", {"name": "matrix", "project": "tag_prod"}),
    Row("PUT", "/applications/marketing", "YYNNN", MARKETING),
    Row("POST", "/applications/marketing/members", "YYNNN", {"login": "bob"}),
    Row("DELETE", "/applications/marketing/members/{other}", "YYNNN"),
    Row("DELETE", "/applications/marketing", "YYNNN"),  # in use: 409
    # Data sources: data source admins (alice owns them but is none); anyone tests, browses.
    Row("GET", "/datasources?usable_as_target=true", "YYYYY"),
    Row("GET", "/datasources/crm_mysql", "YYYYY"),
    Row("POST", "/datasources", "YNNNN", {"name": "matrix"} | MYSQL),
    Row("PUT", "/datasources/crm_mysql", "YNNNN", MYSQL),
    Row("DELETE", "/datasources/crm_mysql", "YNNNN"),
    # Entities, lookup tables, tags: the members of their project (xavier is in none).
    Row("GET", "/entities", "YYYYY"),
    Row("GET", "/entities/user", "YYYYY"),
    Row("POST", "/entities", "YYYYN", USER | {"code": "shop", "id_field": "shop_id"}),
    Row("PUT", "/entities/user", "YYYYN", USER),
    Row("DELETE", "/entities/user", "YYYYN"),  # in use: 409
    Row("GET", "/lookup-tables", "YYYYY"),
    Row("GET", "/lookup-tables/city_codes", "YYYYY"),
    Row("POST", "/lookup-tables", "YYYYN", CITY | {"code": "cities"}),
    Row("PUT", "/lookup-tables/city_codes", "YYYYN", CITY),
    Row("DELETE", "/lookup-tables/city_codes", "YYYYN"),  # in use: 409
    Row("GET", "/tags?entity=user", "YYYYY"),
    Row("GET", "/tags/city", "YYYYY"),
    Row("POST", "/tags", "YYYYN", TAG | {"code": "gender"}),
    Row("PUT", "/tags/is_vip", "YYYYN", TAG),
    Row("DELETE", "/tags/city", "YYYYN"),  # in use: 409
    # Audience groups: project members create; the owner (a member) changes; readers of its
    # tables estimate and page it.
    Row("GET", "/audience-groups?kind=rule", "YYYYY"),
    Row("GET", "/audience-groups/hz_vip", "YYYYY"),
    Row(
        "POST",
        "/audience-groups",
        "YYYYN",
        {"code": "matrix", "name": "M", "entity": "user", "sql": "SELECT 1 AS user_id"},
    ),
    Row("PUT", "/audience-groups/hz_vip", "YYNNN", HZ_VIP),
    # An import group: the matrix's warehouse holds no tag tables.
    Row("POST", "/audience-groups/seed_users/estimate", "YYYYY", {"bizdate": "2026-01-01"}),
    Row("GET", "/audience-groups/seed_users/members?bizdate=2026-01-01", "YYYYY"),
    Row("POST", "/audience-groups/hz_vip/import", "YYNNN", files={"file": ("ids.txt", b"1\n")}),
    Row("DELETE", "/audience-groups/hz_vip", "YYNNN"),  # in use: 409
    # Anyone tests and browses a data source (the warehouse exists once an estimate ran).
    Row("POST", "/datasources/crm_mysql/test", "YYYYY"),
    # A project data source is a window on its project's warehouse schema: members only
    # (alice joined crm_export; bob and xavier did not).
    Row("GET", "/datasources/warehouse_crm/schemas", "YYNNN"),
    Row("GET", "/datasources/warehouse_crm/tables?search=x", "YYNNN"),
    Row("GET", "/datasources/warehouse_crm/tables/x/columns", "YYNNN"),  # 404 for members
]
TASK = {
    "application": "marketing",
    "owner": "bob",
    "audience": "seed_users",
    "target": {"datasource": "crm_mysql", "table": "seed_users"},
    "mapping": [{"source": "user_id", "target": "uid"}],
}
"""杭州会员导出 as the examples define it, without its name (a PUT takes it from the path)."""
TABLE = {"datasource": "crm_mysql", "table": "matrix_more"}
PERMISSION_ROWS = [
    # Requests: anyone asks for themselves; the data source's owner (alice) or a super admin
    # decides; only the requester (or a super admin) withdraws, only the holder returns.
    # Bob's request 1 and grant 1 are on alice's crm_mysql.
    Row("GET", "/permission-requests?to_approve=true", "YYYYY"),
    Row("POST", "/permission-requests", "YYYYY", TABLE | {"reason": "matrix", "days": 7}),
    Row("GET", "/permission-requests/1", "YYYYH"),
    Row("POST", "/permission-requests/1/reject", "YYNNH", {"comment": "no"}),
    Row("POST", "/permission-requests/1/approve", "YYNNH", {"comment": "ok"}),
    Row("POST", "/permission-requests/1/withdraw", "YNYYH"),
    Row("GET", "/grants?expiring=true", "YYYYY"),
    Row("GET", "/grants/1", "YYYYH"),
    Row("POST", "/grants", "YYNNN", TABLE | {"user": "bob", "days": 7}),
    Row("POST", "/grants/1/return", "YNYYH"),
    Row("GET", "/audit?kind=User", "YNNNN"),
]
MATRIX = [
    *PERMISSION_ROWS,
    *CATALOG_ROWS,  # first: their deletions run before the caller's session and token end
    # Deletions run last, in this order: the task's before the caller's session and token.
    Row("DELETE", "/offline-services/{task}", "YYYNN"),  # allowed: 409 (not offline)
    Row("GET", "/session", "YYYYY"),
    Row("DELETE", "/session", "YYYYY"),
    Row("GET", "/tokens", "YYYYY"),
    Row("POST", "/tokens", "YYYYY", {"name": "more"}),
    Row("GET", "/tokens?user={other}", "YNNNN"),
    Row("DELETE", "/tokens/1", "YYYYY"),  # another's token: 404 (its existence is not shown)
    Row("GET", "/users", "YYYYY"),
    Row("GET", "/users/{other}", "YYYYY"),
    Row("POST", "/users", "YNNNN", {"login": "newcomer"}),
    Row("PUT", "/users/{other}/roles", "YNNNN", {"roles": []}),
    Row("PUT", "/users/{me}/password", "YYYYY", PASSWORD),
    Row("PUT", "/users/{other}/password", "YNNNN", PASSWORD),
    Row("POST", "/service-accounts", "YNNNN", {"login": "robot"}),
    # Offline services: members see every task of their application and create tasks; only the
    # owner (a member), an application admin or a super admin changes, publishes or runs one.
    Row("GET", "/offline-services", "YYYYY"),  # an outsider gets an empty list
    Row("POST", "/offline-services", "YYYYN", {**TASK, "name": "matrix_task"}),
    Row("GET", "/offline-services/{task}", "YYYYN"),
    Row("PUT", "/offline-services/{task}", "YYYNN", TASK),
    Row("POST", "/offline-services/{task}/same-name-mapping", "YYYNN"),
    Row("POST", "/offline-services/{task}/purge-mapping", "YYYNN"),
    Row("GET", "/offline-services/{task}/ddl", "YYYYN"),
    Row("POST", "/offline-services/{task}/create-table", "YYYNN", {"sql": "SELECT 1"}),
    Row("POST", "/offline-services/{task}/run", "YYYNN", {}),  # allowed: 409 (not published)
    Row("POST", "/offline-services/{task}/backfill", "YYYNN", {}),
    Row("POST", "/offline-services/{task}/unpublish", "YYYNN"),
    Row("POST", "/offline-services/{task}/publish", "YYYNN"),
    Row("GET", "/instances", "YYYYY"),
    Row("GET", "/instances?task={task}", "YYYYN"),
    # The example world has no instances: 404 for everybody. Who may see, rerun or terminate
    # one is tested in test_instances.py.
    Row("GET", "/instances/1", "YYYYY"),
    Row("POST", "/instances/1/rerun", "YYYYY"),
    Row("POST", "/instances/1/terminate", "YYYYY"),
    Row("GET", "/instances/1/log", "YYYYY"),
    Row("GET", "/backfills/1", "YYYYY"),
]
"""Who may call what. `POST /session` (the login) is open to anyone and is not listed."""
OPEN = {("POST", "/api/v1/session")}


def _operations() -> set[tuple[str, str]]:
    app = create_app(Settings(), Database("sqlite://"))
    document = app.openapi()
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_every_operation_has_a_row() -> None:
    listed = {(row.method, "/api/v1" + row.path.split("?")[0]) for row in MATRIX}
    templated = {
        (method, path.replace("{login}", "{me}").replace("{token_id}", "1"))
        for method, path in _operations()
    }
    missing = {op for op in templated - OPEN if not any(_same(op, row) for row in listed)}
    assert not missing, f"operations without a row in the role matrix: {sorted(missing)}"


def _same(operation: tuple[str, str], row: tuple[str, str]) -> bool:
    """An operation's path template matches a row's path (placeholders are any segment)."""
    if operation[0] != row[0]:
        return False
    ours, theirs = operation[1].split("/"), row[1].split("/")
    return len(ours) == len(theirs) and all(
        a == b or a.startswith("{") or b.startswith("{") for a, b in zip(ours, theirs, strict=True)
    )


@pytest.fixture
def world(catalogued: Database, operator: Actor, monkeypatch: pytest.MonkeyPatch) -> Database:
    # crm_pg reads its password from here; the server trusts local connections anyway.
    monkeypatch.setenv("TAGPORT_DS_CRM_PG_PASSWORD", "unused")
    users.add_user(catalogued, operator, UserSpec(name="root", roles=[Role.SUPER_ADMIN]))
    users.add_user(catalogued, operator, UserSpec(name="xavier"))
    users.set_roles(catalogued, operator, "alice", [])  # the examples make her a super admin
    # Bob's pending request and his grant on alice's data source: ids 1 (the examples have none).
    bob = users.actor_for(catalogued, "bob")
    wanted = TableRef("crm_mysql", "", "matrix_wanted")
    assert permission_requests.request(catalogued, bob, wanted, "matrix", 7) == 1
    given = TableRef("crm_mysql", "", "matrix_given")
    assert table_permissions.grant(catalogued, operator, "bob", given, 7) == 1
    return catalogued


TIMEOUT = 30
"""Seconds an answer may take: httpx's default 5 s is a wall-time bound a busy CI machine broke
(one request of the matrix's ~100 took longer while two test processes shared two cores)."""


def _client(api_url: str, db: Database, operator: Actor, login: str) -> httpx.Client:
    token = tokens.create_token(db, operator, login, "matrix", 1).token
    return httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )


def _as_expected(letter: str, status: int) -> bool:
    if letter == "Y":
        return status not in (401, 403) and status < 500
    if letter == "H":  # hidden: refused, or not even shown to exist
        return status in (403, 404)
    return status == 403


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_rules_say(
    role: str, world: Database, operator: Actor, api_url: str
) -> None:
    who = WHO[role]
    wrong = []
    with _client(api_url, world, operator, who.login) as client:
        for row in sorted(MATRIX, key=lambda r: r.method == "DELETE"):  # deletions last
            answer = client.request(row.method, row.url(who), json=row.body, files=row.files)
            ok = _as_expected(row.expect[ROLES.index(role)], answer.status_code)
            if not ok:
                wrong.append(
                    f"{row.method} {row.url(who)} -> {answer.status_code} {answer.text[:160]}"
                )
    assert not wrong, f"{role} ({who.login}):\n" + "\n".join(wrong)


def test_anonymous_and_expired_callers_get_401_everywhere(
    world: Database, operator: Actor, api_url: str
) -> None:
    expired = tokens.create_token(world, operator, "alice", "old", 1)
    with world.uow() as uow:
        uow.session.execute(
            update(t.ApiToken)
            .where(t.ApiToken.id == expired.view.id)
            .values(expires_at=t.utcnow() - timedelta(seconds=1))
        )
        uow.commit()
    who = WHO["app_admin"]
    callers = {
        "anonymous": httpx.Client(base_url=api_url, timeout=TIMEOUT),
        "expired": httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {expired.token}"}, timeout=TIMEOUT
        ),
    }
    wrong = []
    for name, client in callers.items():
        with client:
            for row in MATRIX:
                answer = client.request(row.method, row.url(who), json=row.body, files=row.files)
                if answer.status_code != 401:
                    wrong.append(f"{name}: {row.method} {row.url(who)} -> {answer.status_code}")
    assert not wrong, "\n".join(wrong)
