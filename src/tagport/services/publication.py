"""Publishing and unpublishing offline services.

Publishing is asynchronous: `request_publish` moves a task to `publishing` and returns; then
`complete_publication` (run by the server, or at once by `--wait`) checks everything a run will
need and moves it to `published` or `publish_failed`, listing every reason. Unpublishing works the
same way and terminates the task's waiting instances.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tagport.domain.catalog import DataSourceType
from tagport.domain.naming import CODENAME_SUFFIX
from tagport.domain.states import (
    TERMINATED_REASON,
    InstanceEvent,
    InstanceStatus,
    ScheduleType,
    TaskAction,
    TaskEvent,
    TaskStatus,
    next_instance_status,
    next_task_status,
    require_task_action,
)
from tagport.domain.tasks import OfflineServiceSpec
from tagport.domain.values import IdType, ValueType
from tagport.errors import (
    ExternalError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TagportError,
)
from tagport.services.catalog import Checks
from tagport.services.permissions import Action, Actor, require, rule_for
from tagport.services.projects import cross_project_safe_mode
from tagport.services.table_permissions import TableRef, write_refusal
from tagport.services.tasks import OfflineServiceKind
from tagport.services.warehouse import readable_scope
from tagport.store import tables as t
from tagport.store.db import Database
from tagport.targets.base import TableInfo
from tagport.targets.compat import accepts

log = logging.getLogger(__name__)

DescribeTarget = Callable[[Session, t.DataSource, str | None, str], TableInfo]
"""Reads a target table's columns (raises NotFound when it does not exist)."""


def find_task(session: Session, name: str) -> t.OfflineService:
    task = session.scalar(select(t.OfflineService).where(t.OfflineService.name == name))
    if task is None:
        raise NotFound("offline service", name)
    return task


def authorize_task(session: Session, actor: Actor, task: t.OfflineService, doing: str) -> None:
    """Who may change a task (permissions.WHO_MAY) may act on it: publish, run, rerun …"""
    kind = OfflineServiceKind()
    scope = kind.scope(session, kind.to_spec(session, task), task)
    require(session, actor, rule_for(kind.kind, Action.CHANGE), scope, f"{doing} {task.name}")


def _move(task: t.OfflineService, event: TaskEvent) -> None:
    task.status = next_task_status(TaskStatus(task.status), event).value


def request_publish(
    db: Database, actor: Actor, name: str, *, pending_ok: bool = False
) -> TaskStatus:
    """Move a task to `publishing`; the checks run in `complete_publication`.

    With `pending_ok`, a task already `publishing` is left as it is (`publish --wait` then
    completes the pending request).
    """
    return _request(db, actor, name, TaskAction.PUBLISH, TaskEvent.PUBLISH, pending_ok)


_PENDING = {
    TaskAction.PUBLISH: TaskStatus.PUBLISHING,
    TaskAction.UNPUBLISH: TaskStatus.UNPUBLISHING,
}
"""The status a request leaves a task in until the server (or `--wait`) completes it."""


def _request(
    db: Database, actor: Actor, name: str, action: TaskAction, event: TaskEvent, pending_ok: bool
) -> TaskStatus:
    with db.uow() as uow:
        task = find_task(uow.session, name)
        authorize_task(uow.session, actor, task, action.value)
        status = TaskStatus(task.status)
        if pending_ok and status is _PENDING[action]:
            return status
        require_task_action(status, ScheduleType(task.schedule_type), action)
        _move(task, event)
        if event is TaskEvent.UNPUBLISH:
            terminate_waiting(uow.session, task.id)
        uow.commit()
        return TaskStatus(task.status)


@dataclass(frozen=True)
class PublicationResult:
    status: TaskStatus
    problems: list[str]


def publish_now(
    db: Database, actor: Actor, name: str, describe: DescribeTarget
) -> PublicationResult:
    """Publish and run the checks at once, in the caller's request (`publish --wait`,
    `?wait=true`, the console); a request already pending is completed."""
    request_publish(db, actor, name, pending_ok=True)
    return complete_publication(db, name, describe)


