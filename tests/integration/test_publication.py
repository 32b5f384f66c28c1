"""Publication as the audit found it: checks that raise, pending requests, clashing targets, and
the reasons a person reads afterwards; then publishing and unpublishing at once, as the console
and the API's `?wait=true` do — on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tagport.config import Settings
from tagport.domain.catalog import UserSpec
from tagport.domain.states import TaskStatus
from tagport.errors import ConfigError, InvalidTransition, NotFound, PermissionDenied
from tagport.runtime.scheduler import Scheduler
from tagport.services import catalog, config_as_code, instances, publication, scheduling
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef, grant
from tagport.services.targets import TargetAccess
from tagport.services.tasks import task_detail
from tagport.services.users import actor_for, add_user
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.targets.base import ColumnInfo, TableInfo
from tests.integration.support import HZ_VIP, PG_DATASOURCE, describe_as, publish

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


# publish_now and unpublish_now: what the console's buttons and the API's `?wait=true` call, so a
# person sees the outcome in the same request.


def _carol(db: Database, operator: Actor) -> Actor:
    """A user who may see the example tasks but change none of them."""
    add_user(db, operator, UserSpec(name="carol"))
    return actor_for(db, "carol")


def _manual_published(db: Database, operator: Actor) -> str:
    grant(db, operator, "bob", TableRef("crm_mysql", "", "seed_users"))
    assert publish(db, operator, "杭州会员导出", SEED).status is TaskStatus.PUBLISHED
    return "杭州会员导出"


def test_publish_now_publishes_the_draft_in_the_same_request(
    catalogued: Database, operator: Actor
) -> None:
    result = publication.publish_now(catalogued, operator, "hz_vip_to_crm", describe_as(HZ_VIP))
    assert result == publication.PublicationResult(TaskStatus.PUBLISHED, [])
    detail = task_detail(catalogued, operator, "hz_vip_to_crm")
    assert (detail.status, detail.published_revision, detail.failure_reasons) == (
        "published",
        1,
        [],
    )
    assert detail.published == detail.draft


def test_publish_now_fails_the_task_with_its_reasons(catalogued: Database, operator: Actor) -> None:
    missing = describe_as(NotFound("table", "hz_vip"))
    result = publication.publish_now(catalogued, operator, "hz_vip_to_crm", missing)
    reasons = ["target table crm_pg:public.hz_vip does not exist; create it first"]
    assert result == publication.PublicationResult(TaskStatus.PUBLISH_FAILED, reasons)
    detail = task_detail(catalogued, operator, "hz_vip_to_crm")
    assert (detail.status, detail.failure_reasons, detail.published) == (
        "publish_failed",
        reasons,
        None,
    )


def test_publish_now_completes_a_request_already_pending(
    catalogued: Database, operator: Actor
) -> None:
    publication.request_publish(catalogued, operator, "hz_vip_to_crm")
    result = publication.publish_now(catalogued, operator, "hz_vip_to_crm", describe_as(HZ_VIP))
    assert result == publication.PublicationResult(TaskStatus.PUBLISHED, [])


def test_publish_now_refuses_unknown_tasks_strangers_and_tasks_being_unpublished(
    catalogued: Database, operator: Actor
) -> None:
    describe = describe_as(HZ_VIP)
    with pytest.raises(NotFound, match="offline service 'no_such_task' does not exist"):
        publication.publish_now(catalogued, operator, "no_such_task", describe)
    with pytest.raises(PermissionDenied, match="publish hz_vip_to_crm"):
        publication.publish_now(catalogued, _carol(catalogued, operator), "hz_vip_to_crm", describe)
    assert task_detail(catalogued, operator, "hz_vip_to_crm").status == "editing"
    name = _manual_published(catalogued, operator)
    publication.request_unpublish(catalogued, operator, name)
    with pytest.raises(
        InvalidTransition,
        match=r"cannot publish: the task is unpublishing "
        r"\(allowed when editing, published, publish_failed, offline\)",
    ):
        publication.publish_now(catalogued, operator, name, describe_as(SEED))
    assert task_detail(catalogued, operator, name).status == "unpublishing"


def test_unpublish_now_takes_the_task_offline_terminating_only_its_waiting_instances(
    catalogued: Database, operator: Actor
) -> None:
    name = _manual_published(catalogued, operator)
    now, lease = t.utcnow(), timedelta(minutes=5)
    done = instances.run(catalogued, operator, name, date(2026, 11, 22))
    claim = instances.claim(catalogued, "w1", now, lease)
    assert claim is not None and claim.instance_id == done
    assert instances.finish(catalogued, claim, "w1", instances.Outcome(rows=3), now) == "succeeded"
    waiting = instances.run(catalogued, operator, name, date(2026, 11, 23))
    # Another task's waiting instances are none of this unpublication's business.
    assert publish(catalogued, operator, "hz_vip_to_crm").status is TaskStatus.PUBLISHED
    instances.backfill(catalogued, operator, "hz_vip_to_crm", date(2026, 11, 1), date(2026, 11, 2))

    assert publication.unpublish_now(catalogued, operator, name) is TaskStatus.OFFLINE

    terminated = instances.show(catalogued, waiting)
    assert (terminated.status, terminated.error) == ("failed", "terminated")
    assert terminated.ended_at is not None
    succeeded = instances.show(catalogued, done)
    assert (succeeded.status, succeeded.error) == ("succeeded", None)
    others = instances.list_instances(catalogued, "hz_vip_to_crm")
    assert [(v.status, v.error) for v in others] == [("waiting", None)] * 2
    detail = task_detail(catalogued, operator, name)
    assert (detail.status, detail.published, detail.failure_reasons) == ("offline", None, [])
    assert "publish" in detail.actions and "run" not in detail.actions


def test_unpublish_now_completes_a_request_already_pending(
    catalogued: Database, operator: Actor
) -> None:
    name = _manual_published(catalogued, operator)
    assert publication.request_unpublish(catalogued, operator, name) is TaskStatus.UNPUBLISHING
    # A second plain request is refused, as the task list offers no unpublish now …
    with pytest.raises(InvalidTransition, match="cannot unpublish: the task is unpublishing"):
        publication.request_unpublish(catalogued, operator, name)
    # … but unpublishing at once picks the pending one up and finishes it.
    assert publication.unpublish_now(catalogued, operator, name) is TaskStatus.OFFLINE
    assert task_detail(catalogued, operator, name).published is None


def test_completing_an_unpublication_twice_changes_nothing(
    catalogued: Database, operator: Actor
) -> None:
    """The server's tick and `unpublish --wait` may both complete one request: the second finds
    the task offline (or never unpublished) and leaves it as it is."""
    name = _manual_published(catalogued, operator)
    assert publication.unpublish_now(catalogued, operator, name) is TaskStatus.OFFLINE
    assert publication.complete_unpublication(catalogued, name) is TaskStatus.OFFLINE
    assert publish(catalogued, operator, "hz_vip_to_crm").status is TaskStatus.PUBLISHED
    assert publication.complete_unpublication(catalogued, "hz_vip_to_crm") is TaskStatus.PUBLISHED
    assert task_detail(catalogued, operator, "hz_vip_to_crm").published is not None


def test_unpublish_now_fails_while_an_instance_of_the_task_runs_naming_it(
    catalogued: Database, operator: Actor
) -> None:
    name = _manual_published(catalogued, operator)
    instance_id = instances.run(catalogued, operator, name, date(2026, 11, 23))
    claim = instances.claim(catalogued, "w1", t.utcnow(), timedelta(minutes=5))
    assert claim is not None and claim.instance_id == instance_id

    assert publication.unpublish_now(catalogued, operator, name) is TaskStatus.UNPUBLISH_FAILED

    reason = f"instance {instance_id} is still running; terminate it first"
    detail = task_detail(catalogued, operator, name)
    assert (detail.status, detail.failure_reasons) == ("unpublish_failed", [reason])
    assert detail.published is not None  # the live version runs on
    assert instances.show(catalogued, instance_id).status == "running"
    instances.terminate(catalogued, operator, instance_id)
    assert publication.unpublish_now(catalogued, operator, name) is TaskStatus.OFFLINE
    detail = task_detail(catalogued, operator, name)
    assert (detail.status, detail.failure_reasons, detail.published) == ("offline", [], None)


def test_another_tasks_running_instance_does_not_hold_up_an_unpublication(
    catalogued: Database, operator: Actor
) -> None:
    name = _manual_published(catalogued, operator)
    assert publish(catalogued, operator, "hz_vip_to_crm").status is TaskStatus.PUBLISHED
    instances.backfill(catalogued, operator, "hz_vip_to_crm", date(2026, 11, 1), date(2026, 11, 1))
    claim = instances.claim(catalogued, "w1", t.utcnow(), timedelta(minutes=5))
    assert claim is not None and claim.task == "hz_vip_to_crm"
    assert publication.unpublish_now(catalogued, operator, name) is TaskStatus.OFFLINE
    assert instances.show(catalogued, claim.instance_id).status == "running"


def test_unpublish_now_refuses_strangers_and_tasks_that_are_not_live(
    catalogued: Database, operator: Actor
) -> None:
    with pytest.raises(
        InvalidTransition,
        match=r"cannot unpublish: the task is editing \(allowed when published, unpublish_failed\)",
    ):
        publication.unpublish_now(catalogued, operator, "hz_vip_to_crm")
    assert task_detail(catalogued, operator, "hz_vip_to_crm").status == "editing"
    name = _manual_published(catalogued, operator)
    with pytest.raises(PermissionDenied, match=f"unpublish {name}"):
        publication.unpublish_now(catalogued, _carol(catalogued, operator), name)
    with pytest.raises(NotFound, match="offline service 'no_such_task' does not exist"):
        publication.unpublish_now(catalogued, operator, "no_such_task")
    assert task_detail(catalogued, operator, name).status == "published"


LEVELS = """\
kind: LookupTable
code: level_codes
name: Level
codes: {"1": Bronze, "2": Silver}
---
kind: Tag
code: level
name: Level
entity: user
value_type: long
source: {table: tag_prod.user_profile, key: user_id, column: age}
lookup: level_codes
---
kind: Tag
code: tier_codename
name: Tier code
entity: user
value_type: long
source: {table: tag_prod.user_profile, key: user_id, column: age}
---
kind: OfflineService
name: levels_to_crm
application: marketing
owner: alice
schedule: {type: manual}
audience: hz_vip
sync_tags: true
tags:
  - {tag: level, outputs: [value, codename]}
  - {tag: tier_codename}
