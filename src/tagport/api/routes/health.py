"""`/healthz` (the process answers) and `/readyz` (metadata database, warehouse and a recent
scheduler heartbeat answer): what a load balancer and an orchestrator probe."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import Response
from pydantic import BaseModel

from tagport.api.deps import State
from tagport.api.routing import Router
from tagport.errors import TagportError
from tagport.runtime.scheduler import SCHEDULER
from tagport.services import scheduling
from tagport.services.warehouse import open_warehouse
from tagport.store import tables as t

router = Router(tags=["health"], include_in_schema=False, mounted_at="")
"""Probes, not API: outside the versioned document."""

HEARTBEAT_LIMIT = timedelta(minutes=2)
"""The scheduler ticks every 15 s: two minutes without a heartbeat means it is not running."""


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]


@router.get("/healthz")
def healthz() -> Health:
    """The process is up."""
    return Health()


def _check_database(state: State) -> Check:
    try:
        revision = state.db.current_revision()
    except TagportError as exc:
        return Check(name="metadata", ok=False, detail=str(exc))
    except Exception as exc:  # a driver error of any kind: the database does not answer
        return Check(name="metadata", ok=False, detail=type(exc).__name__)
    return Check(name="metadata", ok=True, detail=f"revision {revision}")


def _check_warehouse(state: State) -> Check:
    try:
        count = len(open_warehouse(state.settings).tables(None))
    except TagportError as exc:
        return Check(name="warehouse", ok=False, detail=str(exc))
    return Check(name="warehouse", ok=True, detail=f"{count} tables")


def _check_scheduler(state: State) -> Check:
    try:
        last = scheduling.last_heartbeat(state.db, SCHEDULER)
    except TagportError as exc:
        return Check(name="scheduler", ok=False, detail=str(exc))
    if last is None:
        return Check(name="scheduler", ok=False, detail="no scheduler has ever run")
    age = t.utcnow() - last
    ok = age <= HEARTBEAT_LIMIT
    return Check(name="scheduler", ok=ok, detail=f"last heartbeat {int(age.total_seconds())} s ago")


@router.get("/readyz", responses={503: {"model": Readiness, "description": "Not ready"}})
def readyz(state: State, response: Response) -> Readiness:
    """Ready when the metadata database, the warehouse and the scheduler answer."""
    checks = [_check_database(state), _check_warehouse(state), _check_scheduler(state)]
    ready = all(c.ok for c in checks)
    if not ready:
        response.status_code = 503
    return Readiness(ready=ready, checks=checks)
