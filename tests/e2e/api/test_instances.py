"""Instances through HTTP: lists filtered in SQL, logs with secrets masked, termination and
rerun, backfills and their overall status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx

from tagport.services import instances
from tagport.store import tables as t
from tagport.store.db import Database
from tests.e2e.api.conftest import MakeClient
from tests.e2e.api.demo import DS_PASSWORD, SEED_MANUAL, YESTERDAY, demo, events  # noqa: F401

TASKS = "/api/v1/offline-services"
INSTANCES = "/api/v1/instances"


def _waiting_run(api: httpx.Client) -> int:
    """seed_manual created, its table made, published and run once (nobody works on it)."""
    assert api.post(TASKS, json=SEED_MANUAL).status_code == 201
    assert api.post(f"{TASKS}/seed_manual/create-table", json={}).status_code == 200
    published = api.post(f"{TASKS}/seed_manual/publish", params={"wait": True}).json()
    assert published["status"] == "published", published["failure_reasons"]
    ran = api.post(f"{TASKS}/seed_manual/run", json={"bizdate": YESTERDAY.isoformat()})
    assert ran.status_code == 201, ran.text
    instance_id: int = ran.json()["id"]
    return instance_id


def test_a_log_never_shows_a_data_source_password_or_a_token(
    client: MakeClient,
    demo: Database,  # noqa: F811
    secret: Callable[[str], str],
) -> None:
    api = client("operator")
    instance_id = _waiting_run(api)
    token = secret("tp_" + "Ab3_x-9" * 6)
    with demo.uow() as uow:
        row = uow.session.get(t.Instance, instance_id)
        assert row is not None
        instances.log(uow.session, row, f"connect root:{DS_PASSWORD}@db failed", "error")
        instances.log(uow.session, row, f"Authorization: Bearer {token}", "warning")
        instances.log(uow.session, row, "x" * 10_000)
        uow.commit()
    lines = api.get(f"{INSTANCES}/{instance_id}/log").json()["lines"]
    text = "\n".join(line["message"] for line in lines)
    assert DS_PASSWORD not in text and token not in text
    assert "connect root:***@db failed" in text and "Bearer tp_***" in text
    assert max(len(line["message"]) for line in lines) < 4100

    first = api.get(f"{INSTANCES}/{instance_id}/log", params={"limit": 1}).json()
    assert len(first["lines"]) == 1 and not first["ended"]
    rest = api.get(f"{INSTANCES}/{instance_id}/log", params={"after": first["next_after"]})
    assert [line["id"] for line in first["lines"] + rest.json()["lines"]] == [
        line["id"] for line in lines
    ]
    tail = api.get(f"{INSTANCES}/{instance_id}/log", params={"tail": 2}).json()["lines"]
    assert [line["id"] for line in tail] == [line["id"] for line in lines[-2:]]


def test_terminate_and_rerun_and_a_follow_that_ends_with_the_instance(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    api = client("operator")
    instance_id = _waiting_run(api)
    assert client("mia").post(f"{INSTANCES}/{instance_id}/terminate").status_code == 403
    ended = api.post(f"{INSTANCES}/{instance_id}/terminate")
    assert ended.status_code == 200, ended.text
    assert (ended.json()["status"], ended.json()["error"]) == ("failed", "terminated")
    again = api.post(f"{INSTANCES}/{instance_id}/terminate")
    assert (again.status_code, again.json()["code"]) == (409, "instance.action_not_allowed")

    with api.stream("GET", f"{INSTANCES}/{instance_id}/log", params={"follow": True}) as answer:
        seen = list(events(answer))  # the stream closes by itself: the instance has ended
    assert seen[-1] == ("done", {"status": "failed"})
    assert any("terminated by operator" in data["message"] for _, data in seen[:-1])

    rerun = api.post(f"{INSTANCES}/{instance_id}/rerun")
    assert rerun.status_code == 200 and rerun.json()["status"] == "waiting"
    assert api.get(f"{INSTANCES}/{2**31 - 1}").status_code == 404
    assert api.get(f"{INSTANCES}/{2**31}").status_code == 422  # no INTEGER id is that large
    assert client("sam").get(f"{INSTANCES}/{instance_id}").status_code == 403
    assert client("sam").get(INSTANCES).json()["total"] == 0


def test_a_backfill_its_overall_status_and_the_instance_filters(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    api = client("operator")
    assert api.post(f"{TASKS}/spenders_daily/create-table", json={}).status_code == 200
    assert api.post(f"{TASKS}/spenders_daily/publish", params={"wait": True}).status_code == 200
    first = YESTERDAY - timedelta(days=2)
    body = {"from": first.isoformat(), "to": YESTERDAY.isoformat(), "groups": 2}
    key = {"Idempotency-Key": "backfill-1"}
    made = api.post(f"{TASKS}/spenders_daily/backfill", json=body, headers=key)
    assert made.status_code == 201, made.text
    repeat = api.post(f"{TASKS}/spenders_daily/backfill", json=body, headers=key)
    assert repeat.json()["id"] == made.json()["id"]
    backfill = api.get(f"/api/v1/backfills/{made.json()['id']}").json()
    assert backfill["status"] == "running"  # three days waiting
    assert [i["bizdate"] for i in backfill["instances"]] == [
        (first + timedelta(days=n)).isoformat() for n in range(3)
    ]

    def bizdates(**params: object) -> list[str]:
        answer = api.get(INSTANCES, params=params)
        assert answer.status_code == 200, answer.text
        return [i["bizdate"] for i in answer.json()["items"]]

    assert len(bizdates(task="spenders_daily", trigger="backfill", status="waiting")) == 3
    assert bizdates(**{"from": YESTERDAY.isoformat()}) == [YESTERDAY.isoformat()]
    assert bizdates(to=first.isoformat(), backfill_id=backfill["id"]) == [first.isoformat()]
    assert bizdates(sort="bizdate", size=2) == [
        first.isoformat(),
        (first + timedelta(days=1)).isoformat(),
    ]
    assert bizdates(status="succeeded") == [] and bizdates(trigger="run") == []
    for bad in [{"status": "lost"}, {"trigger": "cron"}, {"sort": "error"}]:
        assert api.get(INSTANCES, params=bad).status_code == 422
    assert api.get(INSTANCES, params={"task": "nothing"}).status_code == 404
