"""Offline services (tasks): the draft configuration, its checks and its status.

Publishing, running and backfilling build on this module; here a task is created, edited and
deleted under the rules of DESIGN §3.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, ScalarSelect, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from tagport.domain.catalog import SCHEMA_TYPES, DataSourceType, ServiceKind
from tagport.domain.dates import default_bizdate
from tagport.domain.naming import TASK_NAME, codename_field
from tagport.domain.states import (
    EXPIRY_WARNING_DAYS,
    ExecutionStatus,
    InstanceStatus,
    ScheduleType,
    TaskAction,
    TaskEvent,
    TaskStatus,
    execution_status,
    next_task_status,
    require_task_action,
    task_actions,
)
from tagport.domain.tasks import OfflineServiceSpec, Output, Schedule, version_changes
from tagport.errors import Conflict, InvalidInput, NotFound, Problem
from tagport.services.catalog import Checks, KindService, delete, upsert
from tagport.services.permissions import (
    Action,
    Actor,
    Memberships,
    Scope,
    may,
    memberships,
    rule_for,
)
from tagport.services.table_permissions import (
    TableRef,
    refusal_among,
    verdict_changes,
    warning_among,
)
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.store.paging import MAX_SIZE, Page, PageRequest, fetch_page


def stored(spec: OfflineServiceSpec) -> dict[str, Any]:
    """The JSON document a task version is kept as."""
    return spec.model_dump(mode="json", by_alias=True, exclude={"password"})


class OfflineServiceKind(KindService[OfflineServiceSpec, t.OfflineService]):
    spec = OfflineServiceSpec
    row = t.OfflineService
    key_name = "name"

    def to_spec(self, session: Session, row: t.OfflineService) -> OfflineServiceSpec:
        return OfflineServiceSpec.model_validate(row.draft)

    def check(self, checks: Checks, spec: OfflineServiceSpec, row: t.OfflineService | None) -> None:
        app = checks.ref(
            t.Application, t.Application.name, spec.application, "application", "application"
        )
        if app is not None and ServiceKind.AUDIENCE_OFFLINE.value not in app.services:
            checks.fail(
                "application",
                f"{app.name} is not associated with the audience "
                "offline service (services: [audience_offline])",
            )
        checks.ref(t.User, t.User.login, spec.owner, "owner", "user")
        audience = checks.ref(
            t.AudienceGroup, t.AudienceGroup.code, spec.audience, "audience", "audience group"
        )
        source = self._source_fields(checks, spec, audience)
        ds = checks.ref(
            t.DataSource,
            t.DataSource.name,
            spec.target.datasource,
            "target.datasource",
            "data source",
        )
        if ds is not None and spec.target.schema_ and DataSourceType(ds.type) not in SCHEMA_TYPES:
            checks.fail("target.schema", f"a {ds.type} data source has no schemas")
        if ds is not None and spec.target.partition_field and not _partitioned(ds):
            checks.fail(
                "target.partition_field",
                f"{spec.target.partition_field}: a {ds.type} target is never partitioned; "
                "remove the partition field",
            )
        if source is not None and isinstance(spec.mapping, list):
            lowered = {f.lower() for f in source}
            for i, m in enumerate(spec.mapping):
                if m.source.lower() not in lowered:
                    checks.fail(
                        f"mapping[{i}].source",
                        f"{m.source!r} is not exported; exported fields: {', '.join(source)}",
                    )
        if row is not None:
            self._immutable(checks, spec, row, ds)

    def _source_fields(
        self, checks: Checks, spec: OfflineServiceSpec, audience: t.AudienceGroup | None
    ) -> list[str] | None:
        """Check the exported tags; return the fields the export will produce."""
        if audience is None:
            return None
        entity = audience.entity
        for i, output in enumerate(spec.tags):
            tag = checks.session.scalar(select(t.Tag).where(t.Tag.code == output.tag))
            where = f"tags[{i}]"
            if tag is None:
                checks.fail(where, f"tag {output.tag!r} does not exist")
            elif tag.entity_id != entity.id:
                checks.fail(
                    where,
                    f"tag {tag.code} belongs to entity {tag.entity.code}; "
                    f"audience {audience.code} is of entity {entity.code}",
                )
            elif Output.CODENAME in output.outputs and tag.lookup_id is None:
                checks.fail(
                    f"{where}.outputs",
                    f"tag {tag.code} has no lookup table, so no {codename_field(tag.code)}",
                )
            if output.tag == entity.id_field or codename_field(output.tag) == entity.id_field:
                checks.fail(where, f"clashes with the entity ID field {entity.id_field}")
        return spec.source_fields(entity.id_field)

    def _immutable(
        self,
        checks: Checks,
        spec: OfflineServiceSpec,
        row: t.OfflineService,
        ds: t.DataSource | None,
    ) -> None:
        # Editing while publishing or unpublishing is a conflict with the task's state, not an
        # input problem: raised, so that it keeps its class (and exit code).
        require_task_action(
            TaskStatus(row.status), ScheduleType(row.schedule_type), TaskAction.EDIT
        )
        if spec.schedule.type.value != row.schedule_type:
            checks.fail("schedule.type", f"cannot change after creation (is {row.schedule_type})")
        if ds is not None and ds.type != row.target_type:
            checks.fail(
                "target.datasource",
                f"the target data source type cannot change "
                f"(is {row.target_type}, {ds.name} is {ds.type})",
            )
        if spec.loading_policy.value != self.to_spec(checks.session, row).loading_policy.value:
            checks.fail("loading_policy", "cannot change after creation")

    def scope(
        self, session: Session, spec: OfflineServiceSpec, row: t.OfflineService | None
    ) -> Scope:
        new = session.scalar(select(t.Application.id).where(t.Application.name == spec.application))
        old = row.application_id if row is not None else None
        return Scope(
            row.owner_id if row is not None else None,
            applications=frozenset(a for a in (old, new) if a is not None),
        )

    def write(
        self, session: Session, spec: OfflineServiceSpec, row: t.OfflineService | None
    ) -> t.OfflineService:
        ds = session.scalars(
            select(t.DataSource).where(t.DataSource.name == spec.target.datasource)
        ).one()
        if row is None:
            row = t.OfflineService(
                name=spec.name,
                status=TaskStatus.EDITING.value,
                schedule_type=spec.schedule.type.value,
                target_type=ds.type,
                draft_revision=0,
            )
        else:
            row.status = next_task_status(TaskStatus(row.status), TaskEvent.SAVE).value
        row.application = session.scalars(
            select(t.Application).where(t.Application.name == spec.application)
        ).one()
        row.owner = session.scalars(select(t.User).where(t.User.login == spec.owner)).one()
        row.draft = stored(spec)
        row.draft_revision += 1
        session.add(row)
        return row

    def before_delete(self, session: Session, row: t.OfflineService) -> None:
        require_task_action(
            TaskStatus(row.status), ScheduleType(row.schedule_type), TaskAction.DELETE
        )

    def details(self, session: Session, row: t.OfflineService) -> dict[str, Any]:
        latest = _latest_statuses(session, row.id).get(row.id)
        status = TaskStatus(row.status)
        return {
            "status": status.value,
            "execution_status": execution_status(InstanceStatus(latest) if latest else None).value,
            "target_type": row.target_type,
            "draft_revision": row.draft_revision,
            "published_revision": row.published_revision,
            "unpublished_changes": (
                version_changes(row.published, row.draft) if row.published is not None else []
            ),
            "failure_reasons": list(row.publish_errors or []),
            "actions": sorted(
                a.value for a in task_actions(status, ScheduleType(row.schedule_type))
            ),
        } | super().details(session, row)


VIEW_ACTIONS = frozenset({TaskAction.DETAILS, TaskAction.INSTANCES})
"""What a task offers those who may see it but not change it."""


def allowed_actions(
    session: Session, actor: Actor, task: t.OfflineService, known: Memberships | None = None
) -> list[str]:
    """The actions `actor` may take on `task` now: offered in its status and, beyond looking,
    allowed by the matrix (who may change a task may publish, run and delete it)."""
    offered = task_actions(TaskStatus(task.status), ScheduleType(task.schedule_type))
    if not may_change(session, actor, task.owner_id, task.application_id, known):
        offered &= VIEW_ACTIONS
    return sorted(a.value for a in offered)


def may_change(
    session: Session,
    actor: Actor,
    owner_id: int | None,
    application_id: int,
    known: Memberships | None = None,
) -> bool:
    """Whether `actor` may change a task of this owner and application, and so publish, run,
    delete it and act on its instances."""
    scope = Scope(owner_id, applications=frozenset({application_id}))
    return may(session, actor, rule_for("OfflineService", Action.CHANGE), scope, known)


def _partitioned(ds: t.DataSource) -> bool:
    """Whether the data source's tables may be partitioned (AnalyticDB PG: never)."""
    from tagport.targets import target_class  # the drivers' layer: only when checking a task

    return target_class(DataSourceType(ds.type)).capabilities.partitioned_tables


