"""Offline services through HTTP: from a document to a published task whose run is followed
live; refusals by status, by stale ETag and by role; repeated requests that change nothing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from tagport.api.idempotency import KEPT
from tagport.config import Settings
from tagport.store import tables as t
from tagport.store.db import Database
from tests.e2e.api.conftest import MakeClient
from tests.e2e.api.demo import SEED_MANUAL, YESTERDAY, demo, events, work  # noqa: F401

TASKS = "/api/v1/offline-services"


def _published_manual_task(api: httpx.Client) -> None:
    """seed_manual: created, its table made by one click (edited statement), published."""
    made = api.post(TASKS, json=SEED_MANUAL)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "editing" and made.headers["etag"]
    ddl = api.get(f"{TASKS}/seed_manual/ddl")
    assert ddl.status_code == 200, ddl.text
    statement = ddl.json()["sql"]
    assert "CREATE TABLE" in statement
    created = api.post(f"{TASKS}/seed_manual/create-table", json={"sql": statement})
    assert created.status_code == 200, created.text
    assert created.json()["draft"]["target"]["table"]
    published = api.post(f"{TASKS}/seed_manual/publish", params={"wait": True})
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published", published.json()["failure_reasons"]


def test_create_publish_run_and_follow_the_log_to_its_end(
    client: MakeClient,
    demo: Database,  # noqa: F811
    settings: Settings,
) -> None:
    api = client("operator")
    _published_manual_task(api)
    detail = api.get(f"{TASKS}/seed_manual").json()
    assert detail["published"] == detail["draft"] and detail["unpublished_changes"] == []
    assert detail["actions"] == ["details", "edit", "instances", "publish", "run", "unpublish"]

    ran = api.post(f"{TASKS}/seed_manual/run", json={"bizdate": YESTERDAY.isoformat()})
    assert ran.status_code == 201, ran.text
    instance = ran.json()
    assert (instance["status"], instance["bizdate"]) == ("waiting", YESTERDAY.isoformat())

    worker = work(settings, demo, instance["id"])
    seen = []
    log = f"/api/v1/instances/{instance['id']}/log"
    with api.stream("GET", log, params={"follow": True}) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        for event, data in events(answer):
            seen.append((event, data))
            if event == "done":
                break
    worker.join(30)
    lines = [data["message"] for event, data in seen if event == "line"]
    assert any("run requested by operator" in m for m in lines)
    assert any(m.startswith("succeeded:") for m in lines), lines
    assert seen[-1] == ("done", {"status": "succeeded"})

    after = api.get(f"/api/v1/instances/{instance['id']}").json()
    assert after["status"] == "succeeded" and after["rows"] > 0
    tail = api.get(log, params={"tail": 1}).json()
    assert [line["message"] for line in tail["lines"]] == [lines[-1]] and tail["ended"]
    listed = api.get(TASKS, params={"execution_status": "succeeded"}).json()
    assert [t["name"] for t in listed["items"]] == ["seed_manual"]


def test_a_repeated_run_with_the_same_idempotency_key_creates_one_instance(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    api = client("operator")
    _published_manual_task(api)
    body = {"bizdate": YESTERDAY.isoformat()}
    key = {"Idempotency-Key": "run-once-1"}
    first = api.post(f"{TASKS}/seed_manual/run", json=body, headers=key)
    again = api.post(f"{TASKS}/seed_manual/run", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert api.get("/api/v1/instances", params={"task": "seed_manual"}).json()["total"] == 1

    other = {"bizdate": (YESTERDAY - timedelta(days=1)).isoformat()}
    reused = api.post(f"{TASKS}/seed_manual/run", json=other, headers=key)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency.key_reused"
    fresh = api.post(f"{TASKS}/seed_manual/run", json=other, headers={"Idempotency-Key": "2"})
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    assert api.get("/api/v1/instances", params={"task": "seed_manual"}).json()["total"] == 2


def test_an_idempotency_key_is_forgotten_after_a_day(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    api = client("operator")
    _published_manual_task(api)
    body = {"bizdate": YESTERDAY.isoformat()}
    key = {"Idempotency-Key": "daily"}
    first = api.post(f"{TASKS}/seed_manual/run", json=body, headers=key)
    assert first.status_code == 201
    with demo.uow() as uow:  # the key was sent a day and a minute ago
        made = datetime.now(UTC) - KEPT - timedelta(minutes=1)
        uow.session.execute(update(t.IdempotencyKey).values(created_at=made))
        uow.commit()
    again = api.post(f"{TASKS}/seed_manual/run", json=body, headers=key)
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]


def test_concurrent_repeats_of_one_idempotent_run_create_one_instance(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    api = client("operator")
    _published_manual_task(api)
    body = {"bizdate": YESTERDAY.isoformat()}
    key = {"Idempotency-Key": "together"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: api.post(f"{TASKS}/seed_manual/run", json=body, headers=key), range(4)
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409} and 201 in statuses, [a.text for a in answers]
    assert all(
        a.json()["code"] == "idempotency.in_progress" for a in answers if a.status_code == 409
    )
    assert len({a.json()["id"] for a in answers if a.status_code == 201}) == 1
    assert api.get("/api/v1/instances", params={"task": "seed_manual"}).json()["total"] == 1


def test_an_action_the_status_does_not_offer_is_a_conflict_naming_it(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    api = client("operator")
    assert api.post(TASKS, json=SEED_MANUAL).status_code == 201
    for path, body in [
        ("run", {"bizdate": YESTERDAY.isoformat()}),
        ("unpublish", None),
        ("backfill", {}),
    ]:
        refused = api.post(f"{TASKS}/seed_manual/{path}", json=body)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.json()["code"] == "task.action_not_allowed"
    assert api.get(f"{TASKS}/seed_manual").json()["status"] == "editing"
    taken = api.post(TASKS, json=SEED_MANUAL)
    assert (taken.status_code, taken.json()["code"]) == (409, "task.exists")
    published = api.post(f"{TASKS}/spenders_daily/create-table", json={})
    assert published.status_code == 200, published.text
    api.post(f"{TASKS}/spenders_daily/publish", params={"wait": True})
    refused = api.delete(f"{TASKS}/spenders_daily")
    assert (refused.status_code, refused.json()["code"]) == (409, "task.action_not_allowed")


def test_an_edit_against_a_stale_etag_is_refused(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    api = client("operator")
    read = api.get(f"{TASKS}/spenders_daily")
    etag = read.headers["etag"]
    document = read.json()["draft"] | {"description": "first edit"}
    saved = api.put(f"{TASKS}/spenders_daily", json=document, headers={"If-Match": etag})
    assert saved.status_code == 200, saved.text
    assert saved.json()["draft"]["description"] == "first edit"
    assert saved.headers["etag"] != etag

    late = document | {"description": "an edit made on the old version"}
    stale = api.put(f"{TASKS}/spenders_daily", json=late, headers={"If-Match": etag})
    assert (stale.status_code, stale.json()["code"]) == (409, "task.concurrent_change")
    gone = api.delete(f"{TASKS}/spenders_daily", headers={"If-Match": etag})
    assert (gone.status_code, gone.json()["code"]) == (409, "task.concurrent_change")
    assert api.get(f"{TASKS}/spenders_daily").json()["draft"]["description"] == "first edit"

    blind = api.put(f"{TASKS}/spenders_daily", json=late)
    assert blind.status_code == 200
    renamed = api.put(f"{TASKS}/spenders_daily", json=late | {"name": "other"})
    assert renamed.status_code == 422 and renamed.json()["errors"][0]["path"] == "$.name"


def test_a_member_who_does_not_own_a_task_sees_it_but_may_not_change_or_run_it(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    _published_manual_task(client("operator"))
    mia = client("mia")
    seen = mia.get(f"{TASKS}/seed_manual")
    assert seen.status_code == 200
    assert seen.json()["actions"] == ["details", "instances"]
    listed = mia.get(TASKS).json()
    assert {t["name"]: t["actions"] for t in listed["items"]} == {
        "seed_manual": ["details", "instances"],
        "spenders_daily": ["details", "instances"],
    }
    document = seen.json()["draft"] | {"description": "mine now"}
    for answer in [
        mia.put(f"{TASKS}/seed_manual", json=document),
        mia.post(f"{TASKS}/seed_manual/run", json={"bizdate": YESTERDAY.isoformat()}),
        mia.post(f"{TASKS}/seed_manual/unpublish"),
        mia.delete(f"{TASKS}/seed_manual"),
    ]:
        assert answer.status_code == 403, answer.text
    stranger = client("sam")
    assert stranger.get(f"{TASKS}/seed_manual").status_code == 403
    assert stranger.get(TASKS).json()["total"] == 0


def test_the_task_list_filters_sorts_and_pages_in_the_database(
    client: MakeClient,
    demo: Database,  # noqa: F811
) -> None:
    api = client("operator")
    assert api.post(TASKS, json=SEED_MANUAL).status_code == 201

    def names(**params: object) -> list[str]:
        answer = api.get(TASKS, params=params)
        assert answer.status_code == 200, answer.text
        return [t["name"] for t in answer.json()["items"]]

    assert names() == ["spenders_daily", "seed_manual"]  # by id: creation order
    assert names(sort="name") == ["seed_manual", "spenders_daily"]
    assert names(schedule_type="manual") == ["seed_manual"]
    assert names(name="SPEND") == ["spenders_daily"]
    assert names(entity="user-user_id", status="editing", sort="name") == [
        "seed_manual",
        "spenders_daily",
    ]
    assert names(owner="operator", application="demo_app", datasource="wh", mine=True) != []
    assert names(execution_status="not_run", target_type="project", sort="-name") == [
        "spenders_daily",
        "seed_manual",
    ]
    assert names(datasource="crm_mysql") == [] and names(entity="nothing") == []
    first = api.get(TASKS, params={"sort": "-name", "size": 1}).json()
    assert (first["total"], [t["name"] for t in first["items"]]) == (2, ["spenders_daily"])
    second = api.get(TASKS, params={"sort": "-name", "size": 1, "after": first["next_cursor"]})
    assert [t["name"] for t in second.json()["items"]] == ["seed_manual"]
    for bad in [{"sort": "owner_password"}, {"status": "lost"}, {"size": 0}]:
        assert api.get(TASKS, params=bad).status_code == 422


def test_the_task_list_shows_every_change_at_once_although_its_pages_are_kept(
    client: MakeClient,
    demo: Database,  # noqa: F811
    settings: Settings,
) -> None:
    api = client("operator")
    mine = {"name": "seed_manual"}
    assert api.get(TASKS, params=mine).json()["total"] == 0
    assert api.get(TASKS, params=mine).json()["total"] == 0  # kept
    _published_manual_task(api)
    [row] = api.get(TASKS, params=mine).json()["items"]
    assert (row["status"], row["execution_status"]) == ("published", "not_run")
    ran = api.post(f"{TASKS}/seed_manual/run", json={"bizdate": YESTERDAY.isoformat()})
    [row] = api.get(TASKS, params=mine).json()["items"]
    assert row["execution_status"] == "waiting"
    # A worker of this process (as in `tagport serve`) runs it: its writes drop kept pages too.
    work(settings, demo, ran.json()["id"]).join(60)
    [row] = api.get(TASKS, params=mine).json()["items"]
    assert row["execution_status"] == "succeeded"


def test_a_change_made_by_another_process_shows_in_the_task_list_within_its_bound(
    client: MakeClient,
    demo: Database,  # noqa: F811
    settings: Settings,
) -> None:
    api = client("operator")
    _published_manual_task(api)
    assert api.get(TASKS, params={"status": "offline"}).json()["total"] == 0
    other = Database(demo.url, settings.secret)  # another process's connection and memory
    try:
        with other.uow() as uow:
            uow.session.execute(
                update(t.OfflineService)
                .where(t.OfflineService.name == "seed_manual")
                .values(status="offline")
            )
            uow.commit()
        seen = 0
        deadline = time.monotonic() + 10 * settings.api_cache_seconds + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.1)
            seen = api.get(TASKS, params={"status": "offline"}).json()["total"]
        assert seen == 1
    finally:
        other.dispose()
