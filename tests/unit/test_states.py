"""Every status × event and status × action pair, checked against the spec's own tables."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagport.domain.states import (
    ExecutionStatus,
    GrantStatus,
    InstanceEvent,
    InstanceStatus,
    RequestEvent,
    RequestStatus,
    ScheduleType,
    TaskAction,
    TaskEvent,
    TaskStatus,
    backfill_status,
    execution_status,
    grant_status,
    next_instance_status,
    next_request_status,
    next_task_status,
    require_task_action,
    task_actions,
)
from tagport.errors import InvalidTransition

S, E = TaskStatus, TaskEvent

# DESIGN §3, written out independently of the implementation's table.
EXPECTED_TASK = {
    (S.EDITING, E.SAVE): S.EDITING,
    (S.PUBLISH_FAILED, E.SAVE): S.EDITING,
    (S.OFFLINE, E.SAVE): S.EDITING,
    (S.PUBLISHED, E.SAVE): S.PUBLISHED,
    (S.UNPUBLISH_FAILED, E.SAVE): S.UNPUBLISH_FAILED,
    (S.EDITING, E.PUBLISH): S.PUBLISHING,
    (S.PUBLISH_FAILED, E.PUBLISH): S.PUBLISHING,
    (S.OFFLINE, E.PUBLISH): S.PUBLISHING,
    (S.PUBLISHED, E.PUBLISH): S.PUBLISHING,
    (S.PUBLISHING, E.PUBLISH_SUCCEEDED): S.PUBLISHED,
    (S.PUBLISHING, E.PUBLISH_FAILED): S.PUBLISH_FAILED,
    (S.PUBLISHING, E.REPUBLISH_FAILED): S.PUBLISHED,  # the live version runs on
    (S.PUBLISHED, E.UNPUBLISH): S.UNPUBLISHING,
    (S.UNPUBLISH_FAILED, E.UNPUBLISH): S.UNPUBLISHING,
    (S.UNPUBLISHING, E.UNPUBLISH_SUCCEEDED): S.OFFLINE,
    (S.UNPUBLISHING, E.UNPUBLISH_FAILED): S.UNPUBLISH_FAILED,
}


@pytest.mark.parametrize(("status", "event"), list(itertools.product(TaskStatus, TaskEvent)))
def test_every_task_status_event_pair(status: TaskStatus, event: TaskEvent) -> None:
    expected = EXPECTED_TASK.get((status, event))
    if expected is None:
        words = event.value.replace("_", " ")  # publish_failed reads "publish failed"
        message = f"^cannot {words}: the task is {status.value}$"
        with pytest.raises(InvalidTransition, match=message) as refused:
            next_task_status(status, event)
        assert refused.value.code == "task.action_not_allowed"
    else:
        assert next_task_status(status, event) is expected


A = TaskAction
NOT_BUSY = set(S) - {S.PUBLISHING, S.UNPUBLISHING}
EXPECTED_ACTIONS: dict[TaskAction, set[TaskStatus]] = {
    A.EDIT: NOT_BUSY,
    A.DETAILS: set(S),
    A.INSTANCES: set(S),
    A.PUBLISH: {S.EDITING, S.PUBLISH_FAILED, S.OFFLINE, S.PUBLISHED},
    A.UNPUBLISH: {S.PUBLISHED, S.UNPUBLISH_FAILED},
    A.BACKFILL: {S.PUBLISHED},  # recurring only
    A.RUN: {S.PUBLISHED},  # manual only
    A.DELETE: {S.OFFLINE, S.PUBLISH_FAILED},
}
ONLY_FOR = {A.BACKFILL: ScheduleType.RECURRING, A.RUN: ScheduleType.MANUAL}


@pytest.mark.parametrize(
    ("status", "schedule", "action"),
    list(itertools.product(TaskStatus, ScheduleType, TaskAction)),
)
def test_every_task_action_pair(
    status: TaskStatus, schedule: ScheduleType, action: TaskAction
) -> None:
    allowed = status in EXPECTED_ACTIONS[action] and ONLY_FOR.get(action, schedule) is schedule
    assert (action in task_actions(status, schedule)) is allowed
    if allowed:
        require_task_action(status, schedule, action)
    else:
        with pytest.raises(InvalidTransition, match=f"cannot {action.value}") as refused:
            require_task_action(status, schedule, action)
        assert refused.value.code == "task.action_not_allowed"


def test_refusal_says_why() -> None:
    with pytest.raises(InvalidTransition, match="only manual tasks offer it"):
        require_task_action(S.PUBLISHED, ScheduleType.RECURRING, A.RUN)
    with pytest.raises(
        InvalidTransition, match=r"the task is editing \(allowed when publish_failed, offline\)"
    ):
        require_task_action(S.EDITING, ScheduleType.MANUAL, A.DELETE)


IS, IE = InstanceStatus, InstanceEvent
EXPECTED_INSTANCE = {
    (IS.WAITING, IE.CLAIM): IS.RUNNING,
    (IS.RUNNING, IE.SUCCEED): IS.SUCCEEDED,
    (IS.RUNNING, IE.FAIL): IS.FAILED,
    (IS.RUNNING, IE.RETRY): IS.WAITING,
    (IS.WAITING, IE.TERMINATE): IS.FAILED,
    (IS.RUNNING, IE.TERMINATE): IS.FAILED,
    (IS.SUCCEEDED, IE.RERUN): IS.WAITING,
    (IS.FAILED, IE.RERUN): IS.WAITING,
}


@pytest.mark.parametrize(
    ("status", "event"), list(itertools.product(InstanceStatus, InstanceEvent))
)
def test_every_instance_status_event_pair(status: InstanceStatus, event: InstanceEvent) -> None:
    expected = EXPECTED_INSTANCE.get((status, event))
    if expected is None:
        with pytest.raises(InvalidTransition, match=f"the instance is {status.value}"):
            next_instance_status(status, event)
    else:
        assert next_instance_status(status, event) is expected


def test_execution_status_is_latest_instance_or_not_run() -> None:
    assert execution_status(None) is ExecutionStatus.NOT_RUN
    for status in InstanceStatus:
        assert execution_status(status).value == status.value


@given(st.lists(st.sampled_from([None, *InstanceStatus]), min_size=1, max_size=30))
def test_backfill_status_follows_the_rule(days: list[InstanceStatus | None]) -> None:
    result = backfill_status(days)
    if all(d is None for d in days):
        assert result is ExecutionStatus.NOT_RUN
    elif any(d in (IS.WAITING, IS.RUNNING) for d in days):
        assert result is ExecutionStatus.RUNNING
    elif IS.FAILED in days:
        assert result is ExecutionStatus.FAILED
    else:
        assert result is ExecutionStatus.SUCCEEDED


EXPECTED_REQUEST = {
    (RequestStatus.PENDING, RequestEvent.APPROVE): RequestStatus.APPROVED,
    (RequestStatus.PENDING, RequestEvent.REJECT): RequestStatus.REJECTED,
    (RequestStatus.PENDING, RequestEvent.WITHDRAW): RequestStatus.WITHDRAWN,
}


@pytest.mark.parametrize(("status", "event"), list(itertools.product(RequestStatus, RequestEvent)))
def test_every_request_status_event_pair(status: RequestStatus, event: RequestEvent) -> None:
    expected = EXPECTED_REQUEST.get((status, event))
    if expected is None:
        message = f"^cannot {event.value}: the request is {status.value}$"
        with pytest.raises(InvalidTransition, match=message) as refused:
            next_request_status(status, event)
        assert refused.value.code == "request.action_not_allowed"
    else:
        assert next_request_status(status, event) is expected


NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires", "returned", "expected"),
    [
        (None, None, GrantStatus.ACTIVE),
        (NOW + timedelta(seconds=1), None, GrantStatus.ACTIVE),
        (NOW, None, GrantStatus.EXPIRED),  # ends at its expiry, as the write check does
        (NOW - timedelta(days=1), None, GrantStatus.EXPIRED),
        (None, NOW - timedelta(days=1), GrantStatus.RETURNED),
        (NOW - timedelta(days=2), NOW - timedelta(days=3), GrantStatus.RETURNED),
    ],
)
def test_a_permission_is_active_until_it_expires_or_is_returned(
    expires: datetime | None, returned: datetime | None, expected: GrantStatus
) -> None:
    assert grant_status(expires, returned, NOW) is expected
