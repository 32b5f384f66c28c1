"""The console's task and instance reads on both metadata engines: a failed run's reason,
a running instance's progress, the list's filter choices."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from tagport.services.permissions import Actor
from tagport.services.task_views import filter_choices, instance_progress, latest_errors
from tagport.store import tables as t
from tagport.store.db import Database


def _instance(task: t.OfflineService, status: str, **values: object) -> t.Instance:
    return t.Instance(
        service_id=task.id,
        bizdate=date(2026, 1, 1),
        trigger="run",
        status=status,
        revision=1,
        attempts=1,
        target_key=f"k/{task.id}/{status}",
        **values,
    )


def test_progress_failed_runs_and_filter_choices(catalogued: Database, operator: Actor) -> None:
    with catalogued.uow() as uow:
        session = uow.session
        daily, manual = (
            session.scalars(select(t.OfflineService).where(t.OfflineService.name == name)).one()
            for name in ("hz_vip_to_crm", "杭州会员导出")
        )
        session.add(_instance(daily, "succeeded", rows=1000))
        session.add(_instance(manual, "failed", error="boom"))
        running = _instance(daily, "running")
        session.add(running)
        session.flush()
        for message in ("attempt 1 started by w", "200 rows written, 1 rows/s",
                        "500 rows written, 1 rows/s"):  # fmt: skip
            session.add(
                t.InstanceLog(instance_id=running.id, attempt=1, level="info", message=message)
            )
        uow.commit()
        running_id = running.id

    assert latest_errors(catalogued, ["hz_vip_to_crm", "杭州会员导出"]) == {"杭州会员导出": "boom"}
    assert latest_errors(catalogued, []) == {}
    progress = instance_progress(catalogued, operator, running_id)
    assert (progress.status, progress.rows, progress.expected) == ("running", 500, 1000)
    assert progress.percent == 55 and not progress.ended
    choices = filter_choices(catalogued)
    assert "marketing" in choices.applications
    assert [value for value, _ in choices.entities] == ["user-user_id"]
