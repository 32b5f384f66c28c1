"""Who may change and see what (issue 17, findings 5, 6 and 7), on both metadata engines.

The example catalog belongs to the marketing team (project tag_prod, application marketing:
alice admin, bob member). Carol is a member of another team; dave is in no project at all;
erin is a data source admin of no team. Every refusal below names the actor and who may.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml
from sqlalchemy import select, update

from tagport.config import Settings
from tagport.domain.documents import parse_spec
from tagport.errors import ConfigError, InvalidInput, PermissionDenied
from tagport.services import catalog, config_as_code, instances, tasks
from tagport.services.catalog import Document, Outcome
from tagport.services.datasources import password_of
from tagport.services.permissions import Actor
from tagport.services.targets import TargetAccess
from tagport.services.users import actor_for
from tagport.store import tables as t
from tagport.store.db import Database

TEAMS = """
kind: Project
name: other
type: tag
members: [carol]
---
kind: Application
name: other_app
project: other
services: [audience_offline]
members: [carol]
---
kind: DataSource
name: secret_pg
type: postgresql
host: db.example
database: crm
username: app
password: right-password
owner: alice
"""
"""Another team's project and application (carol), and a data source with a stored password."""
OTHER_TEAM = (
    """
kind: User
name: carol
---
kind: User
name: dave
---
kind: User
name: erin
roles: [datasource_admin]
---
"""
    + TEAMS
    + """---
kind: DataSource
name: erins_pg
type: postgresql
host: db.example
database: crm
username: app
password: erins-password
owner: erin
"""
)


def apply(db: Database, actor: Actor, body: str, *, dry_run: bool = False) -> catalog.ApplyResult:
    documents = [
        Document(parse_spec(doc, "doc.yaml"), "doc.yaml") for doc in yaml.safe_load_all(body)
    ]
    return catalog.apply(db, actor, documents, dry_run=dry_run)


def refusal(db: Database, actor: Actor, document: dict[str, Any], dry_run: bool = False) -> str:
    """The one problem applying `document` as `actor` reports: a refusal of the actor."""
    with pytest.raises(PermissionDenied) as caught:
        apply(db, actor, yaml.safe_dump(document, allow_unicode=True), dry_run=dry_run)
    [problem] = caught.value.problems
    return problem.message


def exported(db: Database, kind: str, key: str) -> dict[str, Any]:
    documents = config_as_code.export_documents(db, [kind])
    return next(d for d in documents if d.get("code", d.get("name")) == key)


@pytest.fixture
def teams(catalogued: Database, operator: Actor) -> Database:
    apply(catalogued, operator, OTHER_TEAM)
    return catalogued


MEMBER_OF_ANOTHER_TEAM, OUTSIDER = "carol", "dave"

# What each actor is told when changing the marketing team's objects (finding 7).
TAKEOVERS = [
    ("LookupTable", "city_codes", {"codes": {"571": "Edited"}}, "change lookup table city_codes",
     "a member of its project"),
    ("Tag", "city", {"name": "Edited"}, "change tag city", "a member of its project"),
    ("Entity", "user", {"name": "Edited"}, "change entity user", "a member of its project"),
    ("AudienceGroup", "hz_vip", {"name": "Edited"}, "change audience group hz_vip",
     "its owner who is a member of its project"),
    ("DataSource", "crm_pg", {"port": 6543}, "change data source crm_pg",
     "its owner who is a data source admin"),
    ("OfflineService", "hz_vip_to_crm", {"description": "Edited"},
     "change offline service hz_vip_to_crm",
     "its owner who is a member of its application or an admin of its application"),
]  # fmt: skip


@pytest.mark.parametrize("login", [MEMBER_OF_ANOTHER_TEAM, OUTSIDER])
@pytest.mark.parametrize(("kind", "key", "edit", "doing", "who"), TAKEOVERS)
def test_another_team_and_an_outsider_cannot_change_the_teams_objects(
    teams: Database, login: str, kind: str, key: str, edit: dict[str, Any], doing: str, who: str
) -> None:
    before = exported(teams, kind, key)
    message = refusal(teams, actor_for(teams, login), before | edit)
    assert message == f"{login} may not {doing}: only {who} or a super admin may"
    assert exported(teams, kind, key) == before
    with pytest.raises(PermissionDenied, match=f"{login} may not delete"):
        catalog.delete(teams, actor_for(teams, login), kind, key)


