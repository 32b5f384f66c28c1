"""`/api/v1/instances` and `/api/v1/backfills`: runs of tasks, their logs (paged, from the
tail, or followed live as Server-Sent Events), reruns and termination."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.api.schemas import PageOut, RowId, page_request
from tagport.domain.states import ExecutionStatus, InstanceStatus
from tagport.domain.values import MAX_ROW_ID
from tagport.services import instance_logs, instances
from tagport.services.instances import BackfillView, InstanceView
from tagport.store.paging import PageRequest

router = Router(tags=["instances"])

MAX_ID = MAX_ROW_ID
BigId = RowId
FOLLOW_POLL_SECONDS = 0.5


class InstanceOut(BaseModel):
    id: int
    task: str
    bizdate: date
    trigger: str
    status: InstanceStatus
    attempts: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    seconds: float | None
    rows: int | None
    bytes: int | None
    error: str | None
    backfill_id: int | None
    backfill_group: int | None

    @classmethod
    def of(cls, view: InstanceView) -> InstanceOut:
        return cls(**asdict(view))


class BackfillOut(BaseModel):
    id: int
    task: str
    first_bizdate: date
    last_bizdate: date
    groups: int
    status: ExecutionStatus
    instances: list[InstanceOut]

    @classmethod
    def of(cls, view: BackfillView) -> BackfillOut:
        fields = asdict(view) | {"instances": [InstanceOut.of(i) for i in view.instances]}
        return cls(**fields)


class LogLineOut(BaseModel):
    id: int
    at: datetime
    attempt: int
    level: str
    message: str


class LogOut(BaseModel):
    lines: list[LogLineOut]
    status: InstanceStatus
    ended: bool
    next_after: int | None


@router.get("/instances")
def list_instances(
    caller: Caller,
    paging: Annotated[PageRequest, Depends(page_request)],
    task: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[InstanceStatus | None, Query()] = None,
    trigger: Annotated[str | None, Query(pattern="^(schedule|run|backfill)$")] = None,
    bizdate_from: Annotated[date | None, Query(alias="from")] = None,
    bizdate_to: Annotated[date | None, Query(alias="to")] = None,
    backfill_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> PageOut[InstanceOut]:
    """Instances of the tasks the caller may see, newest first (sort: bizdate, status,
    created_at, started_at)."""
    where = instances.InstanceFilter(
        task, status.value if status else None, trigger, bizdate_from, bizdate_to, backfill_id
    )
    page = instances.instance_page(caller.db, caller.actor, where, paging)
    return PageOut[InstanceOut](
        items=[InstanceOut.of(v) for v in page.items],
        total=page.total,
        page=page.page,
        size=page.size,
        next_cursor=page.next_cursor,
    )


@router.get("/instances/{instance_id}")
def get_instance(caller: Caller, instance_id: BigId) -> InstanceOut:
    return InstanceOut.of(instances.show(caller.db, instance_id, actor=caller.actor))


@router.post("/instances/{instance_id}/rerun")
def rerun_instance(caller: Caller, instance_id: BigId) -> InstanceOut:
    """Queue a succeeded or failed instance again."""
    instances.rerun(caller.db, caller.actor, instance_id)
    return InstanceOut.of(instances.show(caller.db, instance_id, actor=caller.actor))


@router.post("/instances/{instance_id}/terminate")
def terminate_instance(caller: Caller, instance_id: BigId) -> InstanceOut:
    """Fail a waiting or running instance ("terminated"); a worker stops at its heartbeat."""
    instances.terminate(caller.db, caller.actor, instance_id)
    return InstanceOut.of(instances.show(caller.db, instance_id, actor=caller.actor))


@router.get("/backfills/{backfill_id}")
def get_backfill(caller: Caller, backfill_id: BigId) -> BackfillOut:
    """A backfill's overall status and its instances."""
    return BackfillOut.of(instances.backfill_view(caller.db, caller.actor, backfill_id))


def _log_out(page: instance_logs.LogPage) -> LogOut:
    return LogOut(
        lines=[LogLineOut(**asdict(line)) for line in page.lines],
        status=InstanceStatus(page.status),
        ended=page.ended,
        next_after=page.next_after,
    )


@router.get(
    "/instances/{instance_id}/log",
    responses={200: {"content": {"text/event-stream": {}}}},
)
def get_log(
    caller: Caller,
    instance_id: BigId,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Lines after this id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=instance_logs.MAX_LINES)] = instance_logs.MAX_LINES,
    tail: Annotated[
        int | None, Query(ge=1, le=instance_logs.MAX_LINES, description="The last N lines.")
    ] = None,
    follow: Annotated[
        bool, Query(description="Stream lines as Server-Sent Events until the instance ends.")
    ] = False,
) -> Any:
    """The instance's log, secrets masked: paged by `after`, or the last `tail` lines; with
    `follow`, `line` events as lines are written, then one `done` event with the end status."""
    page = instance_logs.read_log(
        caller.db, caller.settings, caller.actor, instance_id, after=after, limit=limit, tail=tail
    )
    if not follow:
        return _log_out(page)
    return EventSourceResponse(_follow(caller, instance_id, page), ping=15)


async def _follow(
    caller: Caller, instance_id: int, page: instance_logs.LogPage
) -> AsyncIterator[ServerSentEvent]:
    """Send each page's lines, polling the log in a thread, until the instance has ended and
    its last lines are sent (a client that leaves cancels this)."""
    while True:
        for line in page.lines:
            yield ServerSentEvent(
                data=LogLineOut(**asdict(line)).model_dump_json(), event="line", id=str(line.id)
            )
        if page.ended and len(page.lines) < instance_logs.MAX_LINES:
            done: dict[str, Any] = {"status": page.status}
            yield ServerSentEvent(data=json.dumps(done), event="done")
            return
        await asyncio.sleep(0 if page.lines else FOLLOW_POLL_SECONDS)
        page = await run_in_threadpool(
            instance_logs.read_log,
            caller.db,
            caller.settings,
            caller.actor,
            instance_id,
            after=page.next_after or 0,
        )
