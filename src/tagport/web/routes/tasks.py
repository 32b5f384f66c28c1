"""The offline services list, a task's details, and the actions of a row: publish, unpublish,
delete, run and backfill (dialogs), one task or the checked ones at once.

The list's URL keeps its filters, sort and page. An action answers the list as it now is (htmx
swaps it in place) with each acted-on row's result, so a refusal shows its reasons in its row.
The create and edit form is another page (`task_form.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import QueryParams

from tagport.domain.catalog import DataSourceType
from tagport.domain.dates import default_bizdate
from tagport.domain.states import ExecutionStatus, ScheduleType, TaskStatus
from tagport.errors import InvalidInput, Problem, TagportError
from tagport.services import instances, publication, task_views, tasks
from tagport.store.paging import PageRequest
from tagport.store.tables import utcnow
from tagport.web.pages import Page, Viewer, is_htmx

router = APIRouter()
LIST = "/offline-services"
PAGE_SIZE = 20
"""Rows per page of the list unless the URL says `size` (the benchmark measures this one)."""
MAX_PAGE_SIZE = 200
PRODUCT_NAMES = {
    DataSourceType.MYSQL: "MySQL",
    DataSourceType.ORACLE: "Oracle",
    DataSourceType.ADB_PG: "AnalyticDB PostgreSQL",
    DataSourceType.GREENPLUM: "Greenplum",
    DataSourceType.OPENGAUSS: "openGauss",
    DataSourceType.POSTGRESQL: "PostgreSQL",
}
"""Target types named by their product (the same in every language; `project` is translated)."""
BULK_ACTIONS = ("publish", "unpublish", "run")
MAX_GROUPS = instances.MAX_BACKFILL_GROUPS
BULK = LIST + "/bulk-actions"
"""Never a task's name (a name has no hyphen); routed before the per-task actions."""


@dataclass(frozen=True)
class ListQuery:
    """The list's filters, sort and page, as its URL keeps them."""

    mine: bool = False
    name: str = ""
    application: str = ""
    entity: str = ""
    target_type: str = ""
    status: str = ""
    execution_status: str = ""
    schedule_type: str = ""
    sort: str = ""
    desc: bool = False
    page: int = 1
    size: int = PAGE_SIZE

    @classmethod
    def of(cls, params: QueryParams | dict[str, str]) -> ListQuery:
        """From a query string; a sort the list does not offer is ignored, a page is >= 1."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = str(params.get(item.name, "") or "").strip()
            if item.name in ("mine", "desc"):
                values[item.name] = raw not in ("", "0", "false")
            elif item.name == "page":
                values[item.name] = max(1, min(int(raw), 1_000_000)) if raw.isdigit() else 1
            elif item.name == "size":
                values[item.name] = max(1, min(int(raw), MAX_PAGE_SIZE)) if raw.isdigit() else 0
            else:
                values[item.name] = raw[:200]
        values["size"] = values["size"] or PAGE_SIZE
        if values["sort"] not in tasks.TASK_SORTS:
            values["sort"] = ""
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """For links that change one value and keep the others (sort headers, pager)."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        return values | {"size": self.size if self.size != PAGE_SIZE else ""}

    def task_filter(self) -> tasks.TaskFilter:
        return tasks.TaskFilter(
            mine=self.mine,
            name=self.name or None,
            application=self.application or None,
            entity=self.entity or None,
            target_type=self.target_type or None,
            status=self.status or None,
            execution_status=self.execution_status or None,
            schedule_type=self.schedule_type or None,
        )

    def paging(self) -> PageRequest:
        sort = ("-" if self.desc else "") + (self.sort or "name")
        return PageRequest(self.page, self.size, sort)


@dataclass(frozen=True)
class Result:
    """What an action did to one row: done, or refused and why."""

    ok: bool
    message: str


def _current_query(viewer: Viewer) -> ListQuery:
    """The filters of the page an htmx action came from (its URL), else of this request."""
    current = viewer.request.headers.get("hx-current-url")
    if current:
        return ListQuery.of(dict(parse_qsl(urlsplit(current).query)))
    return ListQuery.of(viewer.request.query_params)


def _list_values(viewer: Viewer, query: ListQuery) -> dict[str, Any]:
    """One page of the list, and for each row why each refused action is refused and why its
    latest run failed (if it did)."""
    ctx = viewer.ctx
    page = tasks.task_page(ctx.db, ctx.actor, query.task_filter(), query.paging(), ctx.settings.tz)
    refused = {
        row.name: task_views.refusals(row.status, row.schedule_type, row.actions)
        for row in page.items
    }
    failed_runs = task_views.latest_errors(
        ctx.db, [row.name for row in page.items if row.execution_status == "failed"]
    )
    return {
        "rows": page.items,
        "total": page.total,
        "query": query,
        "q": query.as_dict(),
        "refused": refused,
        "failed_runs": failed_runs,
        "page_size": query.size,
        "product_names": {k.value: v for k, v in PRODUCT_NAMES.items()},
        "bizdate": default_bizdate(utcnow(), ctx.settings.tz),
    }


