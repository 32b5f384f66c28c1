"""Config as code on a real metadata store: apply, re-apply, export, refuse, protect secrets."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text

from tagport.config import Settings
from tagport.domain.documents import KINDS
from tagport.errors import ConfigError, Conflict, InvalidInput, InvalidTransition, PermissionDenied
from tagport.services import catalog, config_as_code
from tagport.services.catalog import Outcome
from tagport.services.datasources import password_of
from tagport.services.permissions import Actor
from tagport.services.users import actor_for
from tagport.store import tables as t
from tagport.store.db import Database

EXAMPLES = Path(__file__).parents[2] / "examples"


def apply_path(
    db: Database, actor: Actor, path: Path, dry_run: bool = False
) -> catalog.ApplyResult:
    documents, problems = config_as_code.read_documents([path])
    return catalog.apply(db, actor, documents, dry_run=dry_run, problems=problems)


def apply_yaml(db: Database, actor: Actor, tmp_path: Path, body: str) -> catalog.ApplyResult:
    file = tmp_path / "doc.yaml"
    file.write_text(body)
    return apply_path(db, actor, file)


def counts(db: Database) -> dict[str, int]:
    return {kind: len(catalog.list_objects(db, kind)) for kind in KINDS}


def test_apply_creates_every_example_object_then_reports_no_change(
    db: Database, operator: Actor
) -> None:
    first = apply_path(db, operator, EXAMPLES)
    assert first.count(Outcome.CREATED) == 20
    assert {c.kind for c in first.changes} == set(KINDS)
    second = apply_path(db, operator, EXAMPLES)
    assert not second.changed
    assert second.count(Outcome.UNCHANGED) == 20


def test_export_then_apply_into_another_home_gives_the_same_catalog(
    db: Database, operator: Actor, tmp_path: Path, db_url: str
) -> None:
    apply_path(db, operator, EXAMPLES)
    exported = config_as_code.dump_yaml(config_as_code.export_documents(db))
    other = Database(f"sqlite:///{tmp_path / 'other.db'}", b"another key")
    other.upgrade()
    from tagport.services.users import init_operator

    init_operator(other)
    (tmp_path / "export.yaml").write_text(exported)
    apply_path(other, actor_for(other, None), tmp_path / "export.yaml")
    again = config_as_code.dump_yaml(config_as_code.export_documents(other))
    assert again == exported
    assert counts(other) == counts(db)


def test_a_change_is_an_update_of_that_object_only(
    db: Database, operator: Actor, tmp_path: Path
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    apply_path(db, operator, tmp_path / "ex")
    file = tmp_path / "ex" / "catalog.yaml"
    file.write_text(file.read_text().replace("name: Age\n", "name: Age in years\n"))
    result = apply_path(db, operator, tmp_path / "ex")
    assert [
        (c.kind, c.key, c.outcome) for c in result.changes if c.outcome != Outcome.UNCHANGED
    ] == [("Tag", "age", Outcome.UPDATED)]
    spec, _ = catalog.show(db, "Tag", "age")
    assert spec.name == "Age in years"  # type: ignore[attr-defined]


BROKEN = """
kind: Tag
code: Height
name: Height
entity: user
value_type: double
source: {table: tag_prod.user_profile, key: user_id, column: height}
---
kind: Tag
code: weight
name: Weight
entity: nobody
value_type: double
source: {table: tag_prod.user_profile, key: user_id, column: weight}
lookup: city_codes
---
kind: AudienceGroup
code: tall
name: Tall
entity: user
owner: carol
rule: {all: [{tag: height, op: ">", value: 190}, {audience: hz_vip}]}
"""


def test_one_invalid_document_among_valid_ones_writes_nothing_and_lists_every_problem(
    db: Database, operator: Actor, tmp_path: Path
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    (tmp_path / "ex" / "broken.yaml").write_text(BROKEN)
    with pytest.raises(InvalidInput) as caught:
        apply_path(db, operator, tmp_path / "ex")
    problems = {
        (p.where.split(" ")[0].rsplit("/", 1)[-1], p.field, p.message)
        for p in caught.value.problems
    }
    assert problems == {
        (
            "broken.yaml#1",
            "code",
            "must start with a lower-case letter and contain only a-z, 0-9 "
            "and _ (at most 64 characters)",
        ),
        (
            "broken.yaml#2",
            "lookup",
            "a double tag cannot have a lookup table (only string, long and boolean)",
        ),
        ("broken.yaml#3", "owner", "user 'carol' does not exist"),
        ("broken.yaml#3", "rule.all[0]", "tag 'height' does not exist"),
    }
    assert counts(db) == {kind: 1 if kind == "User" else 0 for kind in KINDS}  # the operator


def test_dry_run_checks_everything_and_writes_nothing(db: Database, operator: Actor) -> None:
    result = apply_path(db, operator, EXAMPLES, dry_run=True)
    assert result.count(Outcome.CREATED) == 20
    assert counts(db)["Tag"] == 0


def test_passwords_are_encrypted_at_rest_and_never_shown(
    db: Database, operator: Actor, tmp_path: Path, db_url: str
) -> None:
    apply_yaml(
        db,
        operator,
        tmp_path,
        """