@dataclass(frozen=True)
class TaskFilter:
    """The task list's filters (DESIGN §3); None means any."""

    mine: bool = False
    name: str | None = None
    application: str | None = None
    entity: str | None = None
    target_type: str | None = None
    status: str | None = None
    execution_status: str | None = None
    schedule_type: str | None = None
    owner: str | None = None
    """Owner's login."""
    datasource: str | None = None
    """Target data source's name."""

    def __post_init__(self) -> None:
        """Refuse a value no task can have: an empty list would hide the typo."""
        problems = [
            Problem(
                "task list", field, f"{value!r} is not one of {', '.join(e.value for e in enum)}"
            )
            for field, enum in _FILTER_VALUES.items()
            if (value := getattr(self, field)) is not None and value not in set(enum)
        ]
        if problems:
            raise InvalidInput(problems)


_FILTER_VALUES: dict[str, type[StrEnum]] = {
    "target_type": DataSourceType,
    "status": TaskStatus,
    "execution_status": ExecutionStatus,
    "schedule_type": ScheduleType,
}
"""Filters whose values come from a fixed set."""
UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class TaskRow:
    """One line of the task list: what the console's table shows, actions included."""

    name: str
    owner: str
    application: str
    audience: str
    entity: str
    entity_id: str
    status: str
    execution_status: str
    target_table: str
    datasource: str
    target_type: str
    schema: str | None
    schedule_type: str
    actions: list[str]
    failure_reasons: list[str]
    """Why the last publish or unpublish failed (empty when it did not)."""
    schedule_state: str | None
    """Why a recurring task creates no runs now (before its first or after its last data
    timestamp), else None."""
    warnings: list[str]
    """What will make the next run fail: a write permission gone or ending within a week."""


