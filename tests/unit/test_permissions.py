"""The role matrix as data: complete for every kind, and read the way the docs say."""

from __future__ import annotations

import pytest

from tagport.domain.documents import KINDS
from tagport.services.permissions import (
    ANYONE,
    SUPER_ADMIN_ONLY,
    WHO_MAY,
    Action,
    Grant,
    label,
    rule_for,
)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_says_who_creates_and_changes_it(kind: str) -> None:
    assert {Action.CREATE, Action.CHANGE} <= set(WHO_MAY[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_deleting_follows_changing_and_viewing_is_open_unless_listed(kind: str) -> None:
    assert rule_for(kind, Action.DELETE) == WHO_MAY[kind][Action.CHANGE]
    assert rule_for(kind, Action.VIEW) == WHO_MAY[kind].get(Action.VIEW, ANYONE)


def test_an_unknown_kind_or_action_is_for_super_admins_only() -> None:
    assert rule_for("Widget", Action.CHANGE) == SUPER_ADMIN_ONLY
    assert rule_for("Entity", Action.SET_PASSWORD_ENV) == SUPER_ADMIN_ONLY


def test_secrets_and_connections_need_the_strongest_roles() -> None:
    datasource = WHO_MAY["DataSource"]
    assert datasource[Action.SET_PASSWORD_ENV] == SUPER_ADMIN_ONLY
    assert all(Grant.DATASOURCE_ADMIN in alt for alt in datasource[Action.CREATE])
    assert all(Grant.DATASOURCE_ADMIN in alt for alt in datasource[Action.CHANGE])


@pytest.mark.parametrize(
    ("kind", "name"),
    [("DataSource", "data source"), ("OfflineService", "offline service"), ("Tag", "tag")],
)
def test_kinds_are_named_in_words(kind: str, name: str) -> None:
    assert label(kind) == name
