"""Statuses of offline services (tasks), instances and permission requests: transitions and
allowed actions as data.

`TASK_TRANSITIONS`, `INSTANCE_TRANSITIONS` and `REQUEST_TRANSITIONS` are the only places a status
may change; `next_task_status` / `next_instance_status` / `next_request_status` are the only
functions that read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from tagport.errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


class TaskStatus(StrEnum):
    EDITING = "editing"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    PUBLISH_FAILED = "publish_failed"
    UNPUBLISHING = "unpublishing"
    OFFLINE = "offline"
    UNPUBLISH_FAILED = "unpublish_failed"


class TaskEvent(StrEnum):
    SAVE = "save"
    PUBLISH = "publish"
    PUBLISH_SUCCEEDED = "publish_succeeded"
    PUBLISH_FAILED = "publish_failed"
    REPUBLISH_FAILED = "republish_failed"
    """A new version of a live task failed its checks: the published version runs on."""
    UNPUBLISH = "unpublish"
    UNPUBLISH_SUCCEEDED = "unpublish_succeeded"
    UNPUBLISH_FAILED = "unpublish_failed"


class ScheduleType(StrEnum):
    MANUAL = "manual"
    RECURRING = "recurring"


_T = TaskStatus
_E = TaskEvent

TASK_TRANSITIONS: dict[tuple[TaskStatus, TaskEvent], TaskStatus] = {
    # Saving an edit: a task that is not live goes back to editing; a live one keeps its status
    # (the published version runs on until the edited draft is published).
    (_T.EDITING, _E.SAVE): _T.EDITING,
    (_T.PUBLISH_FAILED, _E.SAVE): _T.EDITING,
    (_T.OFFLINE, _E.SAVE): _T.EDITING,
    (_T.PUBLISHED, _E.SAVE): _T.PUBLISHED,
    (_T.UNPUBLISH_FAILED, _E.SAVE): _T.UNPUBLISH_FAILED,
    (_T.EDITING, _E.PUBLISH): _T.PUBLISHING,
    (_T.PUBLISH_FAILED, _E.PUBLISH): _T.PUBLISHING,
    (_T.OFFLINE, _E.PUBLISH): _T.PUBLISHING,
    (_T.PUBLISHED, _E.PUBLISH): _T.PUBLISHING,
    (_T.PUBLISHING, _E.PUBLISH_SUCCEEDED): _T.PUBLISHED,
    (_T.PUBLISHING, _E.PUBLISH_FAILED): _T.PUBLISH_FAILED,
    (_T.PUBLISHING, _E.REPUBLISH_FAILED): _T.PUBLISHED,
    (_T.PUBLISHED, _E.UNPUBLISH): _T.UNPUBLISHING,
    (_T.UNPUBLISH_FAILED, _E.UNPUBLISH): _T.UNPUBLISHING,
    (_T.UNPUBLISHING, _E.UNPUBLISH_SUCCEEDED): _T.OFFLINE,
    (_T.UNPUBLISHING, _E.UNPUBLISH_FAILED): _T.UNPUBLISH_FAILED,
}


class TaskAction(StrEnum):
    """What the task list offers a person, each enabled only in some statuses."""

    EDIT = "edit"
    DETAILS = "details"
    INSTANCES = "instances"
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    BACKFILL = "backfill"
    RUN = "run"
    DELETE = "delete"


_ALL = frozenset(TaskStatus)
TASK_ACTIONS: dict[TaskAction, frozenset[TaskStatus]] = {
    TaskAction.EDIT: _ALL - {_T.PUBLISHING, _T.UNPUBLISHING},
    TaskAction.DETAILS: _ALL,
    TaskAction.INSTANCES: _ALL,
    TaskAction.PUBLISH: frozenset({_T.EDITING, _T.PUBLISH_FAILED, _T.OFFLINE, _T.PUBLISHED}),
    TaskAction.UNPUBLISH: frozenset({_T.PUBLISHED, _T.UNPUBLISH_FAILED}),
    TaskAction.BACKFILL: frozenset({_T.PUBLISHED}),
    TaskAction.RUN: frozenset({_T.PUBLISHED}),
    TaskAction.DELETE: frozenset({_T.OFFLINE, _T.PUBLISH_FAILED}),
}

ACTION_SCHEDULE: dict[TaskAction, ScheduleType] = {
    TaskAction.BACKFILL: ScheduleType.RECURRING,
    TaskAction.RUN: ScheduleType.MANUAL,
}
"""Actions offered only for one schedule type."""


def _next(table: Mapping[tuple[S, E], S], status: S, event: E, noun: str) -> S:
    """The status `table` moves `status` to on `event`, or InvalidTransition naming both."""
    try:
        return table[(status, event)]
    except KeyError:
        refused = InvalidTransition(
            f"cannot {event.value.replace('_', ' ')}: the {noun} is {status.value}"
        )
        raise refused.with_code(f"{noun}.action_not_allowed") from None


def next_task_status(status: TaskStatus, event: TaskEvent) -> TaskStatus:
    return _next(TASK_TRANSITIONS, status, event, "task")


def task_actions(status: TaskStatus, schedule: ScheduleType) -> frozenset[TaskAction]:
    """The actions a task in `status` with `schedule` offers."""
    return frozenset(
        action
        for action, statuses in TASK_ACTIONS.items()
        if status in statuses and ACTION_SCHEDULE.get(action, schedule) is schedule
    )


def require_task_action(status: TaskStatus, schedule: ScheduleType, action: TaskAction) -> None:
    """Raise InvalidTransition unless `action` is offered in `status` for `schedule`."""
    if action in task_actions(status, schedule):
        return
    only = ACTION_SCHEDULE.get(action)
    if only is not None and only is not schedule:
        refused = InvalidTransition(f"cannot {action.value}: only {only.value} tasks offer it")
    else:
        allowed = ", ".join(s.value for s in TaskStatus if s in TASK_ACTIONS[action])
        refused = InvalidTransition(
            f"cannot {action.value}: the task is {status.value} (allowed when {allowed})"
        )
    raise refused.with_code("task.action_not_allowed")


class InstanceStatus(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class InstanceEvent(StrEnum):
    CLAIM = "claim"
    SUCCEED = "succeed"
    FAIL = "fail"
    RETRY = "retry"
    """A transient failure or an expired lease puts the instance back in the queue."""
    TERMINATE = "terminate"
    RERUN = "rerun"


_I = InstanceStatus
_IE = InstanceEvent

INSTANCE_TRANSITIONS: dict[tuple[InstanceStatus, InstanceEvent], InstanceStatus] = {
    (_I.WAITING, _IE.CLAIM): _I.RUNNING,
    (_I.RUNNING, _IE.SUCCEED): _I.SUCCEEDED,
    (_I.RUNNING, _IE.FAIL): _I.FAILED,
    (_I.RUNNING, _IE.RETRY): _I.WAITING,
    (_I.WAITING, _IE.TERMINATE): _I.FAILED,
    (_I.RUNNING, _IE.TERMINATE): _I.FAILED,
    (_I.SUCCEEDED, _IE.RERUN): _I.WAITING,
    (_I.FAILED, _IE.RERUN): _I.WAITING,
}

TERMINATED_REASON = "terminated"


def next_instance_status(status: InstanceStatus, event: InstanceEvent) -> InstanceStatus:
    return _next(INSTANCE_TRANSITIONS, status, event, "instance")


class ExecutionStatus(StrEnum):
    """A task's execution status: its latest instance's status, or not run."""

    NOT_RUN = "not_run"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def execution_status(latest: InstanceStatus | None) -> ExecutionStatus:
    return ExecutionStatus.NOT_RUN if latest is None else ExecutionStatus(latest.value)


def backfill_status(statuses: Iterable[InstanceStatus | None]) -> ExecutionStatus:
    """Overall status of a backfill from its days' statuses (None: not run yet).

    Not run if all are not run; running if any waits or runs; else failed if any failed;
    else succeeded.
    """
    seen = list(statuses)
    if all(s is None for s in seen):
        return ExecutionStatus.NOT_RUN
    if any(s in (_I.WAITING, _I.RUNNING) for s in seen):
        return ExecutionStatus.RUNNING
    if any(s is _I.FAILED for s in seen):
        return ExecutionStatus.FAILED
    return ExecutionStatus.SUCCEEDED


class RequestStatus(StrEnum):
    """A request for write permission on a target table."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class RequestEvent(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"