def _list(viewer: Viewer, query: ListQuery, results: dict[str, Result] | None = None) -> Any:
    """The list fragment (htmx) or the whole page with its filters."""
    values = _list_values(viewer, query) | {"results": results or {}}
    if is_htmx(viewer.request):
        return viewer.render("tasks/_list.html", **values)
    return viewer.render(
        "tasks/list.html",
        active="offline_services",
        choices=task_views.filter_choices(viewer.ctx.db),
        target_types=list(DataSourceType),
        statuses=list(TaskStatus),
        execution_statuses=list(ExecutionStatus),
        schedule_types=list(ScheduleType),
        **values,
    )


@router.get(LIST, response_class=HTMLResponse)
def task_list(viewer: Page) -> Any:
    """The list: every column and filter of DESIGN §3, sorted and paged."""
    return _list(viewer, ListQuery.of(viewer.request.query_params))


def _attempt(action: Callable[[], str]) -> Result:
    """Run one row's action; a refusal is that row's result, not the page's error."""
    try:
        return Result(True, action())
    except InvalidInput as refused:
        return Result(False, "; ".join(p.message for p in refused.problems))
    except TagportError as refused:
        return Result(False, str(refused))


def _publish(viewer: Viewer, name: str) -> str:
    """Publish now (the checks run in this request): the row shows the outcome at once."""
    ctx = viewer.ctx
    outcome = publication.publish_now(ctx.db, ctx.actor, name, ctx.targets.describe)
    if outcome.problems:
        raise InvalidInput([Problem("", "", problem) for problem in outcome.problems])
    return viewer.t("tasks.result.published")


def _unpublish(viewer: Viewer, name: str) -> str:
    publication.unpublish_now(viewer.ctx.db, viewer.ctx.actor, name)
    return viewer.t("tasks.result.unpublished")


def _run(viewer: Viewer, name: str, bizdate: date) -> int:
    ctx = viewer.ctx
    return instances.run(ctx.db, ctx.actor, name, bizdate, ctx.settings.tz)


def _after_action(viewer: Viewer, results: dict[str, Result], gone: bool = False) -> Any:
    """The list again with each row's result (htmx, from the list); from a task's page, that
    page again (or the list once the task is `gone`) or the refusal in its flash area; without
    JavaScript, back to the list."""
    if not is_htmx(viewer.request):
        return RedirectResponse(LIST, status_code=303)
    current = urlsplit(viewer.request.headers.get("hx-current-url", "")).path
    if current == LIST:
        return _list(viewer, _current_query(viewer), results)
    refused = [r.message for r in results.values() if not r.ok]
    if refused:
        response = viewer.render("_flash.html", 409, status=409, code="refused", message=refused[0])
        response.headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return response
    if gone:
        return Response(status_code=204, headers={"HX-Redirect": LIST})
    return Response(status_code=204, headers={"HX-Refresh": "true"})


@router.post(BULK + "/{action}", response_class=HTMLResponse)
def bulk(
    viewer: Page,
    action: str,
    task: Annotated[list[str] | None, Form()] = None,
    bizdate: Annotated[str, Form()] = "",
) -> Any:
    """Publish, unpublish or run every checked task; each row shows its own result."""
    if action not in BULK_ACTIONS:
        raise InvalidInput.one("bulk action", "action", f"one of {', '.join(BULK_ACTIONS)}")
    day = _bizdate_field(viewer, bizdate) if action == "run" else None

    def act(name: str) -> str:
        if day is not None:
            return viewer.t("tasks.result.run", id=_run(viewer, name, day))
        return _publish(viewer, name) if action == "publish" else _unpublish(viewer, name)

    # Each lambda runs at once, inside _attempt: the loop variable is the current one.
    results = {name: _attempt(lambda: act(name)) for name in task or []}  # noqa: B023
    return _after_action(viewer, results)


@router.post(LIST + "/{name}/publish", response_class=HTMLResponse)
def publish(viewer: Page, name: str) -> Any:
    return _after_action(viewer, {name: _attempt(lambda: _publish(viewer, name))})


@router.post(LIST + "/{name}/unpublish", response_class=HTMLResponse)
def unpublish(viewer: Page, name: str) -> Any:
    return _after_action(viewer, {name: _attempt(lambda: _unpublish(viewer, name))})


@router.post(LIST + "/{name}/delete", response_class=HTMLResponse)
def delete(viewer: Page, name: str) -> Any:
    """Delete an offline or publish-failed task; the list says so where the row was."""

    def act() -> str:
        tasks.delete_task(viewer.ctx.db, viewer.ctx.actor, name)
        return viewer.t("tasks.result.deleted", name=name)

    result = _attempt(act)
    return _after_action(viewer, {name: result}, gone=result.ok)


