"""What the console's task and instance pages show beyond the task list itself: why an action
is not offered, the choices of the list's filters, the latest run's error, a run's progress.

Each answer is data (a rule and its values), never a sentence: the console words it in the
viewer's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from tagport.domain.states import (
    ACTION_SCHEDULE,
    INSTANCE_TRANSITIONS,
    TASK_ACTIONS,
    InstanceEvent,
    InstanceStatus,
    TaskAction,
    TaskStatus,
)
from tagport.services.instances import viewable_instance
from tagport.services.permissions import Actor, memberships
from tagport.services.tasks import may_change
from tagport.store import tables as t
from tagport.store.db import Database


@dataclass(frozen=True)
class Refusal:
    """Why an action is not offered: `rule` is `status` (not in this status; `allowed` lists
    the statuses that offer it; `instance_status`: an instance's), `schedule` (only `only`
    tasks offer it) or `rights` (the viewer may look at the task but not change it)."""

    rule: str
    allowed: list[str] = field(default_factory=list)
    only: str = ""


def refusals(status: str, schedule_type: str, allowed: list[str]) -> dict[str, Refusal]:
    """The refusal of every action of TaskAction a task in `status` does not allow the viewer
    (`allowed`: what `tasks.allowed_actions` gave them), by action."""
    found: dict[str, Refusal] = {}
    for action in TaskAction:
        if action.value in allowed:
            continue
        only = ACTION_SCHEDULE.get(action)
        if only is not None and only.value != schedule_type:
            found[action.value] = Refusal("schedule", only=only.value)
        elif TaskStatus(status) not in TASK_ACTIONS[action]:
            statuses = [s.value for s in TaskStatus if s in TASK_ACTIONS[action]]
            found[action.value] = Refusal("status", allowed=statuses)
        else:
            found[action.value] = Refusal("rights")
    return found


INSTANCE_ACTIONS = {"rerun": InstanceEvent.RERUN, "terminate": InstanceEvent.TERMINATE}
"""The actions an instance's row offers, by the event each is."""


def instance_refusals(status: str, changeable: bool = True) -> dict[str, Refusal]:
    """The refusal of each instance action its status does not allow (rerun: once ended;
    terminate: while waiting or running), or the viewer may not take (`changeable`: whether
    they may change the instance's task, as `changeable_tasks` says)."""
    found: dict[str, Refusal] = {}
    for action, event in INSTANCE_ACTIONS.items():
        statuses = [s.value for s in InstanceStatus if (s, event) in INSTANCE_TRANSITIONS]
        if status not in statuses:
            found[action] = Refusal("instance_status", allowed=statuses)
        elif not changeable:
            found[action] = Refusal("rights")
    return found


def changeable_tasks(db: Database, actor: Actor, names: set[str]) -> set[str]:
    """Which of the tasks `names` the actor may change, so act on their instances (rerun,
    terminate: `publication.authorize_task`'s rule); one query, whatever the page's size."""
    if actor.is_super_admin:
        return set(names)
    with db.uow() as uow:
        session = uow.session
        known = memberships(session, actor)
        found = session.execute(
            select(
                t.OfflineService.name, t.OfflineService.owner_id, t.OfflineService.application_id
            ).where(t.OfflineService.name.in_(names))
        )
        return {
            name
            for name, owner_id, application_id in found
            if may_change(session, actor, owner_id, application_id, known)
        }


@dataclass(frozen=True)
class FilterChoices:
    """The values the task list's select filters offer."""

    applications: list[str]
    entities: list[tuple[str, str]]
    """(value, label): the filter's value is `code-idfield`, as the service takes it."""


def filter_choices(db: Database) -> FilterChoices:
    """Every application's name and every entity with its ID field, by name."""
    with db.uow() as uow:
        session = uow.session
        applications = list(session.scalars(select(t.Application.name).order_by("name")))
        entities = [
            (f"{code}-{id_field}", f"{name} ({code}) · {id_field}")
            for code, id_field, name in session.execute(
                select(t.Entity.code, t.Entity.id_field, t.Entity.name).order_by(t.Entity.code)
            )
        ]
        return FilterChoices(applications, entities)