def _latest_statuses(
    session: Session, service_id: int | None = None, *, ids: list[int] | None = None
) -> dict[int, str]:
    """The status of each task's latest instance (the last created), by task id; one task's
    with `service_id`, those of `ids`. The list and a task's details share it so they never
    disagree."""
    last = select(t.Instance.service_id, func.max(t.Instance.id).label("id"))
    if service_id is not None:
        last = last.where(t.Instance.service_id == service_id)
    if ids is not None:
        last = last.where(t.Instance.service_id.in_(ids))
    latest = last.group_by(t.Instance.service_id).subquery()
    rows = session.execute(
        select(t.Instance.service_id, t.Instance.status).join(latest, latest.c.id == t.Instance.id)
    )
    return {row[0]: row[1] for row in rows}


TASK_SORTS = {
    "name": t.OfflineService.name,
    "status": t.OfflineService.status,
    "schedule_type": t.OfflineService.schedule_type,
    "target_type": t.OfflineService.target_type,
    "created_at": t.OfflineService.created_at,
    "updated_at": t.OfflineService.updated_at,
}
"""The columns a task list may be sorted by (besides id)."""


def list_tasks(db: Database, actor: Actor, where: TaskFilter, tz: ZoneInfo = UTC) -> list[TaskRow]:
    """The whole task list by name (the CLI): every page of `task_page`."""
    rows: list[TaskRow] = []
    number = 1
    while True:
        page = task_page(db, actor, where, PageRequest(number, MAX_SIZE, "name"), tz)
        rows += page.items
        if len(rows) >= page.total or not page.items:
            return rows
        number += 1