def complete_publication(
    db: Database, name: str, describe: DescribeTarget, now: datetime | None = None
) -> PublicationResult:
    """Check a `publishing` task and publish it, or fail it with every reason."""
    moment = now or t.utcnow()
    with db.uow() as uow:
        session = uow.session
        task = find_task(session, name)
        if task.status != TaskStatus.PUBLISHING.value:
            return PublicationResult(TaskStatus(task.status), list(task.publish_errors or []))
        problems = _checked(lambda: publication_problems(session, task, describe, moment))
        problems += _checked(lambda: _reader_problems(db, task))
        if problems:
            # A live task whose new version fails keeps running its published version.
            live = task.published is not None
            _move(task, TaskEvent.REPUBLISH_FAILED if live else TaskEvent.PUBLISH_FAILED)
            task.publish_errors = problems
        else:
            _move(task, TaskEvent.PUBLISH_SUCCEEDED)
            task.published = dict(task.draft)
            task.published_revision = task.draft_revision
            task.published_at = moment
            task.publish_errors = None
        uow.commit()
        return PublicationResult(TaskStatus(task.status), problems)


def _reader_problems(db: Database, task: t.OfflineService) -> list[str]:
    """The owner must be able to read what the export reads (the audience's projects, its SQL
    through the allow-list, the exported tags): checked now, not first at the run."""
    spec = OfflineServiceSpec.model_validate(task.draft)
    try:
        readable_scope(db, task.owner.login, spec.audience, [o.tag for o in spec.tags])
    except PermissionDenied as exc:
        return [str(exc)]
    except (NotFound, InvalidInput):
        return []  # a missing or broken audience or tag is reported by the catalog checks
    return []


def _checked(check: Callable[[], list[str]]) -> list[str]:
    """The problems `check` finds; an error raised while checking is one more problem, so a
    publication always ends (a task is never left `publishing` by a failing check)."""
    try:
        return check()
    except TagportError as exc:
        return [f"the checks stopped: {exc}"]
    except Exception as exc:  # a bug in a check must not wedge the task either
        log.exception("publication checks crashed")
        return [f"the checks stopped on an internal error: {type(exc).__name__}: {exc}"]


def publication_problems(
    session: Session, task: t.OfflineService, describe: DescribeTarget, now: datetime
) -> list[str]:
    """Every reason the draft cannot be published, in words a person can act on."""
    spec = OfflineServiceSpec.model_validate(task.draft)
    checks = Checks(session, "")
    OfflineServiceKind().check(checks, spec, None)
    problems = [str(p).removeprefix(": ") for p in checks.problems]
    if problems:
        return problems
    audience = session.scalars(
        select(t.AudienceGroup).where(t.AudienceGroup.code == spec.audience)
    ).one()
    ds = session.scalars(
        select(t.DataSource).where(t.DataSource.name == spec.target.datasource)
    ).one()
    owner = task.owner
    problems += _project_problems(session, task, ds, owner)
    if spec.target.table is None:
        return [*problems, f"no target table is set; create it with: task create-table {task.name}"]
    ref = TableRef(ds.name, spec.target.schema_ or "", spec.target.table)
    refusal = write_refusal(session, owner, ref, now)
    if refusal is not None:
        problems.append(str(refusal))
    problems += _clashes(session, task, spec, ref)
    try:
        table = describe(session, ds, spec.target.schema_, spec.target.table)
    except NotFound:
        return [*problems, f"target table {ref} does not exist; create it first"]
    except ExternalError as exc:
        return [*problems, f"target {ds.name} is unreachable: {exc}"]
    return problems + _mapping_problems(session, spec, audience, table)


def _clashes(
    session: Session, task: t.OfflineService, spec: OfflineServiceSpec, ref: TableRef
) -> list[str]:
    """Another live task writing the same table would overwrite this one's rows every run."""
    # Filtered here, not in SQL: an unpublished version is stored as JSON null, not SQL NULL.
    others = session.scalars(select(t.OfflineService).where(t.OfflineService.id != task.id))
    return [
        f"task {other.name} already writes {ref}: two tasks would overwrite each other's rows "
        f"(unpublish {other.name} or choose another table)"
        for other in others
        if other.published is not None
        and OfflineServiceSpec.model_validate(other.published).target.key == spec.target.key
    ]


def _project_problems(
    session: Session, task: t.OfflineService, ds: t.DataSource, owner: t.User
) -> list[str]:
    if ds.type != DataSourceType.PROJECT.value or ds.project is None:
        return []
    project = ds.project
    problems = []
    if not owner.is_super_admin and owner.id not in {u.id for u in project.members}:
        problems.append(f"owner {owner.login} has not joined project {project.name}")
    if not project.write_through:
        problems.append(f"project {project.name} has no write-through for its production account")
    own = task.application.project
    if own.id != project.id and cross_project_safe_mode(session, own.name):
        problems.append(
            f"cross-project safe mode: a task of project {own.name} may not write to "
            f"project {project.name}"
        )
    return problems