target: {datasource: crm_pg, schema: public, table: levels}
"""


def test_a_code_name_is_a_string_whatever_its_tags_type(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    (tmp_path / "levels.yaml").write_text(LEVELS)
    docs, problems = config_as_code.read_documents([tmp_path / "levels.yaml"])
    catalog.apply(catalogued, operator, docs, problems=problems)
    numbers = TableInfo(
        "public",
        "levels",
        tuple(
            ColumnInfo(name, "bigint", name == "user_id")
            for name in ("user_id", "level", "level_codename", "tier_codename")
        ),
        ("user_id",),
    )
    result = publish(catalogued, operator, "levels_to_crm", numbers)
    # level_codename carries Bronze or Silver; tier_codename is a tag of its own, a number.
    assert result.problems == ["column level_codename (bigint) cannot hold level_codename (string)"]


def test_the_tables_partition_column_is_filled_by_the_export(
    catalogued: Database, operator: Actor
) -> None:
    """A partition column the table declares needs no mapping (the run fills it) even when it is
    NOT NULL without a default; a partition field the task names must be a column."""
    partitioned = TableInfo(
        HZ_VIP.schema,
        HZ_VIP.name,
        (*HZ_VIP.columns, ColumnInfo("ds", "date", False)),
        HZ_VIP.primary_key,
        ("ds",),
    )
    assert publish(catalogued, operator, "hz_vip_to_crm", partitioned).problems == []
    with catalogued.uow() as uow:
        task = uow.session.query(t.OfflineService).filter_by(name="hz_vip_to_crm").one()
        task.draft = task.draft | {"target": task.draft["target"] | {"partition_field": "dt"}}
        uow.commit()
    assert publish(catalogued, operator, "hz_vip_to_crm", HZ_VIP).problems == [
        "partition field dt is not a column of hz_vip"
    ]


def test_a_super_admin_owner_and_a_project_without_safe_mode_write_across_projects(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    (tmp_path / "task.yaml").write_text(
        """\