def task_page(
    db: Database, actor: Actor, where: TaskFilter, request: PageRequest, tz: ZoneInfo = UTC
) -> Page[TaskRow]:
    """One page of the task list, filtered, sorted and paged in SQL with its total; only tasks
    `actor` may see; the execution status is the latest instance's. Schedules are judged by
    today's default data timestamp in `tz`; `actions` are those the actor may take now."""
    return listed_tasks(db, actor, where, request, tz).page


@dataclass(frozen=True)
class TaskList:
    """A page of the task list and how long its time-dependent values hold."""

    page: Page[TaskRow]
    changes_at: datetime
    """When a row's time-dependent values (a permission warning, a schedule's window) may
    read otherwise with no write to the database: a copy of the page is good until then."""


def listed_tasks(
    db: Database, actor: Actor, where: TaskFilter, request: PageRequest, tz: ZoneInfo = UTC
) -> TaskList:
    """`task_page`, with the moment its time-dependent values change. One query reads the
    page's rows (owner, application and latest instance status included) and one its total,
    then one each the audiences' entities, the actor's memberships and the owners'
    permissions (the last two only for those who are not super admins)."""
    now = t.utcnow()
    with db.uow() as uow:
        session = uow.session
        query = _filtered(session, actor, where).with_only_columns(*_LIST_COLUMNS)
        found = fetch_page(session, query, t.OfflineService.id, TASK_SORTS, request)
        rows = [_ListRow(*values) for values in found.items]
        known = None if actor.is_super_admin else memberships(session, actor)
        warnings, changes_at = _page_warnings(session, rows, now)
        context = _ListContext(
            entities=_entities_of(session, {row.audience for row in rows}),
            latest_due=default_bizdate(now, tz),
            actions=lambda row: _row_actions(session, actor, row, known),
            warnings=warnings,
        )
        items = [_task_row(row, context) for row in rows]
    page = Page(items, found.total, found.page, found.size, found.next_cursor)
    # The default data timestamp (schedule windows) moves at midnight in `tz`.
    midnight = datetime.combine(now.astimezone(tz).date() + timedelta(days=1), time(), tz)
    return TaskList(page, min(changes_at or midnight, midnight))


def _filtered(session: Session, actor: Actor, where: TaskFilter) -> Select[Any]:
    """The tasks `where` keeps that `actor` may see (the VIEW rule of WHO_MAY, in SQL)."""
    task = t.OfflineService
    query = select(task)
    if not actor.is_super_admin:
        query = query.where(task.id.in_(visible_task_ids(actor)))
    if where.mine:
        query = query.where(task.owner_id == actor.id)
    if where.owner:
        query = query.where(task.owner_id.in_(select(t.User.id).where(t.User.login == where.owner)))
    if where.application:
        apps = select(t.Application.id).where(t.Application.name == where.application)
        query = query.where(task.application_id.in_(apps))
    if where.name:
        query = query.where(func.lower(task.name).contains(where.name.lower(), autoescape=True))
    for column, value in (
        (task.target_type, where.target_type),
        (task.status, where.status),
        (task.schedule_type, where.schedule_type),
        (task.draft[("target", "datasource")].as_string(), where.datasource),
    ):
        if value:
            query = query.where(column == value)
    if where.entity:
        query = query.where(task.draft["audience"].as_string().in_(_audiences_of(where.entity)))
    if where.execution_status:
        query = query.where(_latest_status_is(ExecutionStatus(where.execution_status)))
    return query