def _source_types(
    session: Session, spec: OfflineServiceSpec, audience: t.AudienceGroup
) -> dict[str, ValueType | IdType]:
    """The type of every exported field: entity ID, tag values, code names (strings)."""
    entity = audience.entity
    types: dict[str, ValueType | IdType] = {entity.id_field: IdType(entity.id_type)}
    for output in spec.tags:
        tag = session.scalars(select(t.Tag).where(t.Tag.code == output.tag)).one()
        for field in output.fields():
            is_name = field.endswith(CODENAME_SUFFIX) and field != tag.code
            types[field] = ValueType.parse("string") if is_name else ValueType.parse(tag.value_type)
    return types


def _mapping_problems(
    session: Session, spec: OfflineServiceSpec, audience: t.AudienceGroup, table: TableInfo
) -> list[str]:
    problems: list[str] = []
    columns = {c.name.lower(): c for c in table.columns}
    types = _source_types(session, spec, audience)
    mapping = spec.column_mapping(audience.entity.id_field, list(table.column_names))
    mapped = {m.target.lower() for m in mapping}
    partition = spec.target.partition_field or (
        table.partition_columns[0] if table.partition_columns else None
    )
    if partition is not None:
        if partition.lower() not in columns:
            problems.append(f"partition field {partition} is not a column of {table.name}")
        mapped.add(partition.lower())
    for field in types:
        if field.lower() not in {m.source.lower() for m in mapping}:
            problems.append(f"exported field {field} is not mapped to a column of {table.name}")
    for m in mapping:
        column = columns.get(m.target.lower())
        if column is None:
            problems.append(f"mapped column {m.target} does not exist in {table.name}")
            continue
        source_type = next(v for k, v in types.items() if k.lower() == m.source.lower())
        if not accepts(column.type, source_type):
            problems.append(
                f"column {column.name} ({column.type}) cannot hold {m.source} ({source_type})"
            )
    for column in table.columns:
        if column.name.lower() not in mapped and not column.nullable and column.default is None:
            problems.append(f"column {column.name} is NOT NULL without a default and not mapped")
    return problems


def request_unpublish(
    db: Database, actor: Actor, name: str, *, pending_ok: bool = False
) -> TaskStatus:
    """Move a task to `unpublishing` and terminate its waiting instances."""
    return _request(db, actor, name, TaskAction.UNPUBLISH, TaskEvent.UNPUBLISH, pending_ok)


def terminate_waiting(session: Session, service_id: int) -> int:
    """Fail every waiting instance of a task with reason "terminated"; return how many."""
    failed = next_instance_status(InstanceStatus.WAITING, InstanceEvent.TERMINATE)
    result = session.execute(
        update(t.Instance)
        .where(
            t.Instance.service_id == service_id,
            t.Instance.status == InstanceStatus.WAITING.value,
        )
        .values(status=failed.value, error=TERMINATED_REASON, ended_at=t.utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def unpublish_now(db: Database, actor: Actor, name: str) -> TaskStatus:
    """Unpublish at once, in the caller's request; a request already pending is completed."""
    request_unpublish(db, actor, name, pending_ok=True)
    return complete_unpublication(db, name)


def complete_unpublication(db: Database, name: str) -> TaskStatus:
    """Take an `unpublishing` task offline, unless an instance is still running."""
    with db.uow() as uow:
        task = find_task(uow.session, name)
        if task.status != TaskStatus.UNPUBLISHING.value:
            return TaskStatus(task.status)
        running = uow.session.scalar(
            select(t.Instance.id).where(
                t.Instance.service_id == task.id,
                t.Instance.status == InstanceStatus.RUNNING.value,
            )
        )
        if running is not None:
            _move(task, TaskEvent.UNPUBLISH_FAILED)
            task.publish_errors = [f"instance {running} is still running; terminate it first"]
        else:
            _move(task, TaskEvent.UNPUBLISH_SUCCEEDED)
            task.published = None
            task.publish_errors = None
            # Instances queued while it was unpublishing (a rerun) must not outlive it: a
            # worker would run them with no published configuration.
            terminate_waiting(uow.session, task.id)
        uow.commit()
        return TaskStatus(task.status)