kind: Project
name: crm_archive
type: general
members: [bob]
write_through: true
---
kind: DataSource
name: archive
type: project
project: crm_archive
owner: alice
---
kind: OfflineService
name: hz_vip_to_archive
application: marketing
owner: alice
audience: hz_vip
target: {datasource: archive, table: hz_vip}
"""
    )
    docs, problems = config_as_code.read_documents([tmp_path / "task.yaml"])
    catalog.apply(catalogued, operator, docs, problems=problems)
    grant(catalogued, operator, "alice", TableRef("archive", "", "hz_vip"))
    table = TableInfo("crm_archive", "hz_vip", (ColumnInfo("user_id", "BIGINT", False),), ())
    # alice (a super admin) is no member of crm_archive: only the safe mode stands in her way.
    assert publish(catalogued, operator, "hz_vip_to_archive", table).problems == [
        "cross-project safe mode: a task of project tag_prod may not write to project crm_archive"
    ]
    # The task's own project may turn the safe mode off for itself (global: on).
    (tmp_path / "safe.yaml").write_text(
        "kind: SecuritySettings\nproject: tag_prod\ncross_project_safe_mode: false\n"
    )
    docs, problems = config_as_code.read_documents([tmp_path / "safe.yaml"])
    catalog.apply(catalogued, operator, docs, problems=problems)
    assert publish(catalogued, operator, "hz_vip_to_archive", table).problems == []


def test_every_mapped_column_is_checked_after_a_missing_one(
    catalogued: Database, operator: Actor
) -> None:
    with catalogued.uow() as uow:
        task = uow.session.query(t.OfflineService).filter_by(name="hz_vip_to_crm").one()
        task.draft = task.draft | {
            "mapping": [
                {"source": "user_id", "target": "uid"},
                {"source": "city", "target": "city"},
                {"source": "city_codename", "target": "city_codename"},
                {"source": "age", "target": "age"},
            ]
        }
        uow.commit()
    dated = TableInfo(
        "public",
        "hz_vip",
        (*HZ_VIP.columns[:3], ColumnInfo("age", "date", True)),
        ("user_id",),
    )
    assert publish(catalogued, operator, "hz_vip_to_crm", dated).problems == [
        "mapped column uid does not exist in hz_vip",
        "column age (date) cannot hold age (long)",
        "column user_id is NOT NULL without a default and not mapped",
    ]


def test_completing_a_publication_twice_reports_the_first_outcome(
    catalogued: Database, operator: Actor
) -> None:
    """The server's tick and `publish --wait` may both complete one request: the second reads
    the outcome the first recorded, reasons included, and checks nothing again."""
    missing = NotFound("table", "hz_vip")
    failed = publish(catalogued, operator, "hz_vip_to_crm", missing)
    again = publication.complete_publication(catalogued, "hz_vip_to_crm", describe_as(HZ_VIP))
    assert again == failed
    assert again == publication.PublicationResult(
        TaskStatus.PUBLISH_FAILED,
        ["target table crm_pg:public.hz_vip does not exist; create it first"],
    )
    assert publish(catalogued, operator, "hz_vip_to_crm").status is TaskStatus.PUBLISHED
    done = publication.complete_publication(catalogued, "hz_vip_to_crm", describe_as(missing))
    assert done == publication.PublicationResult(TaskStatus.PUBLISHED, [])


def test_a_task_is_scheduled_from_the_moment_it_was_published(
    catalogued: Database, operator: Actor
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    moment = datetime(2026, 11, 10, 1, 0, tzinfo=shanghai)
    publication.request_publish(catalogued, operator, "hz_vip_to_crm")
    done = publication.complete_publication(
        catalogued, "hz_vip_to_crm", describe_as(HZ_VIP), now=moment
    )
    assert done.status is TaskStatus.PUBLISHED
    # Its first run is at 02:00 that day (catch-up window of 3 days: nothing before publication).
    tick = scheduling.create_due_instances
    assert tick(catalogued, moment, shanghai, 3) == 0
    assert tick(catalogued, moment + timedelta(hours=1), shanghai, 3) == 1
    views = instances.list_instances(catalogued, "hz_vip_to_crm")
    assert [(v.bizdate, v.trigger) for v in views] == [(date(2026, 11, 9), "schedule")]


def test_a_check_that_crashes_fails_the_publication_and_is_logged(
    catalogued: Database, operator: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a check (not a TagportError) is named by its class in the reasons, and its
    traceback goes to the server's log for whoever fixes it."""
    with caplog.at_level(logging.ERROR, logger="tagport.services.publication"):
        result = publish(catalogued, operator, "hz_vip_to_crm", KeyError("oops"))
    assert result == publication.PublicationResult(
        TaskStatus.PUBLISH_FAILED, ["the checks stopped on an internal error: KeyError: 'oops'"]
    )
    crashes = [r for r in caplog.records if r.name == "tagport.services.publication"]
    assert [r.getMessage() for r in crashes] == ["publication checks crashed"]
    assert crashes[0].exc_info is not None and crashes[0].exc_info[0] is KeyError


def test_publication_reaches_a_target_with_a_stored_password(
    catalogued: Database, operator: Actor, pg_url: str, tmp_path: Path
) -> None:
    """The checks describe the real target, connecting with the password the store keeps
    encrypted (the local server trusts any password)."""
    document = PG_DATASOURCE | {"name": "pg_pw", "password": "kept-encrypted", "owner": "alice"}
    (tmp_path / "ds.yaml").write_text(yaml.safe_dump(document))
    docs, problems = config_as_code.read_documents([tmp_path / "ds.yaml"])
    catalog.apply(catalogued, operator, docs, problems=problems)
    with catalogued.uow() as uow:
        task = uow.session.query(t.OfflineService).filter_by(name="hz_vip_to_crm").one()
        task.draft = task.draft | {
            "target": {"datasource": "pg_pw", "schema": "public", "table": "no_such_table"}
        }
        uow.commit()
    publication.request_publish(catalogued, operator, "hz_vip_to_crm")
    describe = TargetAccess(Settings(home=tmp_path / "home")).describe
    result = publication.complete_publication(catalogued, "hz_vip_to_crm", describe)
    assert result.problems == [
        "target table pg_pw:public.no_such_table does not exist; create it first"
    ]