kind: DataSource
name: secret_pg
type: postgresql
host: db.example
database: crm
username: app
password: "Pa55-w0rd-visible?"
owner: operator
""",
    )
    with db.engine.connect() as connection:
        dumped = " ".join(str(r) for r in connection.execute(text("SELECT * FROM datasources")))
    assert "Pa55-w0rd-visible?" not in dumped
    if db_url.startswith("sqlite"):
        raw = Path(db_url.removeprefix("sqlite:///")).read_bytes()
        wal = Path(db_url.removeprefix("sqlite:///") + "-wal")
        raw += wal.read_bytes() if wal.exists() else b""
        assert b"Pa55-w0rd-visible?" not in raw
    spec, details = catalog.show(db, "DataSource", "secret_pg")
    assert spec.password is None and details["has_password"] is True  # type: ignore[attr-defined]
    assert "Pa55" not in config_as_code.dump_yaml(config_as_code.export_documents(db))
    with db.uow() as uow:
        row = uow.session.scalars(select(t.DataSource)).one()
        assert password_of(uow.session, row, Settings()) == "Pa55-w0rd-visible?"
    # The same password again is no change; a new one is an update; none keeps the old one.
    body = (tmp_path / "doc.yaml").read_text()
    assert not apply_yaml(db, operator, tmp_path, body).changed
    assert apply_yaml(db, operator, tmp_path, body.replace("visible?", "new")).changed
    assert not apply_yaml(
        db,
        operator,
        tmp_path,
        body.replace('password: "Pa55-w0rd-new"\n', "").replace(
            'password: "Pa55-w0rd-visible?"\n', ""
        ),
    ).changed


def test_password_env_is_read_when_connecting(
    db: Database, operator: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_path(db, operator, EXAMPLES)
    with db.uow() as uow:
        row = uow.session.scalars(select(t.DataSource).where(t.DataSource.name == "crm_pg")).one()
        monkeypatch.delenv("TAGPORT_DS_CRM_PG_PASSWORD", raising=False)
        with pytest.raises(ConfigError, match="variable TAGPORT_DS_CRM_PG_PASSWORD is not set"):
            password_of(uow.session, row, Settings())
        monkeypatch.setenv("TAGPORT_DS_CRM_PG_PASSWORD", "from-env")
        assert password_of(uow.session, row, Settings()) == "from-env"


def test_members_may_not_create_projects_and_owners_guard_their_objects(
    db: Database, operator: Actor, tmp_path: Path
) -> None:
    apply_path(db, operator, EXAMPLES)
    bob = actor_for(db, "bob")
    with pytest.raises(PermissionDenied, match="bob may not create project p2: only a super admin"):
        apply_yaml(db, bob, tmp_path, "kind: Project\nname: p2\n")
    exported = {d["code"]: d for d in config_as_code.export_documents(db, ["AudienceGroup"])}
    changed = exported["hz_vip"] | {"name": "Renamed by bob"}
    with pytest.raises(
        PermissionDenied, match="only its owner who is a member of its project or a super admin may"
    ):
        apply_yaml(db, bob, tmp_path, yaml.safe_dump(changed))


def test_delete_is_refused_while_something_uses_the_object(db: Database, operator: Actor) -> None:
    apply_path(db, operator, EXAMPLES)
    with pytest.raises(Conflict, match="still used by tag city"):
        catalog.delete(db, operator, "LookupTable", "city_codes")
    with pytest.raises(Conflict, match="offline service hz_vip_to_crm"):
        catalog.delete(db, operator, "DataSource", "crm_pg")
    catalog.delete(db, operator, "DataSource", "warehouse_crm")
    assert [s.key for s, _ in catalog.list_objects(db, "DataSource")] == ["crm_mysql", "crm_pg"]


def test_a_task_in_editing_cannot_be_deleted_until_offline_or_publish_failed(
    db: Database, operator: Actor
) -> None:
    apply_path(db, operator, EXAMPLES)
    with pytest.raises(Conflict, match="cannot delete: the task is editing"):
        catalog.delete(db, operator, "OfflineService", "hz_vip_to_crm")
    with db.uow() as uow:
        task = uow.session.scalars(
            select(t.OfflineService).where(t.OfflineService.name == "hz_vip_to_crm")
        ).one()
        task.status = "publish_failed"
        uow.commit()
    catalog.delete(db, operator, "OfflineService", "hz_vip_to_crm")


def task_document(db: Database, name: str) -> dict[str, Any]:
    return next(
        d for d in config_as_code.export_documents(db, ["OfflineService"]) if d["name"] == name
    )


def test_immutable_task_fields_and_busy_statuses_refuse_edits(
    db: Database, operator: Actor, tmp_path: Path
) -> None:
    apply_path(db, operator, EXAMPLES)
    document = task_document(db, "hz_vip_to_crm")
    changed = document | {
        "schedule": {"type": "manual"},
        "target": document["target"] | {"datasource": "crm_mysql", "schema": None},
    }
    with pytest.raises(InvalidInput) as caught:
        apply_yaml(db, operator, tmp_path, yaml.safe_dump(changed))
    fields = {p.field: p.message for p in caught.value.problems}
    assert fields["schedule.type"] == "cannot change after creation (is recurring)"
    assert fields["target.datasource"].startswith("the target data source type cannot change")
    with db.uow() as uow:
        task = uow.session.scalars(
            select(t.OfflineService).where(t.OfflineService.name == "hz_vip_to_crm")
        ).one()
        task.status = "publishing"
        uow.commit()
    edited = document | {"description": "new words"}
    with pytest.raises(InvalidTransition, match="cannot edit: the task is publishing"):
        apply_yaml(db, operator, tmp_path, yaml.safe_dump(edited))


def test_editing_a_published_task_keeps_the_published_version(
    db: Database, operator: Actor, tmp_path: Path
) -> None:
    apply_path(db, operator, EXAMPLES)
    with db.uow() as uow:
        task = uow.session.scalars(
            select(t.OfflineService).where(t.OfflineService.name == "hz_vip_to_crm")
        ).one()
        task.status, task.published, task.published_revision = "published", dict(task.draft), 1
        uow.commit()
    document = task_document(db, "hz_vip_to_crm")
    apply_yaml(db, operator, tmp_path, yaml.safe_dump(document | {"description": "v2"}))
    _, details = catalog.show(db, "OfflineService", "hz_vip_to_crm")
    assert details["status"] == "published"
    assert details["unpublished_changes"] == [
        'description: "Daily Hangzhou VIP list for the CRM" -> "v2"'
    ]
    assert (details["draft_revision"], details["published_revision"]) == (2, 1)


def test_task_checks_name_the_field(db: Database, operator: Actor, tmp_path: Path) -> None:
    apply_path(db, operator, EXAMPLES)
    document = task_document(db, "hz_vip_to_crm") | {
        "name": "second",
        "tags": [{"tag": "age", "outputs": ["codename"]}, {"tag": "nope"}],
        "mapping": [{"source": "user_id", "target": "uid"}, {"source": "height", "target": "h"}],
    }
    with pytest.raises(InvalidInput) as caught:
        apply_yaml(db, operator, tmp_path, yaml.safe_dump(document))
    fields = {p.field: p.message for p in caught.value.problems}
    assert fields == {
        "tags[0].outputs": "tag age has no lookup table, so no age_codename",
        "tags[1]": "tag 'nope' does not exist",
        "mapping[1].source": (
            "'height' is not exported; exported fields: user_id, age_codename, nope"
        ),
    }


def test_audience_cycles_are_refused(db: Database, operator: Actor, tmp_path: Path) -> None:
    apply_path(db, operator, EXAMPLES)
    apply_yaml(
        db,
        operator,
        tmp_path,
        """
kind: AudienceGroup
code: a1
name: A1
entity: user
owner: alice
rule: {audience: hz_vip}
""",
    )
    with pytest.raises(InvalidInput, match="cycle: hz_vip -> a1 -> hz_vip"):
        apply_yaml(
            db,
            operator,
            tmp_path,
            """
kind: AudienceGroup
code: hz_vip
name: Hangzhou VIPs
entity: user
owner: alice
rule: {all: [{tag: city, op: "=", value: "571"}, {audience: a1}]}
""",
        )
