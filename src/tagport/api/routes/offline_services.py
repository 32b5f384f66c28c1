"""`/api/v1/offline-services`: the task list, a task's draft and published versions, and the
actions of its page (mapping, table creation, publish, run, backfill …).

A task's GET answers an `ETag`; a PUT or DELETE with a stale `If-Match` is refused (409
`task.concurrent_change`). `run` and `backfill` accept an `Idempotency-Key`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Path, Query, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tagport.api.deps import Caller, State
from tagport.api.idempotency import IdempotencyKey, once
from tagport.api.routes.instances import BackfillOut, InstanceOut
from tagport.api.routing import Router
from tagport.api.schemas import PageOut, page_request
from tagport.domain.catalog import DataSourceType
from tagport.domain.dates import default_bizdate
from tagport.domain.documents import parse_spec
from tagport.domain.states import ExecutionStatus, ScheduleType, TaskStatus
from tagport.domain.tasks import OfflineServiceSpec
from tagport.errors import InvalidInput
from tagport.services import instances, publication, targets, task_mapping, tasks
from tagport.store.paging import Page, PageRequest
from tagport.store.tables import utcnow

router = Router(prefix="/offline-services", tags=["offline services"])

Name = Annotated[str, Path(min_length=1, max_length=64)]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=128, description="The ETag of the task as last read."),
]
Wait = Annotated[
    bool, Query(description="Complete it now (checks run in this request), not in the server.")
]
Document = Annotated[
    dict[str, Any], Body(description="The OfflineService document, as in YAML (without kind).")
]


class TaskOut(BaseModel):
    """One line of the task list; `actions` are those the caller may take now."""

    name: str
    owner: str
    application: str
    audience: str
    entity: str
    entity_id: str
    status: TaskStatus
    execution_status: ExecutionStatus
    target_table: str
    datasource: str
    target_type: str
    schema_: str | None = Field(alias="schema", serialization_alias="schema")
    schedule_type: ScheduleType
    actions: list[str]
    failure_reasons: list[str]
    schedule_state: str | None
    warnings: list[str]


class TaskDetailOut(BaseModel):
    """A task: its draft and published versions side by side, status and allowed actions."""

    name: str
    status: TaskStatus
    execution_status: ExecutionStatus
    draft: dict[str, Any]
    published: dict[str, Any] | None
    draft_revision: int
    published_revision: int | None
    unpublished_changes: list[str]
    failure_reasons: list[str]
    actions: list[str]
    etag: str


class DdlOut(BaseModel):
    sql: str


class CreateTableIn(BaseModel):
    sql: str | None = Field(
        default=None, max_length=100_000, description="The edited statement (default: generated)."
    )


class RunIn(BaseModel):
    bizdate: date | None = Field(default=None, description="Default: yesterday.")


class BackfillIn(BaseModel):
    first_bizdate: date | None = Field(default=None, alias="from", description="Default T-1.")
    last_bizdate: date | None = Field(default=None, alias="to", description="Default T-1.")
    groups: int = Field(default=1, ge=1, le=instances.MAX_BACKFILL_GROUPS)


def _detail(caller: Caller, name: str, response: Response | None = None) -> TaskDetailOut:
    detail = tasks.task_detail(caller.db, caller.actor, name)
    if response is not None:
        response.headers["ETag"] = f'"{detail.etag}"'
    return TaskDetailOut(**asdict(detail))


def _spec(document: dict[str, Any], name: str | None = None) -> OfflineServiceSpec:
    """The document as a spec; on a PUT its name must be the path's (or left out)."""
    fields = {k: v for k, v in document.items() if k != "kind"}
    if name is not None and fields.setdefault("name", name) != name:
        raise InvalidInput.one("", "name", f"must be {name!r} (the task in the path)")
    spec = parse_spec({"kind": "OfflineService", **fields}, "offline service")
    assert isinstance(spec, OfflineServiceSpec)
    return spec


def _value(choice: StrEnum | None) -> str | None:
    return choice.value if choice is not None else None


@router.get("", response_model=PageOut[TaskOut])
async def list_offline_services(
    caller: Caller,
    state: State,
    paging: Annotated[PageRequest, Depends(page_request)],
    mine: Annotated[bool, Query(description="Only tasks I own.")] = False,
    name: Annotated[str | None, Query(max_length=64, description="Name contains.")] = None,
    owner: Annotated[str | None, Query(max_length=64, description="Owner's login.")] = None,
    application: Annotated[str | None, Query(max_length=64)] = None,
    entity: Annotated[
        str | None, Query(max_length=200, description="Entity code, or `code-idfield`.")
    ] = None,
    target_type: Annotated[DataSourceType | None, Query()] = None,
    datasource: Annotated[
        str | None, Query(max_length=64, description="Target data source name.")
    ] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
    execution_status: Annotated[ExecutionStatus | None, Query()] = None,
    schedule_type: Annotated[ScheduleType | None, Query()] = None,
) -> Response:
    """The task list with every filter of the console; sort by name, status, schedule_type,
    target_type, created_at or updated_at."""
    where = tasks.TaskFilter(
        mine=mine,
        name=name,
        owner=owner,
        application=application,
        entity=entity,
        target_type=_value(target_type),
        datasource=datasource,
        status=_value(status),
        execution_status=_value(execution_status),
        schedule_type=_value(schedule_type),
    )

    async def build() -> tuple[bytes, datetime]:
        listed = await run_in_threadpool(
            tasks.listed_tasks, caller.db, caller.actor, where, paging, caller.settings.tz
        )
        return _task_page_json(listed.page), listed.changes_at

    # Kept pages are answered here, in the event loop; a page is built in a worker thread.
    key = (caller.actor, where, paging, caller.settings.timezone)
    return Response(await state.pages.answer(caller.db, key, build), media_type="application/json")


