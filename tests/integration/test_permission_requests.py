"""The write-permission workflow end to end, with a controllable clock: request, approve,
publish, expire, renew, return — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import update

from tagport.domain.catalog import UserSpec
from tagport.domain.states import RequestStatus, TaskStatus
from tagport.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from tagport.services import permission_requests as requests
from tagport.services import publication, targets, tasks
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef
from tagport.services.users import actor_for, add_user
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.store.paging import PageRequest
from tagport.targets.base import ColumnInfo, TableInfo
from tests.integration.support import describe_as

SEED = TableInfo(None, "seed_users", (ColumnInfo("uid", "bigint", False),), ("uid",))
REF = TableRef("crm_mysql", "", "seed_users")
TASK = "杭州会员导出"  # owned by bob, writes crm_mysql:seed_users


@pytest.fixture
def people(catalogued: Database, operator: Actor) -> tuple[Actor, Actor, Actor]:
    """bob (the task owner), carol (owner of crm_mysql, not a super admin), dave (neither)."""
    for login in ("carol", "dave"):
        add_user(catalogued, operator, UserSpec(name=login))
    carol = actor_for(catalogued, "carol")
    with catalogued.uow() as uow:
        uow.session.execute(
            update(t.DataSource).where(t.DataSource.name == "crm_mysql").values(owner_id=carol.id)
        )
        uow.commit()
    return actor_for(catalogued, "bob"), carol, actor_for(catalogued, "dave")


def publish(db: Database, actor: Actor, now: object = None) -> publication.PublicationResult:
    publication.request_publish(db, actor, TASK)
    return publication.complete_publication(db, TASK, describe_as(SEED), now)  # type: ignore[arg-type]


def test_request_approve_publish_expire_renew_return(
    catalogued: Database, people: tuple[Actor, Actor, Actor]
) -> None:
    bob, carol, dave = people
    start = t.utcnow()
    assert publish(catalogued, bob).problems == [
        "bob has no write permission on crm_mysql:seed_users; request it"
    ]
    first = requests.request(catalogued, bob, REF, "daily CRM sync", days=7, now=start)
    with pytest.raises(Conflict, match=f"request {first} for write on crm_mysql:seed_users"):
        requests.request(catalogued, bob, REF, "again", days=30, now=start)
    assert [r.id for r in requests.list_requests(catalogued, carol, to_approve=True)] == [first]
    assert requests.list_requests(catalogued, dave, to_approve=True) == []
    with pytest.raises(PermissionDenied, match="only the data source owner or a super admin"):
        requests.approve(catalogued, dave, first)
    with pytest.raises(PermissionDenied, match="only its requester"):
        requests.withdraw(catalogued, carol, first)
    assert requests.approve(catalogued, carol, first, now=start) is RequestStatus.APPROVED
    with pytest.raises(InvalidTransition, match="cannot reject: the request is approved"):
        requests.reject(catalogued, carol, first, "too late")
    assert publish(catalogued, bob, start).status is TaskStatus.PUBLISHED
    [warning] = _warnings(catalogued, bob)  # a week's permission: the list warns at once
    assert warning.startswith("write permission on crm_mysql:seed_users expires on ")

    # Seven days pass (the permission is moved into the past): it has lapsed, and the next
    # run fails naming the expiry.
    with catalogued.uow() as uow:
        uow.session.execute(update(t.TablePermission).values(expires_at=start - timedelta(hours=1)))
        uow.commit()
    [grant] = requests.list_grants(catalogued, bob)
    assert _warnings(catalogued, bob) == [
        f"write permission on crm_mysql:seed_users expired on "
        f"{start - timedelta(hours=1):%Y-%m-%d %H:%M} (bob)"
    ]
    assert (grant.status, grant.source) == ("expired", "request")
    with pytest.raises(PermissionDenied, match="write permission on crm_mysql:seed_users expired"):
        targets.require_write(catalogued, TASK, _published(catalogued))

    # Renewal is a new request; once approved the task may write again.
    second = requests.request(catalogued, bob, REF, "renew", until=date.today() + timedelta(30))
    requests.approve(catalogued, carol, second)
    targets.require_write(catalogued, TASK, _published(catalogued))
    assert _warnings(catalogued, bob) == []
    statuses = [g.status for g in requests.list_grants(catalogued, bob)]
    assert sorted(statuses) == ["active", "expired"]
    assert [g.expiring_soon for g in requests.list_grants(catalogued, bob, expiring=True)] == []

    # Returned: a new version can no longer be published.
    assert requests.return_permission(catalogued, bob, REF) == 1
    with pytest.raises(NotFound, match="active write permission of bob on"):
        requests.return_permission(catalogued, bob, REF)
    result = publish(catalogued, bob)
    assert result.status is TaskStatus.PUBLISHED  # the live version runs on …
    [problem] = result.problems
    assert problem.startswith("bob returned the write permission on crm_mysql:seed_users on ")
    with pytest.raises(PermissionDenied):  # … and its runs are refused
        targets.require_write(catalogued, TASK, _published(catalogued))


def test_rejection_needs_a_comment_and_withdrawal_is_the_requesters(
    catalogued: Database, people: tuple[Actor, Actor, Actor]
) -> None:
    bob, carol, _ = people
    first = requests.request(catalogued, bob, REF, "need it", days=30)
    with pytest.raises(InvalidInput, match="comment: say why it is rejected"):
        requests.reject(catalogued, carol, first, "  ")
    assert requests.reject(catalogued, carol, first, "use the staging table") is (
        RequestStatus.REJECTED
    )
    [view] = requests.list_requests(catalogued, bob)
    assert (view.status, view.decided_by, view.note) == (
        "rejected",
        "carol",
        "use the staging table",
    )
    second = requests.request(catalogued, bob, REF, "please", days=90)
    assert requests.withdraw(catalogued, bob, second) is RequestStatus.WITHDRAWN
    assert requests.list_grants(catalogued, bob) == []


@pytest.mark.parametrize(
    ("days", "until", "message"),
    [
        (None, None, "give a period in days or an end date, not both"),
        (8, None, "8 is not one of 7, 30, 90, 180, 365"),
        (None, date.today(), "must be after today and within 365 days"),
        (None, date.today() + timedelta(days=400), "must be after today and within 365 days"),
    ],
)
def test_a_request_asks_for_a_known_period(
    catalogued: Database,
    people: tuple[Actor, Actor, Actor],
    days: int | None,
    until: date | None,
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        requests.request(catalogued, people[0], REF, "why", days=days, until=until)


def _published(db: Database) -> object:
    from tagport.domain.tasks import OfflineServiceSpec

    with db.uow() as uow:
        task = uow.session.query(t.OfflineService).filter_by(name=TASK).one()
        return OfflineServiceSpec.model_validate(task.published)


def _warnings(db: Database, actor: Actor) -> list[str]:
    [row] = [r for r in tasks.list_tasks(db, actor, tasks.TaskFilter()) if r.name == TASK]
    return row.warnings


def test_the_task_list_says_when_its_permission_warning_changes(
    catalogued: Database, people: tuple[Actor, Actor, Actor]
) -> None:
    """A kept page of the task list must not outlive its warnings: the list says when the
    next one changes (the permission ends, here within the hour), else at midnight."""
    bob, carol, _ = people
    almost_a_week_ago = t.utcnow() - timedelta(days=7) + timedelta(minutes=50)
    asked = requests.request(catalogued, bob, REF, "sync", days=7, now=almost_a_week_ago)
    requests.approve(catalogued, carol, asked, now=almost_a_week_ago)
    publish(catalogued, bob, almost_a_week_ago)
    listed = tasks.listed_tasks(catalogued, bob, tasks.TaskFilter(name=TASK), PageRequest())
    [row] = listed.page.items
    [warning] = row.warnings
    assert warning.startswith("write permission on crm_mysql:seed_users expires on ")
    [grant] = requests.list_grants(catalogued, bob)
    assert grant.expires_at is not None
    midnight = datetime.combine(t.utcnow().date() + timedelta(days=1), time(), UTC)
    assert listed.changes_at == min(grant.expires_at, midnight)
