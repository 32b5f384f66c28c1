"""The instance list and the backfill page as the console and the API show them: filters,
paging, sorting, who sees which instances, and the refusals — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tagport.domain.catalog import UserSpec
from tagport.domain.states import TaskStatus
from tagport.errors import InvalidInput, NotFound, PermissionDenied
from tagport.services import instances
from tagport.services.instances import InstanceFilter
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef, grant
from tagport.services.users import actor_for, add_user
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.store.paging import PageRequest
from tagport.targets.base import ColumnInfo, TableInfo
from tests.integration.support import publish

MANUAL = "杭州会员导出"
RECURRING = "hz_vip_to_crm"
SEED = TableInfo(None, "seed_users", (ColumnInfo("uid", "bigint", False),), ("uid",))


def _day(number: int) -> date:
    return date(2026, 11, number)


@pytest.fixture
def world(catalogued: Database, operator: Actor) -> dict[str, int]:
    """Runs of the manual task on the 21st (succeeded), 22nd and 23rd (waiting), then a
    backfill of the recurring task over the 1st-3rd in two groups (waiting): ids by name."""
    grant(catalogued, operator, "bob", TableRef("crm_mysql", "", "seed_users"))
    assert publish(catalogued, operator, MANUAL, SEED).status is TaskStatus.PUBLISHED
    assert publish(catalogued, operator, RECURRING).status is TaskStatus.PUBLISHED
    ids = {f"run{d}": instances.run(catalogued, operator, MANUAL, _day(d)) for d in (21, 22, 23)}
    now = t.utcnow()
    claim = instances.claim(catalogued, "w1", now, timedelta(minutes=5))
    assert claim is not None and claim.instance_id == ids["run21"]
    assert instances.finish(catalogued, claim, "w1", instances.Outcome(rows=7), now) == "succeeded"
    backfill = instances.backfill(catalogued, operator, RECURRING, _day(1), _day(3), groups=2)
    views = instances.list_instances(catalogued, RECURRING)
    ids |= {f"fill{v.bizdate.day}": v.id for v in views}
    return ids | {"backfill": backfill}


def _listed(
    db: Database, actor: Actor, where: InstanceFilter, request: PageRequest | None = None
) -> list[tuple[str, date, str, str]]:
    page = instances.instance_page(db, actor, where, request or PageRequest())
    assert page.total == len(page.items)  # every list here fits one page
    return [(v.task, v.bizdate, v.trigger, v.status) for v in page.items]


def test_the_instance_list_is_newest_first_and_filters_by_each_field(
    catalogued: Database, operator: Actor, world: dict[str, int]
) -> None:
    fills = [(RECURRING, _day(d), "backfill", "waiting") for d in (3, 2, 1)]
    runs = [
        (MANUAL, _day(23), "run", "waiting"),
        (MANUAL, _day(22), "run", "waiting"),
        (MANUAL, _day(21), "run", "succeeded"),
    ]
    assert _listed(catalogued, operator, InstanceFilter()) == fills + runs
    assert _listed(catalogued, operator, InstanceFilter(task=MANUAL)) == runs
    assert _listed(catalogued, operator, InstanceFilter(status="succeeded")) == runs[2:]
    assert _listed(catalogued, operator, InstanceFilter(trigger="backfill")) == fills
    assert (
        _listed(catalogued, operator, InstanceFilter(status="waiting", trigger="run")) == (runs[:2])
    )
    by_backfill = InstanceFilter(backfill_id=world["backfill"])
    assert _listed(catalogued, operator, by_backfill) == fills
    # Both ends of a data-timestamp range are in it.
    between = InstanceFilter(bizdate_from=_day(2), bizdate_to=_day(21))
    assert _listed(catalogued, operator, between) == [*fills[:2], runs[2]]


def test_the_instance_list_sorts_and_pages(
    catalogued: Database, operator: Actor, world: dict[str, int]
) -> None:
    by_day = _listed(catalogued, operator, InstanceFilter(), PageRequest(sort="bizdate"))
    assert [row[1].day for row in by_day] == [1, 2, 3, 21, 22, 23]
    first = instances.instance_page(catalogued, operator, InstanceFilter(), PageRequest(size=4))
    assert (first.total, first.page, first.size) == (6, 1, 4)
    assert [v.id for v in first.items] == [world[k] for k in ("fill3", "fill2", "fill1", "run23")]
    assert first.next_cursor is not None
    rest = instances.instance_page(
        catalogued, operator, InstanceFilter(), PageRequest(size=4, after=first.next_cursor)
    )
    assert ([v.id for v in rest.items], rest.next_cursor) == (
        [world["run22"], world["run21"]],
        None,
    )
    view = next(v for v in first.items if v.id == world["fill1"])
    assert (view.backfill_id, view.backfill_group, view.attempts) == (world["backfill"], 1, 0)


def test_the_instance_list_shows_only_the_tasks_one_may_see(
    catalogued: Database, operator: Actor, world: dict[str, int]
) -> None:
    # bob is a member of the tasks' application; carol of nothing.
    add_user(catalogued, operator, UserSpec(name="carol"))
    carol = actor_for(catalogued, "carol")
    assert len(_listed(catalogued, actor_for(catalogued, "bob"), InstanceFilter())) == 6
    assert _listed(catalogued, carol, InstanceFilter()) == []
    with pytest.raises(PermissionDenied, match=f"carol may not view offline service {MANUAL}"):
        instances.instance_page(catalogued, carol, InstanceFilter(task=MANUAL), PageRequest())
    with pytest.raises(NotFound, match="offline service 'no_such_task' does not exist"):
        instances.instance_page(
            catalogued, operator, InstanceFilter(task="no_such_task"), PageRequest()
        )


def test_an_instance_filter_refuses_values_no_instance_has() -> None:
    with pytest.raises(InvalidInput) as refused:
        InstanceFilter(status="done")
    assert str(refused.value) == "instance list: status: one of waiting, running, succeeded, failed"
    with pytest.raises(InvalidInput) as refused:
        InstanceFilter(trigger="cron")
    assert str(refused.value) == "instance list: trigger: one of schedule, run, backfill"
    for status in ("waiting", "running", "succeeded", "failed"):
        for trigger in ("schedule", "run", "backfill"):
            assert InstanceFilter(status=status, trigger=trigger).status == status


def test_a_backfill_shows_its_range_groups_status_and_days(
    catalogued: Database, operator: Actor, world: dict[str, int]
) -> None:
    later = instances.backfill(catalogued, operator, RECURRING, _day(5), _day(5))
    view = instances.backfill_view(catalogued, actor_for(catalogued, "bob"), world["backfill"])
    assert (view.id, view.task, view.first_bizdate, view.last_bizdate, view.groups) == (
        world["backfill"],
        RECURRING,
        _day(1),
        _day(3),
        2,
    )
    assert view.status == "running"
    assert [(v.id, v.bizdate.day, v.backfill_group) for v in view.instances] == [
        (world["fill1"], 1, 1),
        (world["fill2"], 2, 1),
        (world["fill3"], 3, 2),
    ]
    other = instances.backfill_view(catalogued, operator, later)
    assert [(v.bizdate, v.status) for v in other.instances] == [(_day(5), "waiting")]
    now = t.utcnow()
    while claim := instances.claim(catalogued, "w", now, timedelta(minutes=5), backfill_id=later):
        instances.finish(catalogued, claim, "w", instances.Outcome(rows=1), now)
    assert instances.backfill_view(catalogued, operator, later).status == "succeeded"


def test_a_backfill_is_shown_only_to_who_may_see_its_task(
    catalogued: Database, operator: Actor, world: dict[str, int]
) -> None:
    add_user(catalogued, operator, UserSpec(name="carol"))
    carol = actor_for(catalogued, "carol")
    with pytest.raises(PermissionDenied, match=f"carol may not view offline service {RECURRING}"):
        instances.backfill_view(catalogued, carol, world["backfill"])
    missing = world["backfill"] + 100
    with pytest.raises(NotFound, match=f"backfill '{missing}' does not exist"):
        instances.backfill_view(catalogued, operator, missing)


def test_the_plain_list_keeps_to_a_backfill_and_a_limit_and_a_missing_instance_is_named(
    catalogued: Database, operator: Actor, world: dict[str, int]
) -> None:
    """`list_instances` (what `tagport instance list` prints): a backfill's runs only, the
    newest `limit` (200 unless asked; a backfill not asked for groups runs as one); an instance
    that does not exist is refused by its kind and number."""
    of_backfill = instances.list_instances(catalogued, backfill_id=world["backfill"])
    assert [(v.task, v.bizdate) for v in of_backfill] == [(RECURRING, _day(d)) for d in (3, 2, 1)]
    newest = instances.list_instances(catalogued, limit=2)
    assert [v.id for v in newest] == [world["fill3"], world["fill2"]]
    whole = instances.backfill(catalogued, operator, RECURRING, date(2025, 1, 1), date(2025, 7, 19))
    assert instances.backfill_view(catalogued, operator, whole).groups == 1  # unless asked
    assert len(instances.list_instances(catalogued)) == 200  # of 206: the default page
    with pytest.raises(NotFound) as caught:
        instances.rerun(catalogued, operator, 999_999)
    assert str(caught.value) == "instance '999999' does not exist"
    assert (caught.value.kind, caught.value.name) == ("instance", "999999")