def test_the_team_changes_its_lookup_table_and_its_own_audience(teams: Database) -> None:
    bob = actor_for(teams, "bob")
    table = exported(teams, "LookupTable", "city_codes")
    assert apply(teams, bob, yaml.safe_dump(table | {"name": "Cities"})).changed
    seed = exported(teams, "AudienceGroup", "seed_users")  # bob's own
    assert apply(teams, bob, yaml.safe_dump(seed | {"name": "Seeds"})).changed


def test_moving_an_object_needs_the_grant_on_both_sides(teams: Database, operator: Actor) -> None:
    """An entity moved into carol's project, or carol's task moved into marketing: refused."""
    carol = actor_for(teams, MEMBER_OF_ANOTHER_TEAM)
    entity = exported(teams, "Entity", "user")
    assert refusal(teams, carol, entity | {"project": "other"}) == (
        "carol may not change entity user: only a member of its project or a super admin may"
    )
    apply(teams, operator, "kind: Entity\ncode: store\nname: Store\nproject: other\nid_field: id")
    store = exported(teams, "Entity", "store")
    assert apply(teams, carol, yaml.safe_dump(store | {"name": "S"})).changed
    moved = exported(teams, "Entity", "store") | {"project": "tag_prod"}
    assert refusal(teams, carol, moved).startswith("carol may not change entity store")


def test_only_an_admin_names_another_owner(teams: Database) -> None:
    bob = actor_for(teams, "bob")
    seed = exported(teams, "AudienceGroup", "seed_users")
    assert refusal(teams, bob, seed | {"owner": "alice"}) == (
        "bob may not make alice the owner of audience group seed_users: only a super admin may"
    )
    task = exported(teams, "OfflineService", "杭州会员导出")  # bob's, in marketing
    assert refusal(teams, bob, task | {"owner": "alice"}) == (
        "bob may not make alice the owner of offline service 杭州会员导出: "
        "only an admin of its application or a super admin may"
    )
    alice = actor_for(teams, "alice")  # a super admin
    assert apply(teams, alice, yaml.safe_dump(task | {"owner": "alice"})).changed


def test_only_data_source_admins_create_data_sources(teams: Database) -> None:
    document = {
        "kind": "DataSource",
        "name": "mine",
        "type": "mysql",
        "host": "db.example",
        "database": "d",
    }
    for login in ("bob", MEMBER_OF_ANOTHER_TEAM, OUTSIDER):
        assert refusal(teams, actor_for(teams, login), document | {"owner": login}) == (
            f"{login} may not create data source mine: "
            "only a data source admin or a super admin may"
        )
    erin = actor_for(teams, "erin")
    assert apply(teams, erin, yaml.safe_dump(document | {"owner": "erin"})).changed
    assert refusal(teams, erin, document | {"owner": "bob", "name": "given"}) == (
        "erin may not make bob the owner of data source given: only a super admin may"
    )
    theirs = exported(teams, "DataSource", "secret_pg")  # alice's
    assert refusal(teams, erin, theirs | {"host": "evil.example"}) == (
        "erin may not change data source secret_pg: "
        "only its owner who is a data source admin or a super admin may"
    )


@pytest.mark.parametrize("login", ["bob", OUTSIDER, "erin"])
def test_a_dry_run_with_a_guessed_password_answers_the_same_right_or_wrong(
    teams: Database, login: str
) -> None:
    """Finding 5: authorization runs before the comparison, so a guess learns nothing."""
    document = exported(teams, "DataSource", "secret_pg")
    actor = actor_for(teams, login)
    right = refusal(teams, actor, document | {"password": "right-password"}, dry_run=True)
    wrong = refusal(teams, actor, document | {"password": "wrong-guess"}, dry_run=True)
    assert (
        right
        == wrong
        == (
            f"{login} may not change data source secret_pg: "
            "only its owner who is a data source admin or a super admin may"
        )
    )


def test_the_owner_who_may_set_the_password_sees_the_comparison(teams: Database) -> None:
    erin = actor_for(teams, "erin")
    document = exported(teams, "DataSource", "erins_pg")
    same = apply(teams, erin, yaml.safe_dump(document | {"password": "erins-password"}))
    assert [c.outcome for c in same.changes] == [Outcome.UNCHANGED]
    new = apply(teams, erin, yaml.safe_dump(document | {"password": "new"}), dry_run=True)
    assert [c.outcome for c in new.changes] == [Outcome.UPDATED]