_R, _RE = RequestStatus, RequestEvent

REQUEST_TRANSITIONS: dict[tuple[RequestStatus, RequestEvent], RequestStatus] = {
    (_R.PENDING, _RE.APPROVE): _R.APPROVED,
    (_R.PENDING, _RE.REJECT): _R.REJECTED,
    (_R.PENDING, _RE.WITHDRAW): _R.WITHDRAWN,
}
"""A request is decided once; renewing a permission is a new request."""


def next_request_status(status: RequestStatus, event: RequestEvent) -> RequestStatus:
    return _next(REQUEST_TRANSITIONS, status, event, "request")


class GrantStatus(StrEnum):
    """A write permission: active until it expires or its holder returns it."""

    ACTIVE = "active"
    EXPIRED = "expired"
    RETURNED = "returned"


def grant_status(
    expires_at: datetime | None, returned_at: datetime | None, now: datetime
) -> GrantStatus:
    """Returned wins over expired: a returned permission never comes back by itself."""
    if returned_at is not None:
        return GrantStatus.RETURNED
    if expires_at is not None and expires_at <= now:
        return GrantStatus.EXPIRED
    return GrantStatus.ACTIVE


PERMISSION_PERIODS = (7, 30, 90, 180, 365)
"""The periods (days) a request may ask for, besides an end date."""
EXPIRY_WARNING_DAYS = 7
"""Permissions expiring within this many days are flagged in lists."""