def _task_page_json(page: Page[tasks.TaskRow]) -> bytes:
    """The page as `PageOut[TaskOut]` JSON, validated in one call."""
    out = PageOut[TaskOut].model_validate(
        {
            "items": [vars(row) for row in page.items],
            "total": page.total,
            "page": page.page,
            "size": page.size,
            "next_cursor": page.next_cursor,
        }
    )
    return out.model_dump_json(by_alias=True).encode()


@router.post("", status_code=201)
def create_offline_service(caller: Caller, document: Document, response: Response) -> TaskDetailOut:
    """Create a task (status editing) from its document."""
    detail = tasks.create_task(caller.db, caller.actor, _spec(document))
    response.headers["ETag"] = f'"{detail.etag}"'
    return TaskDetailOut(**asdict(detail))


@router.get("/{name}")
def get_offline_service(caller: Caller, name: Name, response: Response) -> TaskDetailOut:
    """A task: draft and published version, status, failure reasons, unpublished changes."""
    return _detail(caller, name, response)


@router.put("/{name}")
def edit_offline_service(
    caller: Caller, name: Name, document: Document, response: Response, if_match: IfMatch = None
) -> TaskDetailOut:
    """Save the draft; a live task keeps running its published version until published."""
    detail = tasks.edit_task(caller.db, caller.actor, _spec(document, name), if_match)
    response.headers["ETag"] = f'"{detail.etag}"'
    return TaskDetailOut(**asdict(detail))


@router.delete("/{name}", status_code=204)
def delete_offline_service(caller: Caller, name: Name, if_match: IfMatch = None) -> None:
    """Delete an offline or publish-failed task."""
    tasks.delete_task(caller.db, caller.actor, name, if_match)


@router.post("/{name}/same-name-mapping")
def map_by_same_name(caller: Caller, name: Name, response: Response) -> TaskDetailOut:
    """Map each exported field to the target column of the same name, explicitly."""
    task_mapping.same_name_mapping(caller.db, caller.settings, caller.actor, name)
    return _detail(caller, name, response)


@router.post("/{name}/purge-mapping")
def purge_mapping(caller: Caller, name: Name, response: Response) -> TaskDetailOut:
    """Drop the explicit mapping: fields map by same name when the task runs."""
    task_mapping.purge_mapping(caller.db, caller.actor, name)
    return _detail(caller, name, response)


@router.get("/{name}/ddl")
def get_ddl(caller: Caller, name: Name) -> DdlOut:
    """The CREATE TABLE statement one-click creation would run (edit it, then create-table)."""
    return DdlOut(sql=targets.generate_ddl(caller.db, caller.settings, name, actor=caller.actor))


@router.post("/{name}/create-table")
def create_table(
    caller: Caller, name: Name, body: CreateTableIn, response: Response
) -> TaskDetailOut:
    """Create the target table, grant the caller write on it, map the draft by same name."""
    targets.create_table(caller.db, caller.settings, caller.actor, name, body.sql)
    return _detail(caller, name, response)


@router.post("/{name}/publish")
def publish(caller: Caller, name: Name, response: Response, wait: Wait = False) -> TaskDetailOut:
    """Publish the draft: `publishing`, then `published` or `publish_failed` with reasons."""
    if wait:
        publication.publish_now(caller.db, caller.actor, name, caller.targets.describe)
    else:
        publication.request_publish(caller.db, caller.actor, name)
    return _detail(caller, name, response)


@router.post("/{name}/unpublish")
def unpublish(caller: Caller, name: Name, response: Response, wait: Wait = False) -> TaskDetailOut:
    """Take the task offline; its waiting instances are terminated."""
    if wait:
        publication.unpublish_now(caller.db, caller.actor, name)
    else:
        publication.request_unpublish(caller.db, caller.actor, name)
    return _detail(caller, name, response)


def _bizdate(caller: Caller, day: date | None) -> date:
    return day or default_bizdate(utcnow(), caller.settings.tz)


@router.post("/{name}/run", status_code=201, response_model=InstanceOut)
def run(caller: Caller, name: Name, body: RunIn, idempotency_key: IdempotencyKey = None) -> Any:
    """Run a published manual task for one data timestamp: a new waiting instance."""

    def act() -> InstanceOut:
        day = _bizdate(caller, body.bizdate)
        created = instances.run(caller.db, caller.actor, name, day, caller.settings.tz)
        return InstanceOut.of(instances.show(caller.db, created, actor=caller.actor))

    request = ("POST", f"/offline-services/{name}/run", body)
    return once(caller, idempotency_key, request, 201, act)


@router.post("/{name}/backfill", status_code=201, response_model=BackfillOut)
def backfill(
    caller: Caller, name: Name, body: BackfillIn, idempotency_key: IdempotencyKey = None
) -> Any:
    """Backfill a published recurring task over a range of data timestamps, in groups."""

    def act() -> BackfillOut:
        first = _bizdate(caller, body.first_bizdate)
        last = _bizdate(caller, body.last_bizdate)
        made = instances.backfill(
            caller.db, caller.actor, name, first, last, body.groups, caller.settings.tz
        )
        return BackfillOut.of(instances.backfill_view(caller.db, caller.actor, made))

    request = ("POST", f"/offline-services/{name}/backfill", body)
    return once(caller, idempotency_key, request, 201, act)