def env_source(name: str, variable: str, owner: str) -> dict[str, Any]:
    return {
        "kind": "DataSource",
        "name": name,
        "type": "postgresql",
        "host": "db.example",
        "database": "d",
        "password_env": variable,
        "owner": owner,
    }


@pytest.mark.parametrize("login", ["bob", OUTSIDER])
def test_members_and_outsiders_cannot_name_a_password_env(teams: Database, login: str) -> None:
    """Finding 6, refused before anything else: creating, or changing someone's data source."""
    actor = actor_for(teams, login)
    assert refusal(teams, actor, env_source("mine", "TAGPORT_DS_X", login)) == (
        f"{login} may not create data source mine: only a data source admin or a super admin may"
    )
    theirs = exported(teams, "DataSource", "secret_pg") | {"password_env": "TAGPORT_DS_X"}
    assert refusal(teams, actor, theirs).startswith(f"{login} may not change data source")


def test_only_a_super_admin_names_a_password_env(teams: Database, operator: Actor) -> None:
    erin = actor_for(teams, "erin")
    assert refusal(teams, erin, env_source("e2", "TAGPORT_DS_X", "erin")) == (
        "erin may not set password_env of data source e2: only a super admin may"
    )
    mine = exported(teams, "DataSource", "erins_pg")
    assert refusal(teams, erin, mine | {"password_env": "TAGPORT_DS_X"}) == (
        "erin may not set password_env of data source erins_pg: only a super admin may"
    )
    assert apply(teams, operator, yaml.safe_dump(mine | {"password_env": "TAGPORT_DS_X"})).changed
    # Once a super admin named it, its owner may still edit the rest, but not send it elsewhere.
    again = exported(teams, "DataSource", "erins_pg") | {"description": "edited by erin"}
    assert apply(teams, erin, yaml.safe_dump(again)).changed
    assert refusal(teams, erin, again | {"host": "evil.example"}) == (
        "erin may not send the stored password of data source erins_pg to evil.example: "
        "only a super admin may"
    )


def test_a_stored_password_goes_to_another_host_only_when_given_again(teams: Database) -> None:
    erin = actor_for(teams, "erin")
    mine = exported(teams, "DataSource", "erins_pg")
    assert refusal(teams, erin, mine | {"port": 6543}) == (
        "erin may not send the stored password of data source erins_pg to db.example: "
        "only a super admin may"
    )
    moved = mine | {"host": "other.example", "password": "the-new-hosts-password"}
    assert apply(teams, erin, yaml.safe_dump(moved)).changed