def visible_task_ids(actor: Actor) -> Select[Any]:
    """Ids of the tasks a non-super-admin `actor` may see: owned, or of an application they
    belong to (the VIEW rule of WHO_MAY, as SQL)."""
    member_of = select(t.ApplicationMember.application_id).where(
        t.ApplicationMember.user_id == actor.id
    )
    task = t.OfflineService
    return select(task.id).where(or_(task.owner_id == actor.id, task.application_id.in_(member_of)))


def _audiences_of(entity: str) -> Select[Any]:
    """Codes of the audiences of an entity named `code` or `code-idfield`."""
    named = or_(
        t.Entity.code == entity,
        (t.Entity.code + "-" + t.Entity.id_field) == entity,
    )
    return (
        select(t.AudienceGroup.code)
        .join(t.Entity, t.Entity.id == t.AudienceGroup.entity_id)
        .where(named)
    )


def _latest_status_is(status: ExecutionStatus) -> ColumnElement[bool]:
    """The task's latest instance has `status` (not run: it has none)."""
    latest = (
        select(t.Instance.status)
        .where(t.Instance.service_id == t.OfflineService.id)
        .order_by(t.Instance.id.desc())
        .limit(1)
        .correlate(t.OfflineService)
        .scalar_subquery()
    )
    if status is ExecutionStatus.NOT_RUN:
        return ~exists().where(t.Instance.service_id == t.OfflineService.id)
    condition: ColumnElement[bool] = latest == status.value
    return condition


def _owner_column(column: Any) -> ScalarSelect[Any]:
    return select(column).where(t.User.id == t.OfflineService.owner_id).scalar_subquery()


class _ListRow(NamedTuple):
    """What the task list reads of one task: plain columns and JSON fields, no documents."""

    id: int
    name: str
    status: str
    schedule_type: str
    target_type: str
    owner_id: int
    application_id: int
    publish_errors: list[str] | None
    owner: str
    owner_is_super_admin: bool
    application: str
    latest: str | None
    audience: str
    target: dict[str, Any]
    schedule: dict[str, Any]
    published_target: dict[str, Any] | None


_TASK = t.OfflineService
_LIST_COLUMNS = (
    # In _ListRow's order.
    _TASK.id,
    _TASK.name,
    _TASK.status,
    _TASK.schedule_type,
    _TASK.target_type,
    _TASK.owner_id,
    _TASK.application_id,
    _TASK.publish_errors,
    _owner_column(t.User.login),
    _owner_column(t.User.is_super_admin),
    select(t.Application.name).where(t.Application.id == _TASK.application_id).scalar_subquery(),
    # The latest instance's status: one probe of ix_instances_service_id_id per task.
    select(t.Instance.status)
    .where(t.Instance.service_id == _TASK.id)
    .order_by(t.Instance.id.desc())
    .limit(1)
    .scalar_subquery(),
    # Parts of the documents, not the documents: PostgreSQL parses a json column once per
    # extraction, and the client would parse whole documents.
    _TASK.draft["audience"].as_string(),
    _TASK.draft["target"],
    _TASK.draft["schedule"],
    _TASK.published["target"],
)


@dataclass(frozen=True)
class _ListContext:
    """What every row of one task list is computed against."""

    entities: dict[str, tuple[str, str]]
    """Audience code -> (entity code, entity ID field)."""
    latest_due: date
    actions: Callable[[_ListRow], list[str]]
    warnings: dict[int, list[str]]
    """Task id -> its permission warnings (absent: none)."""


def _entities_of(session: Session, audiences: set[str]) -> dict[str, tuple[str, str]]:
    found = session.execute(
        select(t.AudienceGroup.code, t.Entity.code, t.Entity.id_field)
        .join(t.Entity, t.Entity.id == t.AudienceGroup.entity_id)
        .where(t.AudienceGroup.code.in_(audiences))
    )
    return {code: (entity, id_field) for code, entity, id_field in found}


