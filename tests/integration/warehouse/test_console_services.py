"""What the console's audience form needs from the services: the size of a group before it is
saved, and a new import group made from an uploaded file in one step."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from tagport.config import Settings
from tagport.domain.catalog import AudienceGroupSpec, UserSpec
from tagport.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tagport.services import audience_files, catalog, users, warehouse
from tagport.services.permissions import Actor
from tagport.store.db import Database

HANGZHOU = {"all": [{"tag": "city", "op": "=", "value": "571"}]}


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home)


@pytest.fixture
def demo(settings: Settings, db: Database, operator: Actor) -> warehouse.DemoResult:
    return warehouse.build_demo(settings, db, operator, 500, date.today())


def _draft(**fields: object) -> AudienceGroupSpec:
    document = {"code": "hz", "name": "Hangzhou", "entity": "user", "owner": "operator"}
    return AudienceGroupSpec.model_validate(document | fields)


def test_a_draft_is_estimated_as_it_will_be_once_saved_and_nothing_is_stored(
    settings: Settings, db: Database, operator: Actor, demo: warehouse.DemoResult
) -> None:
    day = demo.days[-1]
    draft = _draft(rule=HANGZHOU)
    size = warehouse.estimate_draft(settings, db, operator, draft, day)
    assert size > 0
    with pytest.raises(NotFound, match="hz"):
        catalog.show(db, "AudienceGroup", "hz")
    catalog.create(db, operator, draft)
    assert warehouse.estimate(settings, db, operator, "hz", day) == size
    sql = _draft(code="sq", sql="SELECT user_id FROM tag_prod.user_orders WHERE ds = '${bizdate}'")
    assert warehouse.estimate_draft(settings, db, operator, sql, day) > 0


def test_a_draft_breaking_a_rule_is_refused_like_a_save(
    settings: Settings, db: Database, operator: Actor, demo: warehouse.DemoResult
) -> None:
    bad = _draft(rule={"all": [{"tag": "city", "op": ">", "value": "571"}]})
    with pytest.raises(InvalidInput, match="operator > is not valid"):
        warehouse.estimate_draft(settings, db, operator, bad, demo.days[-1])
    with pytest.raises(InvalidInput, match="sql"):
        warehouse.estimate_draft(settings, db, operator, _draft(sql="DROP TABLE x"), demo.days[-1])
    users.add_user(db, operator, UserSpec(name="outsider"))
    outsider = users.actor_for(db, "outsider")
    with pytest.raises(PermissionDenied, match="outsider may not create audience group hz"):
        warehouse.estimate_draft(settings, db, outsider, _draft(rule=HANGZHOU), demo.days[-1])


def test_an_import_group_is_created_from_a_file_and_a_bad_file_keeps_nothing(
    settings: Settings, db: Database, operator: Actor, demo: warehouse.DemoResult
) -> None:
    spec = _draft(code="picked", **{"import": "upload"})
    bad = io.BytesIO(b"user_id\n1\nseven\n")
    with pytest.raises(InvalidInput, match="line 3: 'seven' is not a bigint ID"):
        audience_files.create(settings, db, operator, spec, "ids.csv", bad)
    with pytest.raises(NotFound):
        catalog.show(db, "AudienceGroup", "picked")
    assert not list((settings.home / "imports").iterdir())

    parsed = audience_files.create(
        settings, db, operator, spec, "ids.txt", io.BytesIO(b"5\n7\n7\n")
    )
    assert (parsed.count, parsed.duplicates) == (2, 1)
    stored, _ = catalog.show(db, "AudienceGroup", "picked")
    assert isinstance(stored, AudienceGroupSpec)
    assert stored.import_ == str(settings.home / "imports" / "picked.txt")
    page = warehouse.members_page(settings, db, operator, "picked", demo.days[-1])
    assert page.ids == [5, 7]
    with pytest.raises(Conflict, match="already exists"):
        audience_files.create(settings, db, operator, spec, "ids.txt", io.BytesIO(b"1\n"))
    assert warehouse.members_page(settings, db, operator, "picked", demo.days[-1]).ids == [5, 7]
