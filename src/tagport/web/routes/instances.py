"""Instances: all of them or one task's (filters, jump to a date, rerun, terminate), one
instance with its live progress and log over Server-Sent Events, and a backfill's days.

The event stream sends `progress` (the progress fragment, re-rendered when it changes), `log`
(each new line, secrets masked as in the API) and a final `done` carrying the last fragment;
`static/tagport.js` `follow()` closes on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from tagport.api.schemas import RowId
from tagport.domain.states import InstanceStatus
from tagport.services import instance_logs, instances, task_views
from tagport.services.instances import INSTANCE_SORTS, Trigger
from tagport.store.paging import PageRequest
from tagport.web.pages import Page, Viewer, is_htmx, templates

router = APIRouter()
PAGE_SIZE = 30
POLL_SECONDS = 0.5
"""How often a followed instance is looked at (progress and new log lines)."""
TRIGGERS = (Trigger.SCHEDULE, Trigger.RUN, Trigger.BACKFILL)


def _day(raw: str) -> date | None:
    """A date typed in a filter; anything else is no filter (a date input sends no other)."""
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ListQuery:
    """The instance list's filters (the task's page fixes `task`), sort and page."""

    task: str = ""
    status: str = ""
    trigger: str = ""
    start: str = ""
    end: str = ""
    on: str = ""
    """Jump to a date: only that data timestamp."""
    sort: str = ""
    desc: bool = True
    page: int = 1

    @classmethod
    def of(cls, params: QueryParams | dict[str, str], task: str = "") -> ListQuery:
        """From a query string; a value no instance can have is no filter (a select and a
        date input send no other)."""
        get = {item.name: str(params.get(item.name, "") or "").strip()[:64] for item in fields(cls)}
        return cls(
            task=task or get["task"],
            status=get["status"] if get["status"] in set(InstanceStatus) else "",
            trigger=get["trigger"] if get["trigger"] in TRIGGERS else "",
            start=get["start"] if _day(get["start"]) else "",
            end=get["end"] if _day(get["end"]) else "",
            on=get["on"] if _day(get["on"]) else "",
            sort=get["sort"] if get["sort"] in INSTANCE_SORTS else "",
            desc=get["desc"] not in ("0", "false") if "desc" in params else not get["sort"],
            page=max(1, min(int(get["page"]), 1_000_000)) if get["page"].isdigit() else 1,
        )

    def as_dict(self, fixed_task: bool) -> dict[str, Any]:
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values["desc"] = "1" if self.desc else "0"
        if fixed_task:
            values.pop("task")
        return values

    def instance_filter(self) -> instances.InstanceFilter:
        first = _day(self.on) or _day(self.start)
        last = _day(self.on) or _day(self.end)
        return instances.InstanceFilter(
            self.task or None, self.status or None, self.trigger or None, first, last
        )

    def paging(self) -> PageRequest:
        key = self.sort or "id"
        return PageRequest(self.page, PAGE_SIZE, ("-" if self.desc else "") + key)


def _list(viewer: Viewer, query: ListQuery, fixed_task: str = "") -> HTMLResponse:
    """The instance table (htmx) or the whole page; `fixed_task`: the task's own page."""
    ctx = viewer.ctx
    page = instances.instance_page(ctx.db, ctx.actor, query.instance_filter(), query.paging())
    changeable = task_views.changeable_tasks(ctx.db, ctx.actor, {row.task for row in page.items})
    values: dict[str, Any] = {
        "rows": page.items,
        "total": page.total,
        "query": query,
        "q": query.as_dict(bool(fixed_task)),
        "fixed_task": fixed_task,
        "refused": {
            row.id: task_views.instance_refusals(row.status, row.task in changeable)
            for row in page.items
        },
        "page_size": PAGE_SIZE,
        "statuses": list(InstanceStatus),
        "triggers": TRIGGERS,
    }
    if is_htmx(viewer.request):
        return viewer.render("instances/_list.html", **values)
    active = "offline_services" if fixed_task else "instances"
    return viewer.render("instances/list.html", active=active, **values)


@router.get("/instances", response_class=HTMLResponse)
def all_instances(viewer: Page) -> HTMLResponse:
    """Every instance the viewer may see, newest first, filtered by task, status, trigger
    and data timestamp."""
    return _list(viewer, ListQuery.of(viewer.request.query_params))


@router.get("/offline-services/{name}/instances", response_class=HTMLResponse)
def task_instances(viewer: Page, name: str) -> HTMLResponse:
    """One task's instances (the task's own page of runs)."""
    return _list(viewer, ListQuery.of(viewer.request.query_params, task=name), fixed_task=name)