def _bizdate_field(viewer: Viewer, value: str, field: str = "bizdate") -> date:
    """A data timestamp typed in a form: empty means T-1."""
    if not value.strip():
        return default_bizdate(utcnow(), viewer.ctx.settings.tz)
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput.one("", field, viewer.t("tasks.run.bad_date")) from None


@router.get(LIST + "/{name}", response_class=HTMLResponse)
def details(viewer: Page, name: str) -> HTMLResponse:
    """Draft and published versions side by side, what differs highlighted."""
    detail = tasks.task_detail(viewer.ctx.db, viewer.ctx.actor, name)
    task_row = task_views.document_rows(detail.published, detail.draft)
    refused = task_views.refusals(
        detail.status, str(detail.draft.get("schedule", {}).get("type", "manual")), detail.actions
    )
    return viewer.render(
        "tasks/details.html",
        active="offline_services",
        task=detail,
        fields=task_row,
        refused=refused,
    )


def _dialog_page(viewer: Viewer, template: str, status_code: int = 200, **values: Any) -> Any:
    """A dialog's fragment (htmx: it opens itself) or the same form as a page of its own."""
    values = {"active": "offline_services", "whole_page": not is_htmx(viewer.request)} | values
    return viewer.render(template, status_code, **values)


def _go(viewer: Viewer, url: str) -> Response:
    if is_htmx(viewer.request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _problems(refused: InvalidInput, known: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """Each problem by the form field it concerns; the others as one message."""
    errors: dict[str, str] = {}
    other = []
    for problem in refused.problems:
        if problem.field in known:
            errors[problem.field] = problem.message
        else:
            other.append(str(problem))
    return errors, "; ".join(other)


@router.get(LIST + "/{name}/run", response_class=HTMLResponse)
def run_dialog(viewer: Page, name: str) -> Any:
    """The run dialog: a data timestamp, T-1 by default."""
    tasks.task_detail(viewer.ctx.db, viewer.ctx.actor, name)  # 404 / 403 before a form
    day = default_bizdate(utcnow(), viewer.ctx.settings.tz)
    return _dialog_page(viewer, "tasks/run.html", name=name, bizdate=day.isoformat(), errors={})


@router.post(LIST + "/{name}/run", response_class=HTMLResponse, response_model=None)
def run(viewer: Page, name: str, bizdate: Annotated[str, Form()] = "") -> Any:
    """Create the instance, then show it (its progress) — or the dialog again with why not."""
    try:
        instance_id = _run(viewer, name, _bizdate_field(viewer, bizdate))
    except InvalidInput as refused:
        errors, message = _problems(refused, ("bizdate",))
        values: dict[str, Any] = {"bizdate": bizdate, "errors": errors, "message": message}
        values["name"] = name
        return _dialog_page(viewer, "tasks/run.html", 422, **values)
    return _go(viewer, f"/instances/{instance_id}")


@router.get(LIST + "/{name}/backfill", response_class=HTMLResponse)
def backfill_dialog(viewer: Page, name: str) -> Any:
    """The backfill dialog: a range of data timestamps (T-1 to T-1) and parallel groups."""
    tasks.task_detail(viewer.ctx.db, viewer.ctx.actor, name)
    day = default_bizdate(utcnow(), viewer.ctx.settings.tz).isoformat()
    values: dict[str, Any] = {"name": name, "first": day, "last": day, "groups": "1"}
    values["errors"] = {}
    return _dialog_page(viewer, "tasks/backfill.html", max_groups=MAX_GROUPS, **values)


@router.post(LIST + "/{name}/backfill", response_class=HTMLResponse, response_model=None)
def backfill(
    viewer: Page,
    name: str,
    first: Annotated[str, Form(alias="from")] = "",
    last: Annotated[str, Form(alias="to")] = "",
    groups: Annotated[str, Form()] = "1",
) -> Any:
    """Create the backfill, then show its overall status — or the dialog again with why not."""
    ctx = viewer.ctx
    try:
        count = int(groups) if groups.strip().isdigit() else 0
        made = instances.backfill(
            ctx.db,
            ctx.actor,
            name,
            _bizdate_field(viewer, first, "from"),
            _bizdate_field(viewer, last, "to"),
            count,
            ctx.settings.tz,
        )
    except InvalidInput as refused:
        errors, message = _problems(refused, ("from", "to", "groups"))
        values: dict[str, Any] = {"first": first, "last": last, "groups": groups, "errors": errors}
        return _dialog_page(
            viewer,
            "tasks/backfill.html",
            422,
            name=name,
            message=message,
            max_groups=MAX_GROUPS,
            **values,
        )
    return _go(viewer, f"/backfills/{made}")