def _row_actions(
    session: Session, actor: Actor, row: _ListRow, known: Memberships | None
) -> list[str]:
    offered = task_actions(TaskStatus(row.status), ScheduleType(row.schedule_type))
    scope = Scope(row.owner_id, applications=frozenset({row.application_id}))
    if not may(session, actor, rule_for("OfflineService", Action.CHANGE), scope, known):
        offered &= VIEW_ACTIONS
    return sorted(a.value for a in offered)


def _task_row(row: _ListRow, context: _ListContext) -> TaskRow:
    entity, entity_id = context.entities.get(row.audience, ("", ""))
    recurring = row.schedule_type == ScheduleType.RECURRING.value
    return TaskRow(
        name=row.name,
        owner=row.owner,
        application=row.application,
        audience=row.audience,
        entity=entity,
        entity_id=entity_id,
        status=row.status,
        execution_status=execution_status(InstanceStatus(row.latest) if row.latest else None).value,
        target_table=row.target.get("table") or "",
        datasource=row.target["datasource"],
        target_type=row.target_type,
        schema=row.target.get("schema"),
        schedule_type=row.schedule_type,
        actions=context.actions(row),
        failure_reasons=list(row.publish_errors or []),
        schedule_state=_window(row).window_state(context.latest_due) if recurring else None,
        warnings=context.warnings.get(row.id, []),
    )


def _window(row: _ListRow) -> Schedule:
    """The draft's schedule window (stored valid: its dates need no checks again)."""
    first, last = row.schedule.get("first_bizdate"), row.schedule.get("last_bizdate")
    return Schedule.model_construct(
        first_bizdate=date.fromisoformat(first) if first else None,
        last_bizdate=date.fromisoformat(last) if last else None,
    )


def _published_ref(row: _ListRow) -> TableRef | None:
    """The table a live task writes (None: a draft, or published without a table)."""
    target = row.published_target
    if target is None or not target.get("table"):
        return None
    return TableRef(target["datasource"], target.get("schema") or "", target["table"])


def _page_warnings(
    session: Session, rows: list[_ListRow], now: datetime
) -> tuple[dict[int, list[str]], datetime | None]:
    """For each live task whose owner's write permission is gone or ends within a week, that
    warning (by task id); and when any of them may change. One query for the whole page."""
    judged = [
        (row, ref)
        for row in rows
        if not row.owner_is_super_admin and (ref := _published_ref(row)) is not None
    ]
    if not judged:
        return {}, None
    held: dict[tuple[int, str, str, str], list[t.TablePermission]] = {}
    for permission, datasource in session.execute(
        select(t.TablePermission, t.DataSource.name)
        .join(t.DataSource, t.DataSource.id == t.TablePermission.datasource_id)
        .where(
            t.TablePermission.user_id.in_({row.owner_id for row, _ in judged}),
            t.DataSource.name.in_({ref.datasource for _, ref in judged}),
        )
    ):
        key = (permission.user_id, datasource, permission.schema_name, permission.table_name)
        held.setdefault(key, []).append(permission)
    within = timedelta(days=EXPIRY_WARNING_DAYS)
    warnings: dict[int, list[str]] = {}
    for row, ref in judged:
        mine = held.get((row.owner_id, ref.datasource, ref.schema, ref.table), [])
        refusal = refusal_among(mine, row.owner, ref, now)
        soon = None if refusal else warning_among(mine, row.owner, ref, now, within)
        if refusal or soon:
            warnings[row.id] = [str(refusal or soon)]
    moments = [verdict_changes(p, now, within) for p in held.values()]
    return warnings, min((m for m in moments if m is not None), default=None)


