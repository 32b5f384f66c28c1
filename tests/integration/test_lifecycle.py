"""Publishing, unpublishing, runs, backfills, reruns and termination — on SQLite and PostgreSQL.

The target table is described by a plain TableInfo here (what a target's introspection returns);
publishing against real servers is covered with the targets.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import event, select, update

from tagport.config import Settings
from tagport.domain.states import TaskStatus
from tagport.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    TransientError,
)
from tagport.runtime.pipeline import executor
from tagport.runtime.worker import Worker, WorkerConfig
from tagport.services import catalog, config_as_code, instances, publication
from tagport.services.permission_requests import list_grants
from tagport.services.permissions import Actor
from tagport.services.table_permissions import TableRef, grant
from tagport.services.users import actor_for
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.store.paging import PageRequest
from tagport.targets.base import ColumnInfo, TableInfo
from tests.integration.support import HZ_VIP, describe_as, publish


def one_run(db: Database, operator: Actor) -> tuple[str, int]:
    """A published manual task and a waiting run of it for 2026-11-23: its name and the run."""
    name = manual_task_published(db, operator)
    return name, instances.run(db, operator, name, date(2026, 11, 23))


def four_days_in_two_groups(db: Database, operator: Actor) -> tuple[datetime, timedelta]:
    """hz_vip_to_crm published and backfilled 2026-11-01..04 in two groups (days 1-2, 3-4);
    the moment to claim at and a lease of five minutes."""
    publish(db, operator, "hz_vip_to_crm")
    instances.backfill(
        db, operator, "hz_vip_to_crm", date(2026, 11, 1), date(2026, 11, 4), groups=2
    )
    return t.utcnow(), timedelta(minutes=5)


def edit(db: Database, operator: Actor, tmp_path: Path, name: str, **changes: Any) -> None:
    document = next(
        d for d in config_as_code.export_documents(db, ["OfflineService"]) if d["name"] == name
    )
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(document | changes, allow_unicode=True))
    docs, problems = config_as_code.read_documents([tmp_path / "task.yaml"])
    catalog.apply(db, operator, docs, problems=problems)


def status(db: Database, name: str) -> str:
    return catalog.show(db, "OfflineService", name)[1]["status"]  # type: ignore[no-any-return]


def test_publish_checks_pass_and_the_draft_goes_live(catalogued: Database, operator: Actor) -> None:
    assert (
        publication.request_publish(catalogued, operator, "hz_vip_to_crm") is TaskStatus.PUBLISHING
    )
    result = publication.complete_publication(catalogued, "hz_vip_to_crm", describe_as(HZ_VIP))
    assert (result.status, result.problems) == (TaskStatus.PUBLISHED, [])
    details = catalog.show(catalogued, "OfflineService", "hz_vip_to_crm")[1]
    assert (details["published_revision"], details["unpublished_changes"]) == (1, [])


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        (
            NotFound("table", "hz_vip"),
            "target table crm_pg:public.hz_vip does not exist; create it first",
        ),
        (TransientError("connection refused"), "target crm_pg is unreachable: connection refused"),
        (
            TableInfo(
                "public",
                "hz_vip",
                (ColumnInfo("user_id", "bigint", False), ColumnInfo("city", "text", True)),
                ("user_id",),
            ),
            "exported field city_codename is not mapped to a column of hz_vip",
        ),
        (
            TableInfo(
                "public",
                "hz_vip",
                (*HZ_VIP.columns[:3], ColumnInfo("age", "date", True)),
                ("user_id",),
            ),
            "column age (date) cannot hold age (long)",
        ),
        (
            TableInfo(
                "public",
                "hz_vip",
                (*HZ_VIP.columns, ColumnInfo("score", "int", False)),
                ("user_id",),
            ),
            "column score is NOT NULL without a default and not mapped",
        ),
    ],
)
def test_publish_fails_with_the_target_reason(
    catalogued: Database, operator: Actor, table: TableInfo | Exception, reason: str
) -> None:
    result = publish(catalogued, operator, "hz_vip_to_crm", table)
    assert result.status is TaskStatus.PUBLISH_FAILED
    assert reason in result.problems
    assert catalog.show(catalogued, "OfflineService", "hz_vip_to_crm")[1]["status"] == (
        "publish_failed"
    )


def test_publish_fails_on_a_mapped_column_that_is_missing(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    edit(
        catalogued,
        operator,
        tmp_path,
        "hz_vip_to_crm",
        mapping=[
            {"source": "user_id", "target": "uid"},
            {"source": "city", "target": "city"},
            {"source": "city_codename", "target": "city_codename"},
            {"source": "age", "target": "age"},
        ],
    )
    result = publish(catalogued, operator, "hz_vip_to_crm")
    assert "mapped column uid does not exist in hz_vip" in result.problems


def test_publish_fails_when_catalog_objects_went_missing(
    catalogued: Database, operator: Actor
) -> None:
    with catalogued.uow() as uow:  # behind the services' back, as a broken import would
        uow.session.execute(update(t.Tag).where(t.Tag.code == "age").values(code="age_old"))
        uow.session.execute(
            update(t.AudienceGroup).where(t.AudienceGroup.code == "hz_vip").values(code="gone")
        )
        uow.commit()
    result = publish(catalogued, operator, "hz_vip_to_crm")
    assert result.problems == ["audience: audience group 'hz_vip' does not exist"]


def test_publish_needs_the_owners_write_permission(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    edit(catalogued, operator, tmp_path, "hz_vip_to_crm", owner="bob")
    bob = actor_for(catalogued, "bob")
    with pytest.raises(PermissionDenied, match="only its owner who is a member of its application"):
        publication.request_publish(catalogued, _stranger(catalogued, operator), "hz_vip_to_crm")
    result = publish(catalogued, bob, "hz_vip_to_crm")
    assert result.problems == ["bob has no write permission on crm_pg:public.hz_vip; request it"]
    grant(
        catalogued,
        actor_for(catalogued, "alice"),
        "bob",
        TableRef("crm_pg", "public", "hz_vip"),
        days=30,
    )
    bobs = list_grants(catalogued, operator, "bob")
    assert [(str(p.table), p.status) for p in bobs] == [("crm_pg:public.hz_vip", "active")]
    assert publish(catalogued, bob, "hz_vip_to_crm").status is TaskStatus.PUBLISHED


def _stranger(db: Database, operator: Actor) -> Actor:
    from tagport.domain.catalog import UserSpec
    from tagport.services.users import add_user

    add_user(db, operator, UserSpec(name="carol"))
    return actor_for(db, "carol")


def test_project_targets_need_membership_write_through_and_respect_safe_mode(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    (tmp_path / "task.yaml").write_text(
        yaml.safe_dump(
            {
                "kind": "OfflineService",
                "name": "hz_vip_to_warehouse",
                "application": "marketing",
                "owner": "bob",
                "audience": "hz_vip",
                "target": {"datasource": "warehouse_crm", "table": "hz_vip"},
            }
        )
    )
    docs, problems = config_as_code.read_documents([tmp_path / "task.yaml"])
    catalog.apply(catalogued, operator, docs, problems=problems)
    grant(catalogued, operator, "bob", TableRef("warehouse_crm", "", "hz_vip"))
    table = TableInfo("crm_export", "hz_vip", (ColumnInfo("user_id", "BIGINT", False),), ())
    result = publish(catalogued, operator, "hz_vip_to_warehouse", table)
    assert result.problems == [
        "owner bob has not joined project crm_export",
        "cross-project safe mode: a task of project tag_prod may not write to project crm_export",
    ]


def test_a_failed_republish_keeps_the_live_version(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    edit(catalogued, operator, tmp_path, "hz_vip_to_crm", description="v2")
    result = publish(catalogued, operator, "hz_vip_to_crm", NotFound("table", "hz_vip"))
    assert result.status is TaskStatus.PUBLISHED
    details = catalog.show(catalogued, "OfflineService", "hz_vip_to_crm")[1]
    assert (details["published_revision"], details["draft_revision"]) == (1, 2)


def manual_task_published(db: Database, operator: Actor) -> str:
    table = TableInfo(None, "seed_users", (ColumnInfo("uid", "bigint", False),), ("uid",))
    grant(db, operator, "bob", TableRef("crm_mysql", "", "seed_users"))
    assert publish(db, operator, "杭州会员导出", table).status is TaskStatus.PUBLISHED
    return "杭州会员导出"


def test_run_is_for_published_manual_tasks(catalogued: Database, operator: Actor) -> None:
    with pytest.raises(InvalidTransition, match="cannot run: the task is editing"):
        instances.run(catalogued, operator, "杭州会员导出", date(2026, 11, 23))
    _, instance_id = one_run(catalogued, operator)
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.trigger, view.bizdate) == ("waiting", "run", date(2026, 11, 23))
    publish(catalogued, operator, "hz_vip_to_crm")
    with pytest.raises(InvalidTransition, match="only manual tasks offer it"):
        instances.run(catalogued, operator, "hz_vip_to_crm", date(2026, 11, 23))


def test_unpublish_terminates_waiting_instances(catalogued: Database, operator: Actor) -> None:
    name, waiting = one_run(catalogued, operator)
    assert publication.request_unpublish(catalogued, operator, name) is TaskStatus.UNPUBLISHING
    assert publication.complete_unpublication(catalogued, name) is TaskStatus.OFFLINE
    view = instances.show(catalogued, waiting)
    assert (view.status, view.error) == ("failed", "terminated")
    catalog.delete(catalogued, operator, "OfflineService", name)


def test_an_instance_rerun_while_unpublishing_does_not_outlive_the_unpublication(
    catalogued: Database, operator: Actor
) -> None:
    """The unpublication fails the waiting instances when it is requested; one queued again
    before it completes is failed when it completes, and no worker ever claims it."""
    name, done = one_run(catalogued, operator)
    now, lease = t.utcnow(), timedelta(minutes=1)
    claim = instances.claim(catalogued, "w1", now, lease)
    assert claim is not None
    instances.finish(catalogued, claim, "w1", instances.Outcome(rows=1), now)
    assert publication.request_unpublish(catalogued, operator, name) is TaskStatus.UNPUBLISHING
    instances.rerun(catalogued, operator, done)
    assert instances.show(catalogued, done).status == "waiting"
    assert publication.complete_unpublication(catalogued, name) is TaskStatus.OFFLINE
    view = instances.show(catalogued, done)
    assert (view.status, view.error) == ("failed", "terminated")
    assert instances.claim(catalogued, "w1", now, lease) is None


def test_unpublish_fails_while_an_instance_runs(catalogued: Database, operator: Actor) -> None:
    name = manual_task_published(catalogued, operator)
    instances.run(catalogued, operator, name, date(2026, 11, 23))
    claim = instances.claim(catalogued, "w1", t.utcnow(), timedelta(minutes=1))
    assert claim is not None
    publication.request_unpublish(catalogued, operator, name)
    assert publication.complete_unpublication(catalogued, name) is TaskStatus.UNPUBLISH_FAILED
    instances.terminate(catalogued, operator, claim.instance_id)
    publication.request_unpublish(catalogued, operator, name)
    assert publication.complete_unpublication(catalogued, name) is TaskStatus.OFFLINE


def test_rerun_and_terminate_follow_the_instance_status(
    catalogued: Database, operator: Actor
) -> None:
    _, instance_id = one_run(catalogued, operator)
    with pytest.raises(InvalidTransition, match="cannot rerun: the instance is waiting"):
        instances.rerun(catalogued, operator, instance_id)
    instances.terminate(catalogued, operator, instance_id)
    with pytest.raises(InvalidTransition, match="cannot terminate: the instance is failed"):
        instances.terminate(catalogued, operator, instance_id)
    instances.rerun(catalogued, operator, instance_id)
    assert instances.show(catalogued, instance_id).status == "waiting"
    messages = [line[3] for line in instances.log_lines(catalogued, instance_id)]
    assert messages == [
        "run requested by operator for 2026-11-23",
        "terminated by operator",
        "rerun requested by operator",
    ]


def test_backfill_splits_days_into_ordered_groups(catalogued: Database, operator: Actor) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    backfill_id = instances.backfill(
        catalogued, operator, "hz_vip_to_crm", date(2026, 11, 1), date(2026, 11, 10), groups=3
    )
    views = sorted(instances.list_instances(catalogued, "hz_vip_to_crm"), key=lambda v: v.bizdate)
    groups = {g: [v.bizdate.day for v in views if v.backfill_group == g] for g in (1, 2, 3)}
    assert groups == {1: [1, 2, 3, 4], 2: [5, 6, 7], 3: [8, 9, 10]}
    assert instances.backfill_state(catalogued, backfill_id) == "running"
    with pytest.raises(InvalidInput, match="backfill hz_vip_to_crm: groups: must be 1-12"):
        instances.backfill(
            catalogued, operator, "hz_vip_to_crm", date(2026, 11, 1), date(2026, 11, 2), groups=13
        )


def test_claims_respect_group_order_and_one_writer_per_table(
    catalogued: Database, operator: Actor
) -> None:
    now, lease = four_days_in_two_groups(catalogued, operator)
    first = instances.claim(catalogued, "w1", now, lease)
    assert first is not None and first.bizdate == date(2026, 11, 1)
    # Day 3 (group 2) would be next, but the same target table is being written.
    assert instances.claim(catalogued, "w2", now, lease) is None
    assert instances.finish(catalogued, first, "w1", instances.Outcome(rows=10), now) == "succeeded"
    order = []
    while (claim := instances.claim(catalogued, "w1", now, lease)) is not None:
        order.append(claim.bizdate.day)
        instances.finish(catalogued, claim, "w1", instances.Outcome(rows=1), now)
    assert order == [2, 3, 4]


def test_an_expired_lease_is_retried_and_the_old_worker_is_told_to_stop(
    catalogued: Database, operator: Actor
) -> None:
    _, instance_id = one_run(catalogued, operator)
    start, lease = t.utcnow(), timedelta(seconds=30)
    first = instances.claim(catalogued, "dead", start, lease)
    assert first is not None
    assert instances.expire_leases(catalogued, start + timedelta(seconds=10)) == []
    assert instances.expire_leases(catalogued, start + timedelta(seconds=31)) == [instance_id]
    second = instances.claim(catalogued, "alive", start + timedelta(seconds=32), lease)
    assert second is not None and second.attempt == 2
    later = start + timedelta(seconds=40)
    assert instances.heartbeat(catalogued, first, "dead", later, lease) is False
    assert instances.finish(catalogued, first, "dead", instances.Outcome(rows=1), later) is None
    assert instances.finish(catalogued, second, "alive", instances.Outcome(rows=5), later) == (
        "succeeded"
    )
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.attempts, view.rows) == ("succeeded", 2, 5)
    messages = [line[3] for line in instances.log_lines(catalogued, instance_id)]
    assert "attempt 1 lost: lease of dead expired" in messages


def test_transient_failures_back_off_then_fail(catalogued: Database, operator: Actor) -> None:
    _, instance_id = one_run(catalogued, operator)
    now, lease = t.utcnow(), timedelta(minutes=1)
    broken = instances.Outcome(error="deadlock detected", transient=True)
    for attempt in (1, 2):
        claim = instances.claim(catalogued, "w", now, lease)
        assert claim is not None and claim.attempt == attempt
        assert instances.finish(catalogued, claim, "w", broken, now, max_attempts=3) == "waiting"
        assert instances.claim(catalogued, "w", now, lease) is None  # backing off
        now += timedelta(seconds=30 * 2**attempt)
    claim = instances.claim(catalogued, "w", now, lease)
    assert claim is not None
    assert instances.finish(catalogued, claim, "w", broken, now, max_attempts=3) == "failed"
    assert instances.show(catalogued, instance_id).error == "deadlock detected"


def test_instances_of_a_task_are_listed_newest_first(catalogued: Database, operator: Actor) -> None:
    name = manual_task_published(catalogued, operator)
    ids = [instances.run(catalogued, operator, name, date(2026, 11, d)) for d in (1, 2)]
    assert [v.id for v in instances.list_instances(catalogued, name)] == ids[::-1]
    with catalogued.uow() as uow:
        assert uow.session.scalar(select(t.Instance.target_key)) == "crm_mysql//seed_users"


def test_publish_fails_when_a_tag_is_gone_or_moved_to_another_entity(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    (tmp_path / "store.yaml").write_text(
        "kind: Entity\ncode: store\nname: Store\nproject: tag_prod\nid_field: store_id\n"
    )
    docs, problems = config_as_code.read_documents([tmp_path / "store.yaml"])
    catalog.apply(catalogued, operator, docs, problems=problems)
    with catalogued.uow() as uow:  # behind the services' back, as a broken migration would
        store = uow.session.scalars(select(t.Entity).where(t.Entity.code == "store")).one()
        uow.session.execute(update(t.Tag).where(t.Tag.code == "age").values(entity_id=store.id))
        uow.session.execute(update(t.Tag).where(t.Tag.code == "city").values(code="town"))
        uow.commit()
    result = publish(catalogued, operator, "hz_vip_to_crm")
    assert result.status is TaskStatus.PUBLISH_FAILED
    assert result.problems == [
        "tags[0]: tag 'city' does not exist",
        "tags[1]: tag age belongs to entity store; audience hz_vip is of entity user",
    ]


def test_publish_to_a_project_without_write_through_fails(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    with catalogued.uow() as uow:
        uow.session.execute(
            update(t.Project).where(t.Project.name == "tag_prod").values(write_through=False)
        )
        uow.commit()
    (tmp_path / "task.yaml").write_text(
        yaml.safe_dump_all(
            [
                {
                    "kind": "DataSource",
                    "name": "wh_prod",
                    "type": "project",
                    "project": "tag_prod",
                    "owner": "alice",
                },
                {
                    "kind": "OfflineService",
                    "name": "to_own_project",
                    "application": "marketing",
                    "owner": "alice",
                    "audience": "hz_vip",
                    "target": {"datasource": "wh_prod", "table": "hz_vip"},
                },
            ]
        )
    )
    docs, problems = config_as_code.read_documents([tmp_path / "task.yaml"])
    catalog.apply(catalogued, operator, docs, problems=problems)
    table = TableInfo("tag_prod", "hz_vip", (ColumnInfo("user_id", "BIGINT", False),), ())
    result = publish(catalogued, operator, "to_own_project", table)
    assert result.problems == ["project tag_prod has no write-through for its production account"]


def test_every_run_checks_the_owners_write_permission_again(
    catalogued: Database, operator: Actor, tmp_path: Path
) -> None:
    name = manual_task_published(catalogued, operator)  # bob holds write on seed_users
    with catalogued.uow() as uow:  # a week later, the permission has lapsed
        uow.session.execute(
            update(t.TablePermission).values(expires_at=datetime(2026, 11, 20, 8, 30, tzinfo=UTC))
        )
        uow.commit()
    instance_id = instances.run(catalogued, operator, name, date(2026, 11, 23))
    settings = Settings(home=tmp_path / "home")
    assert Worker(catalogued, executor(settings, catalogued), WorkerConfig()).run_once(
        instance_id=instance_id
    )
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.error) == (
        "failed",
        "write permission on crm_mysql:seed_users expired on 2026-11-20 08:30 (bob)",
    )


@pytest.mark.parametrize("day", [date(9999, 12, 31), date(1899, 12, 31)])
def test_data_timestamps_out_of_range_are_refused(
    catalogued: Database, operator: Actor, day: date
) -> None:
    name = manual_task_published(catalogued, operator)
    with pytest.raises(InvalidInput, match=f"bizdate: {day} is "):
        instances.run(catalogued, operator, name, day)
    publish(catalogued, operator, "hz_vip_to_crm")
    with pytest.raises(InvalidInput, match=f"to: {day} is "):
        instances.backfill(catalogued, operator, "hz_vip_to_crm", date(2026, 11, 1), day)
    assert instances.list_instances(catalogued) == []


def test_lost_leases_use_up_exactly_the_attempts_allowed(
    catalogued: Database, operator: Actor
) -> None:
    _, instance_id = one_run(catalogued, operator)
    start, lease = t.utcnow(), timedelta(seconds=30)
    for attempt in (1, 2):
        moment = start + timedelta(minutes=attempt)
        claimed = instances.claim(catalogued, f"w{attempt}", moment, lease)
        assert claimed is not None and claimed.attempt == attempt
        # At the very moment the lease ends the worker still holds it; a microsecond later not.
        assert instances.expire_leases(catalogued, moment + lease, max_attempts=2) == []
        later = moment + lease + timedelta(microseconds=1)
        assert instances.expire_leases(catalogued, later, max_attempts=2) == [instance_id]
        expected = "waiting" if attempt == 1 else "failed"
        assert instances.show(catalogued, instance_id).status == expected
    view = instances.show(catalogued, instance_id)
    assert (view.attempts, view.error) == (2, "attempt 2 lost: lease of w2 expired")
    assert instances.claim(catalogued, "w3", start + timedelta(minutes=5), lease) is None


def _lines(db: Database, instance_id: int) -> list[tuple[int, str, str]]:
    return [
        (attempt, level, message)
        for _, attempt, level, message in instances.log_lines(db, instance_id)
    ]


def test_an_attempt_records_its_times_rows_bytes_and_log(
    catalogued: Database, operator: Actor
) -> None:
    name, instance_id = one_run(catalogued, operator)
    start = t.utcnow()
    claim = instances.claim(catalogued, "w1", start, timedelta(minutes=1))
    assert claim is not None
    running = instances.show(catalogued, instance_id)
    assert (running.status, running.started_at, running.ended_at, running.seconds) == (
        "running",
        start,
        None,
        None,
    )
    end = start + timedelta(seconds=90)
    outcome = instances.Outcome(rows=1234, bytes=56789)
    assert instances.finish(catalogued, claim, "w1", outcome, end) == "succeeded"
    view = instances.show(catalogued, instance_id)
    assert (view.started_at, view.ended_at, view.seconds) == (start, end, 90.0)
    assert (view.rows, view.bytes, view.error, view.attempts) == (1234, 56789, None, 1)
    assert _lines(catalogued, instance_id) == [
        (0, "info", "run requested by operator for 2026-11-23"),
        (1, "info", "attempt 1 started by w1"),
        (1, "info", "succeeded: 1,234 rows"),
    ]
    # A run that reports no row count logs 0 rows.
    other = instances.run(catalogued, operator, name, date(2026, 11, 22))
    claim = instances.claim(catalogued, "w1", end, timedelta(minutes=1))
    assert claim is not None and claim.instance_id == other
    assert instances.finish(catalogued, claim, "w1", instances.Outcome(), end) == "succeeded"
    assert _lines(catalogued, other)[-1] == (1, "info", "succeeded: 0 rows")


def test_a_transient_failure_waits_exactly_its_backoff_and_a_lasting_one_fails_at_once(
    catalogued: Database, operator: Actor
) -> None:
    name, instance_id = one_run(catalogued, operator)
    lease, broken = timedelta(minutes=1), instances.Outcome(error="deadlock", transient=True)
    moment = t.utcnow()
    for attempt, backoff in ((1, 30), (2, 60)):
        claim = instances.claim(catalogued, "w1", moment, lease)
        assert claim is not None and claim.attempt == attempt
        running = instances.show(catalogued, instance_id)
        assert (running.started_at, running.ended_at, running.error) == (moment, None, None)
        moment += timedelta(seconds=5)
        assert instances.finish(catalogued, claim, "w1", broken, moment) == "waiting"
        waiting = instances.show(catalogued, instance_id)
        assert (waiting.status, waiting.ended_at, waiting.error) == ("waiting", None, "deadlock")
        # Runnable at the very end of its backoff, not a microsecond before.
        moment += timedelta(seconds=backoff)
        assert instances.claim(catalogued, "w1", moment - timedelta(microseconds=1), lease) is None
    claim = instances.claim(catalogued, "w1", moment, lease)
    assert claim is not None and claim.attempt == 3
    assert instances.finish(catalogued, claim, "w1", broken, moment) == "failed"
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.ended_at, view.error) == ("failed", moment, "deadlock")
    assert _lines(catalogued, instance_id)[1:] == [
        (1, "info", "attempt 1 started by w1"),
        (1, "warning", "attempt 1 failed, retrying in 30 s: deadlock"),
        (2, "info", "attempt 2 started by w1"),
        (2, "warning", "attempt 2 failed, retrying in 60 s: deadlock"),
        (3, "info", "attempt 3 started by w1"),
        (3, "error", "failed: deadlock"),
    ]
    # An error that is not transient fails the first attempt.
    other = instances.run(catalogued, operator, name, date(2026, 11, 22))
    claim = instances.claim(catalogued, "w1", moment, lease)
    assert claim is not None and claim.instance_id == other
    lasting = instances.Outcome(error="no such column: uid")
    assert instances.finish(catalogued, claim, "w1", lasting, moment) == "failed"
    assert instances.show(catalogued, other).error == "no such column: uid"


def test_only_the_attempt_holding_the_lease_renews_or_finishes_it(
    catalogued: Database, operator: Actor
) -> None:
    name, instance_id = one_run(catalogued, operator)
    start, lease = t.utcnow(), timedelta(seconds=30)
    first = instances.claim(catalogued, "w1", start, lease)
    assert first is not None
    assert instances.heartbeat(catalogued, first, "w2", start, lease) is False
    # A heartbeat 20 s in moves the lease's end from 30 s to 50 s.
    assert instances.heartbeat(catalogued, first, "w1", start + timedelta(seconds=20), lease)
    assert instances.expire_leases(catalogued, start + timedelta(seconds=50)) == []
    later = start + timedelta(seconds=50, microseconds=1)
    assert instances.expire_leases(catalogued, later) == [instance_id]
    lost = (1, "warning", "attempt 1 lost: lease of w1 expired")
    assert _lines(catalogued, instance_id)[-1] == lost
    # The same worker claims it again: its first attempt no longer holds it.
    second = instances.claim(catalogued, "w1", later, lease)
    assert second is not None and second.attempt == 2
    assert instances.heartbeat(catalogued, first, "w1", later, lease) is False
    assert instances.finish(catalogued, first, "w1", instances.Outcome(rows=1), later) is None
    instances.terminate(catalogued, operator, instance_id)
    assert instances.heartbeat(catalogued, second, "w1", later, lease) is False
    assert instances.finish(catalogued, second, "w1", instances.Outcome(rows=1), later) is None
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.error, view.rows) == ("failed", "terminated", None)
    # Termination frees the target table for the task's next instance.
    other = instances.run(catalogued, operator, name, date(2026, 11, 22))
    claimed = instances.claim(catalogued, "w1", later, lease)
    assert claimed is not None and claimed.instance_id == other


def test_a_rerun_starts_afresh_and_needs_a_published_task(
    catalogued: Database, operator: Actor
) -> None:
    name, instance_id = one_run(catalogued, operator)
    now, lease = t.utcnow(), timedelta(minutes=1)
    claim = instances.claim(catalogued, "w1", now, lease)
    assert claim is not None
    broken = instances.Outcome(error="deadlock", transient=True)
    day = timedelta(days=1)
    assert instances.finish(catalogued, claim, "w1", broken, now, backoff=day) == "waiting"
    instances.terminate(catalogued, operator, instance_id)
    terminated = instances.show(catalogued, instance_id)
    assert (terminated.status, terminated.error) == ("failed", "terminated")
    assert terminated.ended_at is not None and terminated.ended_at >= now
    instances.rerun(catalogued, operator, instance_id)
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.error, view.ended_at) == ("waiting", None, None)
    # The backoff of its last attempt went with it: it runs at once.
    again = instances.claim(catalogued, "w1", now, lease)
    assert again is not None and again.attempt == 2
    assert instances.finish(catalogued, again, "w1", instances.Outcome(rows=3), now) == "succeeded"
    assert _lines(catalogued, instance_id)[-4:] == [
        (1, "warning", "terminated by operator"),
        (1, "info", "rerun requested by operator"),
        (2, "info", "attempt 2 started by w1"),
        (2, "info", "succeeded: 3 rows"),
    ]
    publication.request_unpublish(catalogued, operator, name)
    assert publication.complete_unpublication(catalogued, name) is TaskStatus.OFFLINE
    with pytest.raises(InvalidTransition) as refused:
        instances.rerun(catalogued, operator, instance_id)
    assert str(refused.value) == (
        f"cannot rerun instance {instance_id}: task {name} is offline "
        "(only tasks with a published version run)"
    )


def test_today_is_the_day_in_the_callers_time_zone(catalogued: Database, operator: Actor) -> None:
    name = manual_task_published(catalogued, operator)
    publish(catalogued, operator, "hz_vip_to_crm")
    shanghai, december = ZoneInfo("Asia/Shanghai"), date(2026, 12, 1)
    future = "2026-12-01 is in the future (today is 2026-11-30); data timestamps run up to today"
    t.set_clock(lambda: datetime(2026, 11, 30, 20, tzinfo=UTC))  # 1 December, 04:00 in Shanghai
    try:
        with pytest.raises(InvalidInput) as refused:
            instances.run(catalogued, operator, name, december)
        assert str(refused.value) == f"task {name}: bizdate: {future}"
        for first, field in ((december, "from"), (date(2026, 11, 30), "to")):
            with pytest.raises(InvalidInput) as refused:
                instances.backfill(catalogued, operator, "hz_vip_to_crm", first, december)
            assert str(refused.value) == f"task hz_vip_to_crm: {field}: {future}"
        instances.run(catalogued, operator, name, december, shanghai)
        instances.backfill(catalogued, operator, "hz_vip_to_crm", december, december, tz=shanghai)
    finally:
        t.set_clock(None)
    views = instances.list_instances(catalogued)
    assert sorted((v.task, v.bizdate) for v in views) == [
        ("hz_vip_to_crm", december),
        (name, december),
    ]


def test_a_backfill_is_refused_beyond_its_limits_and_accepted_up_to_them(
    catalogued: Database, operator: Actor
) -> None:
    publish(catalogued, operator, "hz_vip_to_crm")
    last = date(2026, 11, 1)
    refusals = [
        (last, last - timedelta(days=1), 1, "to: 2026-10-31 is before 2026-11-01"),
        (last, last, 0, "groups: must be 1-12"),
        (last - timedelta(days=3660), last, 12, "from: at most 3660 days"),
    ]
    for first, end, groups, message in refusals:
        with pytest.raises(InvalidInput) as refused:
            instances.backfill(catalogued, operator, "hz_vip_to_crm", first, end, groups=groups)
        assert str(refused.value) == f"backfill hz_vip_to_crm: {message}"
    assert instances.list_instances(catalogued) == []
    first = last - timedelta(days=3659)
    longest = instances.backfill(catalogued, operator, "hz_vip_to_crm", first, last, groups=12)
    view = instances.backfill_view(catalogued, operator, longest)
    assert (view.first_bizdate, view.last_bizdate, view.groups) == (first, last, 12)
    assert len(view.instances) == 3660
    assert [v.backfill_group for v in view.instances[::305]] == list(range(1, 13))
    # More groups than days: one group a day.
    single = instances.backfill(catalogued, operator, "hz_vip_to_crm", last, last, groups=5)
    days = instances.backfill_view(catalogued, operator, single).instances
    assert [(v.bizdate, v.backfill_group, v.trigger) for v in days] == [(last, 1, "backfill")]


def test_a_backfill_day_waits_only_for_the_earlier_days_of_its_own_group(
    catalogued: Database, operator: Actor
) -> None:
    now, lease = four_days_in_two_groups(catalogued, operator)
    broken = instances.Outcome(error="deadlock", transient=True)
    order = []
    while (claim := instances.claim(catalogued, "w1", now, lease)) is not None:
        order.append(claim.bizdate.day)
        outcome = broken if claim.bizdate.day == 1 else instances.Outcome(rows=1)
        instances.finish(catalogued, claim, "w1", outcome, now)  # day 1 backs off 30 s
    # Group 2 (days 3, 4) goes on while day 2 waits for day 1 of group 1.
    assert order == [1, 3, 4]
    now += timedelta(seconds=30)
    while (claim := instances.claim(catalogued, "w1", now, lease)) is not None:
        order.append(claim.bizdate.day)
        instances.finish(catalogued, claim, "w1", instances.Outcome(rows=1), now)
    assert order == [1, 3, 4, 1, 2]


def test_a_worker_overtaken_on_a_target_table_claims_its_next_candidate(
    catalogued: Database, operator: Actor
) -> None:
    """The race made deterministic: another worker claims an instance writing the table of
    this worker's first candidate after this one listed its candidates and before it took one.
    It must go on to its next candidate (another table): neither give up nor run a table twice.
    (PostgreSQL locks the listed candidates, so the other worker takes the table's next
    instance and this one's update hits the one-writer-per-table key; SQLite locks nothing, so
    the other takes the candidate itself.)"""
    name = manual_task_published(catalogued, operator)
    publish(catalogued, operator, "hz_vip_to_crm")
    instances.run(catalogued, operator, name, date(2026, 11, 21))
    instances.backfill(catalogued, operator, "hz_vip_to_crm", date(2026, 11, 1), date(2026, 11, 1))
    instances.run(catalogued, operator, name, date(2026, 11, 22))
    now, lease = t.utcnow(), timedelta(minutes=5)
    # The other worker passes the candidates this one locked (SKIP LOCKED); were it to wait
    # for them, it would wait for this very test: a lock timeout fails the test instead.
    patient = "?options=-clock_timeout%3D5s" if catalogued.url.startswith("postgresql") else ""
    slow = Database(catalogued.url, b"test-secret-key")
    fast = Database(catalogued.url + patient, b"test-secret-key")
    overtaken: list[instances.Claim | None] = []

    def overtake(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        listed = statement.lstrip().upper().startswith("SELECT") and "not_before" in statement
        if listed and not overtaken:
            overtaken.append(instances.claim(fast, "fast", now, lease))

    event.listen(slow.engine, "after_cursor_execute", overtake)
    try:
        claimed = instances.claim(slow, "slow", now, lease, limit=2)
    finally:
        event.remove(slow.engine, "after_cursor_execute", overtake)
        slow.dispose()
        fast.dispose()
    assert len(overtaken) == 1 and overtaken[0] is not None and overtaken[0].task == name
    assert claimed is not None
    assert (claimed.task, claimed.bizdate, claimed.attempt) == (
        "hz_vip_to_crm",
        date(2026, 11, 1),
        1,
    )
    running = instances.instance_page(
        catalogued, operator, instances.InstanceFilter(status="running"), PageRequest()
    ).items
    assert sorted((v.task, v.attempts) for v in running) == [("hz_vip_to_crm", 1), (name, 1)]


def test_a_terminated_instance_stays_failed_once_its_lease_runs_out(
    catalogued: Database, operator: Actor
) -> None:
    _, instance_id = one_run(catalogued, operator)
    start, lease = t.utcnow(), timedelta(seconds=30)
    assert instances.claim(catalogued, "w1", start, lease) is not None
    instances.terminate(catalogued, operator, instance_id)
    assert instances.expire_leases(catalogued, start + timedelta(minutes=1)) == []
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.error, view.attempts) == ("failed", "terminated", 1)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite locks no rows
def test_a_lease_that_runs_out_while_its_run_is_being_finished_is_not_expired(
    catalogued: Database, operator: Actor
) -> None:
    """The race made deterministic: the scheduler expires leases while a worker, late, records
    its run's end. The worker's attempt holds the instance's row (FOR UPDATE), so the expiry
    passes it by (SKIP LOCKED), neither waiting for the worker nor logging a lost lease and
    queueing a retry of a run that succeeded. PostgreSQL only: SQLite has no row locks."""
    _, instance_id = one_run(catalogued, operator)
    start, lease = t.utcnow(), timedelta(seconds=30)
    claim = instances.claim(catalogued, "w1", start, lease)
    assert claim is not None
    worker = Database(catalogued.url, b"test-secret-key")
    # Waiting for the worker's lock would wait for this very test: a lock timeout fails it.
    scheduler = Database(catalogued.url + "?options=-clock_timeout%3D5s", b"test-secret-key")
    expired: list[list[int]] = []
    late = start + timedelta(minutes=1)

    def expire(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and not expired:
            expired.append(instances.expire_leases(scheduler, late))

    event.listen(worker.engine, "after_cursor_execute", expire)
    try:
        outcome = instances.Outcome(rows=5)
        assert instances.finish(worker, claim, "w1", outcome, late) == "succeeded"
    finally:
        event.remove(worker.engine, "after_cursor_execute", expire)
        worker.dispose()
        scheduler.dispose()
    assert expired == [[]]
    view = instances.show(catalogued, instance_id)
    assert (view.status, view.rows) == ("succeeded", 5)
    assert [line[2] for line in _lines(catalogued, instance_id)][-1] == "succeeded: 5 rows"


def test_a_claim_lists_only_runnable_instances_as_candidates(
    catalogued: Database, operator: Actor
) -> None:
    """A claim takes its candidates `limit` at a time (20 by default), oldest first: a finished
    instance, or one whose target table is being written, must not take a runnable one's place.
    """
    name = manual_task_published(catalogued, operator)
    publish(catalogued, operator, "hz_vip_to_crm")
    now, lease = t.utcnow(), timedelta(minutes=5)
    day = date(2026, 11, 1)
    instances.backfill(catalogued, operator, "hz_vip_to_crm", day, day)
    done = instances.claim(catalogued, "w1", now, lease)
    assert done is not None and done.bizdate == day
    assert instances.finish(catalogued, done, "w1", instances.Outcome(rows=1), now) == "succeeded"
    instances.run(catalogued, operator, name, date(2026, 11, 20))
    running = instances.claim(catalogued, "w1", now, lease)
    assert running is not None and running.task == name
    instances.run(catalogued, operator, name, date(2026, 11, 21))  # waits for seed_users
    next_day = day + timedelta(days=1)
    instances.backfill(catalogued, operator, "hz_vip_to_crm", next_day, next_day)
    claimed = instances.claim(catalogued, "w2", now, lease, limit=1)
    assert claimed is not None and (claimed.task, claimed.bizdate) == ("hz_vip_to_crm", next_day)


def test_who_asked_for_a_run_or_a_backfill_is_recorded(
    catalogued: Database, operator: Actor
) -> None:
    name = manual_task_published(catalogued, operator)
    publish(catalogued, operator, "hz_vip_to_crm")
    instances.run(catalogued, operator, name, date(2026, 11, 23))
    day = date(2026, 11, 1)
    instances.backfill(catalogued, operator, "hz_vip_to_crm", day, day)
    with catalogued.uow() as uow:
        asked = uow.session.execute(select(t.Instance.trigger, t.Instance.created_by_id)).all()
        backfill_by = uow.session.scalars(select(t.Backfill.created_by_id)).all()
    assert sorted(asked) == [("backfill", operator.id), ("run", operator.id)]
    assert backfill_by == [operator.id]
