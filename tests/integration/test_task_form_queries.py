"""The queries behind the console's task form: a new task's name, the applications a user may
create tasks under, and whether the user may write the chosen table — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from tagport.domain.catalog import UserSpec
from tagport.services import applications, permission_requests, table_permissions, tasks
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef
from tagport.services.users import actor_for, add_user
from tagport.store import tables as t
from tagport.store.db import Database

REF = TableRef("crm_mysql", "", "seed_users")


def test_a_new_name_must_follow_the_rule_and_be_free(catalogued: Database) -> None:
    assert tasks.name_problem(catalogued, "hz_vip_daily") is None
    assert tasks.name_problem(catalogued, "杭州_新任务") is None
    assert tasks.name_problem(catalogued, "hz_vip_to_crm") is tasks.NameProblem.TAKEN
    assert tasks.name_problem(catalogued, "杭州会员导出") is tasks.NameProblem.TAKEN
    for bad in ("", "has space", "semi;colon", "x" * 65):
        assert tasks.name_problem(catalogued, bad) is tasks.NameProblem.INVALID, bad


def test_a_user_picks_among_the_offline_service_applications_they_belong_to(
    catalogued: Database, operator: Actor
) -> None:
    add_user(catalogued, operator, UserSpec(name="zoe"))
    assert applications.offline_service_applications(catalogued, operator) == ["marketing"]
    bob = actor_for(catalogued, "bob")  # a member of marketing
    assert applications.offline_service_applications(catalogued, bob) == ["marketing"]
    assert applications.offline_service_applications(catalogued, actor_for(catalogued, "zoe")) == []


def test_the_form_knows_whether_its_user_may_write_the_table(
    catalogued: Database, operator: Actor
) -> None:
    bob = actor_for(catalogued, "bob")
    refusal = table_permissions.refusal_for(catalogued, bob, REF)
    assert refusal is not None and refusal.code == "permission.missing"
    assert str(refusal) == "bob has no write permission on crm_mysql:seed_users; request it"
    assert table_permissions.refusal_for(catalogued, operator, REF) is None  # a super admin
    asked = permission_requests.request(catalogued, bob, REF, "daily sync", days=7)
    alice = actor_for(catalogued, "alice")  # the data source's owner
    permission_requests.approve(catalogued, alice, asked)
    assert table_permissions.refusal_for(catalogued, bob, REF) is None
    later = t.utcnow() + timedelta(days=8)
    expired = table_permissions.refusal_for(catalogued, bob, REF, later)
    assert expired is not None and expired.code == "permission.expired"