def etag(task: t.OfflineService) -> str:
    """A hash of the draft and the status: it changes with every save, publish or unpublish."""
    document = json.dumps({"draft": task.draft, "status": task.status}, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class TaskDetail:
    """A task as its page shows it: draft and published versions side by side."""

    name: str
    status: str
    execution_status: str
    draft: dict[str, Any]
    published: dict[str, Any] | None
    draft_revision: int
    published_revision: int | None
    unpublished_changes: list[str]
    failure_reasons: list[str]
    actions: list[str]
    etag: str


def task_detail(db: Database, actor: Actor, name: str) -> TaskDetail:
    """One task, for those who may see it; `actions` are those `actor` may take now."""
    with db.uow() as uow:
        task = _viewable(uow.session, actor, name)
        return _detail(uow.session, actor, task)


def _viewable(session: Session, actor: Actor, name: str) -> t.OfflineService:
    kind = OfflineServiceKind()
    task = kind.find(session, name)
    if task is None:
        raise NotFound("offline service", name)
    kind.authorize_view(session, actor, task)
    return task


def _detail(session: Session, actor: Actor, task: t.OfflineService) -> TaskDetail:
    latest = _latest_statuses(session, task.id).get(task.id)
    return TaskDetail(
        name=task.name,
        status=task.status,
        execution_status=execution_status(InstanceStatus(latest) if latest else None).value,
        draft=dict(task.draft),
        published=dict(task.published) if task.published is not None else None,
        draft_revision=task.draft_revision,
        published_revision=task.published_revision,
        unpublished_changes=(
            version_changes(task.published, task.draft) if task.published is not None else []
        ),
        failure_reasons=list(task.publish_errors or []),
        actions=allowed_actions(session, actor, task),
        etag=etag(task),
    )


def _require_etag(task: t.OfflineService, expected: str | None) -> None:
    """Refuse a change made against another version of the task (If-Match; None: no check)."""
    if expected is not None and expected.strip('"') not in (etag(task), "*"):
        raise Conflict(
            f"offline service {task.name} changed since it was read (status {task.status}, "
            f"revision {task.draft_revision}); read it again"
        ).with_code("task.concurrent_change")


def create_task(db: Database, actor: Actor, spec: OfflineServiceSpec) -> TaskDetail:
    """Create a task in `editing` from its document; a taken name is a conflict."""
    with db.uow() as uow:
        if OfflineServiceKind().find(uow.session, spec.name) is not None:
            raise Conflict(f"offline service {spec.name} already exists").with_code("task.exists")
        upsert(uow.session, actor, spec)
        uow.commit()
        return _detail(uow.session, actor, _viewable(uow.session, actor, spec.name))


def edit_task(
    db: Database, actor: Actor, spec: OfflineServiceSpec, expected_etag: str | None = None
) -> TaskDetail:
    """Save `spec` as the draft of the existing task it names, if unchanged since read."""
    with db.uow() as uow:
        task = _locked(uow.session, spec.name)
        _require_etag(task, expected_etag)
        upsert(uow.session, actor, spec)
        uow.commit()
        return _detail(uow.session, actor, task)


def delete_task(db: Database, actor: Actor, name: str, expected_etag: str | None = None) -> None:
    """Delete an offline or publish-failed task, if unchanged since read (checked in the
    deleting transaction, the row locked)."""
    delete(db, actor, "OfflineService", name, lambda task: _require_etag(task, expected_etag))


def _locked(session: Session, name: str) -> t.OfflineService:
    """The task, its row locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    task = session.scalar(
        select(t.OfflineService).where(t.OfflineService.name == name).with_for_update()
    )
    if task is None:
        raise NotFound("offline service", name)
    return task


class NameProblem(StrEnum):
    """Why a name cannot name a new task (the console checks it as the user types)."""

    INVALID = "invalid"
    TAKEN = "taken"


def name_problem(db: Database, name: str) -> NameProblem | None:
    """Whether `name` may name a new task: the naming rule, then uniqueness; None when it may."""
    if not TASK_NAME.matches(name):
        return NameProblem.INVALID
    with db.uow() as uow:
        if OfflineServiceKind().find(uow.session, name) is not None:
            return NameProblem.TAKEN
    return None