def _after_action(viewer: Viewer, instance_id: int) -> Response:
    """The list the action came from, re-rendered; the instance's page, reloaded."""
    current = viewer.request.headers.get("hx-current-url", "")
    path = urlsplit(current).path
    if not is_htmx(viewer.request):
        return RedirectResponse(f"/instances/{instance_id}", status_code=303)
    if path == "/instances" or path.endswith("/instances"):
        params = dict(parse_qsl(urlsplit(current).query))
        task = unquote(path.split("/")[2]) if path.startswith("/offline-services/") else ""
        return _list(viewer, ListQuery.of(params, task=task), fixed_task=task)
    return Response(status_code=204, headers={"HX-Refresh": "true"})


@router.post("/instances/{instance_id}/rerun", response_class=HTMLResponse)
def rerun(viewer: Page, instance_id: RowId) -> Response:
    instances.rerun(viewer.ctx.db, viewer.ctx.actor, instance_id)
    return _after_action(viewer, instance_id)


@router.post("/instances/{instance_id}/terminate", response_class=HTMLResponse)
def terminate(viewer: Page, instance_id: RowId) -> Response:
    instances.terminate(viewer.ctx.db, viewer.ctx.actor, instance_id)
    return _after_action(viewer, instance_id)


@router.get("/instances/{instance_id}", response_class=HTMLResponse)
def instance_page(viewer: Page, instance_id: RowId) -> HTMLResponse:
    """An instance: its facts, progress (live while it runs) and its masked log."""
    ctx = viewer.ctx
    view = instances.show(ctx.db, instance_id, actor=ctx.actor)
    progress = task_views.instance_progress(ctx.db, ctx.actor, instance_id)
    log = instance_logs.read_log(
        ctx.db, ctx.settings, ctx.actor, instance_id, tail=instance_logs.MAX_LINES
    )
    return viewer.render(
        "instances/page.html",
        active="instances",
        instance=view,
        progress=progress,
        lines=[_line(line) for line in log.lines],
        last_line=log.lines[-1].id if log.lines else 0,
        refused=task_views.instance_refusals(
            view.status, bool(task_views.changeable_tasks(ctx.db, ctx.actor, {view.task}))
        ),
    )


def _line(line: instance_logs.LogLine) -> str:
    at = line.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"{at} [{line.level}] {line.message}"


def _progress_html(viewer: Viewer, progress: task_views.Progress) -> str:
    template = templates.get_template("instances/_progress.html")
    return template.render(t=viewer.t, lang=viewer.t.language, progress=progress)


@router.get("/instances/{instance_id}/events")
async def instance_events(
    viewer: Page, instance_id: RowId, after: int = Query(0, ge=0, le=2**31 - 1)
) -> EventSourceResponse:
    """Progress and new log lines of an instance as Server-Sent Events, until it has ended."""
    ctx = viewer.ctx
    # Refused (404/403) before the stream starts, as a page would be.
    await run_in_threadpool(task_views.instance_progress, ctx.db, ctx.actor, instance_id)
    return EventSourceResponse(_follow(viewer, instance_id, after), ping=15)


async def _follow(viewer: Viewer, instance_id: int, after: int) -> AsyncIterator[ServerSentEvent]:
    """Poll the instance in a thread; send new log lines, the progress when it changed, and
    `done` with the last progress once it has ended and its last lines are sent."""
    ctx, shown = viewer.ctx, ""
    while True:
        # Progress first: when it says ended, the log read after it holds the last lines.
        progress = await run_in_threadpool(
            task_views.instance_progress, ctx.db, ctx.actor, instance_id
        )
        page = await run_in_threadpool(
            instance_logs.read_log, ctx.db, ctx.settings, ctx.actor, instance_id, after=after
        )
        for line in page.lines:
            yield ServerSentEvent(data=_line(line), event="log", id=str(line.id))
        after = page.next_after or after
        html = _progress_html(viewer, progress)
        if progress.ended and len(page.lines) < instance_logs.MAX_LINES:
            yield ServerSentEvent(data=html, event="done")
            return
        if html != shown:
            shown = html
            yield ServerSentEvent(data=html, event="progress")
        await asyncio.sleep(0 if page.lines else POLL_SECONDS)


@router.get("/backfills/{backfill_id}", response_class=HTMLResponse)
def backfill_page(viewer: Page, backfill_id: RowId) -> HTMLResponse:
    """A backfill's overall status and its days by group (refreshed while it runs)."""
    view = instances.backfill_view(viewer.ctx.db, viewer.ctx.actor, backfill_id)
    return viewer.render("instances/backfill.html", active="instances", backfill=view)
