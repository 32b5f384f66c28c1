"""Publication as the audit found it: checks that raise, pending requests, clashing targets, and
the reasons a person reads afterwards — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from tagport.domain.states import TaskStatus
from tagport.errors import ConfigError, InvalidTransition
from tagport.runtime.scheduler import Scheduler
from tagport.services import catalog, publication
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef, grant
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.targets.base import ColumnInfo, TableInfo
from tests.integration.support import HZ_VIP, describe_as, publish

UNSET = ConfigError("data source crm_pg: password_env TAGPORT_DS_NOT_SET is not set")
SEED = TableInfo(None, "seed_users", (ColumnInfo("uid", "bigint", False),), ("uid",))


def details(db: Database, name: str) -> dict[str, object]:
    return catalog.show(db, "OfflineService", name)[1]


def test_a_check_that_raises_fails_the_publication_with_its_reason(
    catalogued: Database, operator: Actor
) -> None:
    result = publish(catalogued, operator, "hz_vip_to_crm", UNSET)
    assert result.status is TaskStatus.PUBLISH_FAILED
    assert result.problems == [f"the checks stopped: {UNSET}"]
    shown = details(catalogued, "hz_vip_to_crm")
    assert (shown["status"], shown["failure_reasons"]) == ("publish_failed", result.problems)
    # Nothing is wedged: the task can be published again once the cause is gone.
    assert publish(catalogued, operator, "hz_vip_to_crm").status is TaskStatus.PUBLISHED
    assert details(catalogued, "hz_vip_to_crm")["failure_reasons"] == []


def test_one_tasks_failing_checks_never_hold_up_anothers(
    catalogued: Database, operator: Actor
) -> None:
    grant(catalogued, operator, "bob", TableRef("crm_mysql", "", "seed_users"))
    for name in ("hz_vip_to_crm", "杭州会员导出"):
        publication.request_publish(catalogued, operator, name)

    def describe(session: object, ds: t.DataSource, schema: str | None, table: str) -> TableInfo:
        if ds.name == "crm_pg":
            raise UNSET
        return SEED

    tick = Scheduler(catalogued, ZoneInfo("UTC"), describe).tick()
    assert sorted(tick.published) == sorted(["hz_vip_to_crm", "杭州会员导出"])
    assert details(catalogued, "hz_vip_to_crm")["status"] == "publish_failed"
    assert details(catalogued, "杭州会员导出")["status"] == "published"


def test_publish_wait_completes_a_pending_request(catalogued: Database, operator: Actor) -> None:
    publication.request_publish(catalogued, operator, "hz_vip_to_crm")
    # A second plain request is refused, as the task list shows no publish action now …
    with pytest.raises(InvalidTransition, match="cannot publish: the task is publishing"):
        publication.request_publish(catalogued, operator, "hz_vip_to_crm")
    # … but `--wait` picks the pending one up and finishes it.
    assert (
        publication.request_publish(catalogued, operator, "hz_vip_to_crm", pending_ok=True)
        is TaskStatus.PUBLISHING
    )
    result = publication.complete_publication(catalogued, "hz_vip_to_crm", describe_as(HZ_VIP))
    assert result.status is TaskStatus.PUBLISHED


def test_a_second_task_on_the_same_table_is_refused_naming_the_first(
    catalogued: Database, operator: Actor
) -> None:
    grant(catalogued, operator, "bob", TableRef("crm_mysql", "", "seed_users"))
    assert publish(catalogued, operator, "杭州会员导出", SEED).status is TaskStatus.PUBLISHED
    with catalogued.uow() as uow:  # point the recurring task at the same table (other case)
        task = uow.session.query(t.OfflineService).filter_by(name="hz_vip_to_crm").one()
        task.draft = task.draft | {
            "target": {"datasource": "crm_mysql", "schema": None, "table": "SEED_USERS"},
            "mapping": [{"source": "user_id", "target": "uid"}],
            "sync_tags": False,
            "tags": [],
        }
        uow.commit()
    result = publish(catalogued, operator, "hz_vip_to_crm", SEED)
    assert result.status is TaskStatus.PUBLISH_FAILED
    assert result.problems == [
        "task 杭州会员导出 already writes crm_mysql:SEED_USERS: two tasks would overwrite each "
        "other's rows (unpublish 杭州会员导出 or choose another table)"
    ]


def test_show_lists_what_the_draft_changes_in_the_published_version(
    catalogued: Database, operator: Actor
) -> None:
    assert publish(catalogued, operator, "hz_vip_to_crm").status is TaskStatus.PUBLISHED
    with catalogued.uow() as uow:
        task = uow.session.query(t.OfflineService).filter_by(name="hz_vip_to_crm").one()
        task.draft = task.draft | {
            "description": "v2",
            "target": task.draft["target"] | {"table": "hz_vip2"},
        }
        uow.commit()
    assert details(catalogued, "hz_vip_to_crm")["unpublished_changes"] == [
        'description: "Daily Hangzhou VIP list for the CRM" -> "v2"',
        'target.table: "hz_vip" -> "hz_vip2"',
    ]


def test_an_expired_permission_is_named_at_publication(
    catalogued: Database, operator: Actor
) -> None:
    moment = t.utcnow() - timedelta(days=10)
    grant(catalogued, operator, "bob", TableRef("crm_mysql", "", "seed_users"), 3, now=moment)
    result = publish(catalogued, operator, "杭州会员导出", SEED)
    expiry = (moment + timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    assert result.problems == [
        f"write permission on crm_mysql:seed_users expired on {expiry} (bob)"
    ]