def latest_errors(db: Database, names: list[str]) -> dict[str, str]:
    """Why each named task's latest instance failed, for those whose latest one failed (the
    list shows a failed run's reason in place)."""
    if not names:
        return {}
    latest = (
        select(func.max(t.Instance.id).label("id"))
        .join(t.OfflineService, t.OfflineService.id == t.Instance.service_id)
        .where(t.OfflineService.name.in_(names))
        .group_by(t.Instance.service_id)
        .subquery()
    )
    query = (
        select(t.OfflineService.name, t.Instance.error)
        .join(t.Instance, t.Instance.service_id == t.OfflineService.id)
        .where(t.Instance.id.in_(select(latest.c.id)))
        .where(t.Instance.status == InstanceStatus.FAILED.value)
    )
    with db.uow() as uow:
        return {name: error or "" for name, error in uow.session.execute(query)}


_ROWS_WRITTEN = re.compile(r"^([\d,]+) rows written")
"""The pipeline's progress line (`runtime.pipeline`): `12,000 rows written, 3,400 rows/s`."""
STARTED_PERCENT = 5
EXPORTING_PERCENT = 15
LOADED_PERCENT = 95
"""A running instance never shows more: the last step (the swap) is still to come."""


@dataclass(frozen=True)
class Progress:
    """How far an instance is: `percent` 0-100, rows written so far, and the rows its task's
    last successful run wrote (what the percentage is estimated against; None: no estimate)."""

    status: str
    percent: int
    rows: int | None
    expected: int | None
    ended: bool
    error: str | None


def instance_progress(db: Database, actor: Actor, instance_id: int) -> Progress:
    """The progress of an instance `actor` may see: 0 waiting, 100 ended; in between, rows
    written against the rows of the task's last success (else the step it is at)."""
    with db.uow() as uow:
        session = uow.session
        instance = viewable_instance(session, instance_id, actor)
        status = InstanceStatus(instance.status)
        if status in (InstanceStatus.SUCCEEDED, InstanceStatus.FAILED):
            return Progress(status.value, 100, instance.rows, None, True, instance.error)
        if status is InstanceStatus.WAITING:
            return Progress(status.value, 0, None, None, False, None)
        expected = session.scalar(
            select(t.Instance.rows)
            .where(
                t.Instance.service_id == instance.service_id,
                t.Instance.status == InstanceStatus.SUCCEEDED.value,
                t.Instance.rows > 0,
            )
            .order_by(t.Instance.id.desc())
            .limit(1)
        )
        lines = session.scalars(
            select(t.InstanceLog.message)
            .where(
                t.InstanceLog.instance_id == instance_id,
                t.InstanceLog.attempt == instance.attempts,
            )
            .order_by(t.InstanceLog.id.desc())
            .limit(20)
        )
        rows, exporting = _latest_rows(list(lines))
        return Progress(
            status.value, _percent(rows, expected, exporting), rows, expected, False, None
        )


def _latest_rows(newest_first: list[str]) -> tuple[int | None, bool]:
    """Rows written by the newest progress line, and whether the export has started."""
    exporting = False
    for message in newest_first:
        found = _ROWS_WRITTEN.match(message)
        if found:
            return int(found.group(1).replace(",", "")), True
        exporting = exporting or message.startswith("exporting ")
    return None, exporting


def _percent(rows: int | None, expected: int | None, exporting: bool) -> int:
    if rows is not None and expected:
        share = min(rows / expected, 1.0)
        return EXPORTING_PERCENT + round(share * (LOADED_PERCENT - EXPORTING_PERCENT))
    return EXPORTING_PERCENT if exporting else STARTED_PERCENT


def document_rows(published: dict[str, Any] | None, draft: dict[str, Any]) -> list[DocumentRow]:
    """The draft and published versions field by field (nested fields dotted), each marked
    when they differ: the details page shows them side by side."""
    flat_draft, flat_published = _flatten(draft), _flatten(published or {})
    keys = list(dict.fromkeys([*flat_published, *flat_draft]))
    return [
        DocumentRow(
            key,
            flat_published.get(key),
            flat_draft.get(key),
            published is not None and flat_published.get(key) != flat_draft.get(key),
        )
        for key in keys
    ]


@dataclass(frozen=True)
class DocumentRow:
    field: str
    published: str | None
    draft: str | None
    differs: bool


def _flatten(document: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + "."))
        elif value is not None and value != [] and value != {}:
            flat[name] = _shown(value)
    return flat


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items() if v not in (None, []))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