NOT_PREFIXED = "does not start with TAGPORT_DS_ (TAGPORT_DS_ENV_PREFIX)"
A_SETTING = "is a tagport setting, not a data source password"


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("HOME", f"HOME {NOT_PREFIXED}"),
        ("PATH", f"PATH {NOT_PREFIXED}"),
        ("TAGPORT_SECRET_KEY", f"TAGPORT_SECRET_KEY {A_SETTING}"),
        ("TAGPORT_DATABASE_URL", f"TAGPORT_DATABASE_URL {A_SETTING}"),
    ],
)
def test_password_env_names_only_variables_with_the_prefix(
    teams: Database, operator: Actor, variable: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        apply(teams, operator, yaml.safe_dump(env_source("e3", variable, "operator")))
    [problem] = caught.value.problems
    assert (problem.field, problem.message) == ("password_env", message)


def test_the_prefix_is_a_setting_and_is_checked_again_when_connecting(
    teams: Database, operator: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGPORT_DS_ENV_PREFIX", "CRM_")
    monkeypatch.setenv("CRM_PASSWORD", "from-env")
    apply(teams, operator, yaml.safe_dump(env_source("e4", "CRM_PASSWORD", "operator")))
    with teams.uow() as uow:
        row = uow.session.scalars(select(t.DataSource).where(t.DataSource.name == "e4")).one()
        assert password_of(uow.session, row, Settings()) == "from-env"
        monkeypatch.delenv("TAGPORT_DS_ENV_PREFIX")
        with pytest.raises(ConfigError, match="e4: password_env: CRM_PASSWORD does not start"):
            password_of(uow.session, row, Settings())


def test_data_source_hosts_may_be_restricted(
    teams: Database, operator: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGPORT_DATASOURCE_HOSTS", "127.0.0.1, *.DB.internal")
    document = exported(teams, "DataSource", "crm_mysql")
    with pytest.raises(InvalidInput) as caught:
        apply(teams, operator, yaml.safe_dump(document | {"host": "evil.example"}))
    [problem] = caught.value.problems
    assert (problem.field, problem.message) == (
        "host",
        "evil.example is not an allowed data source host (TAGPORT_DATASOURCE_HOSTS)",
    )
    assert apply(teams, operator, yaml.safe_dump(document | {"host": "crm.db.internal"})).changed
    with teams.uow() as uow:  # a host allowed once and no longer: refused before connecting
        row = uow.session.scalars(select(t.DataSource).where(t.DataSource.name == "secret_pg"))
        with pytest.raises(ConfigError, match=r"secret_pg: host: db\.example is not an allowed"):
            TargetAccess(Settings()).params(uow.session, row.one(), None)


@pytest.fixture
def instance_id(teams: Database, operator: Actor) -> int:
    """A backfill instance of marketing's recurring task hz_vip_to_crm."""
    with teams.uow() as uow:
        uow.session.execute(
            update(t.OfflineService)
            .where(t.OfflineService.name == "hz_vip_to_crm")
            .values(status="published", published=t.OfflineService.draft, published_revision=1)
        )
        uow.commit()
    day = date(2026, 11, 20)
    instances.backfill(teams, operator, "hz_vip_to_crm", day, day)
    [view] = instances.list_instances(teams, "hz_vip_to_crm")
    return view.id


@pytest.mark.parametrize("login", [MEMBER_OF_ANOTHER_TEAM, OUTSIDER])
def test_instances_and_task_details_are_hidden_from_other_teams(
    teams: Database, instance_id: int, login: str
) -> None:
    actor = actor_for(teams, login)
    message = (
        f"{login} may not view offline service hz_vip_to_crm: only its owner or "
        "a member of its application or a super admin may"
    )
    with pytest.raises(PermissionDenied) as shown:
        instances.show(teams, instance_id, actor=actor)
    with pytest.raises(PermissionDenied) as logged:
        instances.log_lines(teams, instance_id, actor=actor)
    with pytest.raises(PermissionDenied) as listed:
        instances.list_instances(teams, "hz_vip_to_crm", actor=actor)
    with pytest.raises(PermissionDenied) as details:
        catalog.show(teams, "OfflineService", "hz_vip_to_crm", actor=actor)
    assert {str(e.value) for e in (shown, logged, listed, details)} == {message}
    assert instances.list_instances(teams, actor=actor) == []
    assert tasks.list_tasks(teams, actor, tasks.TaskFilter()) == []
    assert catalog.list_objects(teams, "OfflineService", actor=actor) == []
    assert config_as_code.export_documents(teams, ["OfflineService"], actor=actor) == []


def test_the_application_sees_its_tasks_instances(teams: Database, instance_id: int) -> None:
    bob = actor_for(teams, "bob")  # a member of marketing, not the task's owner
    assert instances.show(teams, instance_id, actor=bob).task == "hz_vip_to_crm"
    assert [v.id for v in instances.list_instances(teams, actor=bob)] == [instance_id]
    instances.log_lines(teams, instance_id, actor=bob)
    names = {r.name for r in tasks.list_tasks(teams, bob, tasks.TaskFilter())}
    assert names == {"hz_vip_to_crm", "杭州会员导出"}
    with pytest.raises(PermissionDenied, match="bob may not terminate an instance of hz_vip_to"):
        instances.terminate(teams, bob, instance_id)


def test_only_who_may_change_a_task_runs_backfills_or_reruns_it(
    teams: Database, instance_id: int
) -> None:
    bob = actor_for(teams, "bob")  # a member of marketing, not the owner of hz_vip_to_crm
    carol = actor_for(teams, MEMBER_OF_ANOTHER_TEAM)
    day = date(2026, 11, 20)
    refusals = [
        (
            lambda: instances.run(teams, carol, "杭州会员导出", day),
            "carol may not run 杭州会员导出",
        ),
        (
            lambda: instances.backfill(teams, bob, "hz_vip_to_crm", day, day),
            "bob may not backfill hz_vip_to_crm",
        ),
        (
            lambda: instances.rerun(teams, bob, instance_id),
            "bob may not rerun an instance of hz_vip_to_crm",
        ),
    ]
    who = "only its owner who is a member of its application or an admin of its application"
    for refused_call, doing in refusals:
        with pytest.raises(PermissionDenied) as refused:
            refused_call()
        assert str(refused.value) == f"{doing}: {who} or a super admin may"
    assert [v.status for v in instances.list_instances(teams)] == ["waiting"]
