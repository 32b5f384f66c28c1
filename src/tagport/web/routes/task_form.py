"""The offline service form: create (`/offline-services/new`) and edit
(`/offline-services/{name}/edit`), with its live parts under `/offline-services/form/...`.

The form re-renders itself from what was posted (`form/refresh`) whenever a choice changes what
it offers (audience -> tags, data source -> schemas -> tables -> columns), so nothing typed is lost
and every list comes from the services. Saving and publishing call the task services; their
refusals come back beside the fields they concern (422). One-click table creation saves the
draft first: the statement is generated from the saved task, as the API does.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from tagport.api.problems import status_of
from tagport.domain.dates import PartitionFormat
from tagport.domain.documents import parse_spec
from tagport.domain.states import PERMISSION_PERIODS, TaskStatus
from tagport.domain.tasks import OfflineServiceSpec, version_changes
from tagport.errors import Conflict, InvalidInput, TagportError
from tagport.services import catalog, permission_requests, publication, targets, tasks
from tagport.services.table_permissions import TableRef
from tagport.services.tasks import TaskDetail, stored
from tagport.web.pages import PRODUCT_NAMES, Page, Viewer, is_htmx
from tagport.web.task_form import TaskForm, errors_by_control
from tagport.web.task_form_choices import Choices, choices, owners

router = APIRouter()
BASE = "/offline-services"
FORMATS = tuple(f.value for f in PartitionFormat)
PERMISSION_FIELDS = ("datasource", "schema", "table", "reason", "days", "until")


def task_path(name: str, suffix: str = "") -> str:
    """A task's page (`/edit`: its form), the name percent-encoded (for headers too)."""
    return f"{BASE}/{quote(name, safe='')}{suffix}"


def _spec(document: dict[str, Any]) -> OfflineServiceSpec:
    spec = parse_spec({"kind": "OfflineService", **document}, "offline service")
    assert isinstance(spec, OfflineServiceSpec)
    return spec


def _changes(detail: TaskDetail | None, form: TaskForm) -> list[str]:
    """What this version changes in the published one: the form as it is now when it parses,
    else the saved draft."""
    if detail is None or detail.published is None:
        return []
    try:
        return version_changes(detail.published, stored(_spec(form.document())))
    except InvalidInput:
        return detail.unpublished_changes


def _default_partition(form: TaskForm, found: Choices) -> None:
    """A newly chosen table's date partition field defaults to its first partition column."""
    if form.table and form.partition_for != form.table and found.table is not None:
        first = found.table.partition_columns[:1]
        form.partition_field = first[0] if first else ""
        form.partition_for = form.table


def render_form(
    viewer: Viewer,
    form: TaskForm,
    detail: TaskDetail | None,
    status_code: int = 200,
    found: Choices | None = None,
    **values: Any,
) -> HTMLResponse:
    """The form (the whole page, or its area for htmx) with its pickers filled for `form`
    (`found`: already read for it)."""
    editing = detail.name if detail else None
    found = found or choices(viewer, form, editing)
    _default_partition(form, found)
    action = task_path(editing, "/edit") if editing else f"{BASE}/new"
    template = "task_form/_form.html" if is_htmx(viewer.request) else "task_form/page.html"
    return viewer.render(
        template,
        status_code,
        active="offline_services",
        form=form,
        detail=detail,
        editing=editing,
        action=action,
        choices=found,
        sources=found.sources(form),
        same_name=found.same_name(form),
        changes=_changes(detail, form),
        formats=FORMATS,
        type_names=PRODUCT_NAMES,
        periods=PERMISSION_PERIODS,
        errors=values.pop("errors", {}),
        **values,
    )


def _datasource_type(viewer: Viewer, name: str) -> str:
    try:
        spec, _ = catalog.show(viewer.ctx.db, "DataSource", name)
    except TagportError:
        return ""
    return str(getattr(spec, "type", ""))


def _edit_form(viewer: Viewer, detail: TaskDetail) -> TaskForm:
    target = detail.draft.get("target") or {}
    kind = _datasource_type(viewer, target.get("datasource", ""))
    return TaskForm.of_document(detail.draft, kind, detail.etag)


@router.get(f"{BASE}/new", response_class=HTMLResponse)
def new_task(viewer: Page) -> HTMLResponse:
    """An empty form; the viewer owns the task unless they pick another owner."""
    return render_form(viewer, TaskForm(owner=viewer.ctx.actor.login), None)


@router.get(BASE + "/{name}/edit", response_class=HTMLResponse)
def edit_task(viewer: Page, name: str) -> HTMLResponse:
    detail = tasks.task_detail(viewer.ctx.db, viewer.ctx.actor, name)
    return render_form(viewer, _edit_form(viewer, detail), detail)


async def _posted(request: Request) -> TaskForm:
    return TaskForm.posted(await request.form())


def _detail_of(viewer: Viewer, editing: str) -> TaskDetail | None:
    return tasks.task_detail(viewer.ctx.db, viewer.ctx.actor, editing) if editing else None


@router.post(f"{BASE}/form/refresh", response_class=HTMLResponse)
async def refresh(viewer: Page, request: Request) -> HTMLResponse:
    """The form again for what was posted; `mapping_action` fills the grid by same name or
    purges it (saved with the form, like every other change)."""
    posted = await request.form()
    form = TaskForm.posted(posted)
    action = str(posted.get("mapping_action") or "")
    editing = str(posted.get("editing") or "")

    def answer() -> HTMLResponse:
        detail = _detail_of(viewer, editing)
        found = choices(viewer, form, editing or None)
        if action == "same_name":
            form.mapping = found.same_name(form)
        elif action == "purge":
            form.mapping = {}
        return render_form(viewer, form, detail, found=found)

    return await run_in_threadpool(answer)


@router.post(f"{BASE}/form/name-check", response_class=HTMLResponse)
async def name_check(viewer: Page, request: Request) -> HTMLResponse:
    """Whether the typed name may name a new task (checked as the user types)."""
    name = str((await request.form()).get("name") or "").strip()
    problem = await run_in_threadpool(tasks.name_problem, viewer.ctx.db, name) if name else None
    return viewer.render("task_form/_name_check.html", name=name, problem=problem)


@router.post(f"{BASE}/form/owners", response_class=HTMLResponse)
async def owner_options(viewer: Page, request: Request) -> HTMLResponse:
    """The owner picker for the typed keyword."""
    form = await _posted(request)
    found = await run_in_threadpool(owners, viewer, form.owner_search, form.owner)
    return viewer.render("task_form/_owner_select.html", form=form, owners=found, errors={})


@router.post(f"{BASE}/form/tables", response_class=HTMLResponse)
async def table_options(viewer: Page, request: Request) -> HTMLResponse:
    """The table picker for the typed keyword."""
    posted = await request.form()
    form = TaskForm.posted(posted)
    editing = str(posted.get("editing") or "") or None
    found = await run_in_threadpool(choices, viewer, form, editing)
    return viewer.render("task_form/_table_select.html", form=form, choices=found, errors={})


def _save(viewer: Viewer, form: TaskForm, editing: str | None) -> TaskDetail:
    """Create the task, or save the edited draft against the ETag it was read with."""
    if editing:
        form.name = editing  # a task cannot be renamed
    spec = _spec(form.document())
    if editing:
        return tasks.edit_task(viewer.ctx.db, viewer.ctx.actor, spec, form.etag or None)
    return tasks.create_task(viewer.ctx.db, viewer.ctx.actor, spec)


def _refused(viewer: Viewer, form: TaskForm, editing: str | None, error: TagportError) -> Response:
    """The form as sent, each reason beside its field (422); a taken name is the name's."""
    if isinstance(error, InvalidInput):
        errors = errors_by_control(error.problems, form.document())
    elif isinstance(error, Conflict) and error.code == "task.exists":
        errors = {"name": str(error)}
    else:
        raise error
    return render_form(viewer, form, _detail_of(viewer, editing or ""), 422, errors=errors)


def _go(viewer: Viewer, path: str) -> Response:
    if is_htmx(viewer.request):
        return Response(status_code=200, headers={"HX-Redirect": path})
    return RedirectResponse(path, status_code=303)


def _submit(viewer: Viewer, form: TaskForm, editing: str | None, intent: str) -> Response:
    """Save the draft; then, to publish, request and complete the publication at once so that
    its refusals show in the form (a published task goes to its details)."""
    try:
        detail = _save(viewer, form, editing)
    except (InvalidInput, Conflict) as error:
        return _refused(viewer, form, editing, error)
    name = detail.name
    if intent != "publish":
        return _go(viewer, task_path(name))
    db, actor = viewer.ctx.db, viewer.ctx.actor
    result = publication.publish_now(db, actor, name, viewer.ctx.targets.describe)
    if result.status is TaskStatus.PUBLISHED:
        return _go(viewer, task_path(name))
    detail = tasks.task_detail(db, actor, name)
    response = render_form(viewer, _edit_form(viewer, detail), detail, failures=result.problems)
    response.headers["HX-Push-Url"] = task_path(name, "/edit")
    return response


@router.post(f"{BASE}/new", response_class=HTMLResponse)
async def create(viewer: Page, request: Request) -> Response:
    posted = await request.form()
    intent = str(posted.get("intent") or "save")
    return await run_in_threadpool(_submit, viewer, TaskForm.posted(posted), None, intent)


@router.post(BASE + "/{name}/edit", response_class=HTMLResponse)
async def save(viewer: Page, request: Request, name: str) -> Response:
    posted = await request.form()
    intent = str(posted.get("intent") or "save")
    return await run_in_threadpool(_submit, viewer, TaskForm.posted(posted), name, intent)


@router.post(f"{BASE}/form/ddl", response_class=HTMLResponse)
async def open_table_creation(viewer: Page, request: Request) -> Response:
    """One-click table creation: save the draft, then show its CREATE TABLE in a dialog."""
    posted = await request.form()
    form = TaskForm.posted(posted)
    editing = str(posted.get("editing") or "") or None

    def answer() -> Response:
        try:
            detail = _save(viewer, form, editing)
        except (InvalidInput, Conflict) as error:
            return _refused(viewer, form, editing, error)
        settings, db, actor = viewer.ctx.settings, viewer.ctx.db, viewer.ctx.actor
        values: dict[str, Any] = {"message": "draft_saved"}
        try:
            values["ddl"] = targets.generate_ddl(db, settings, detail.name, actor=actor)
        except TagportError as error:
            values["ddl_error"] = str(error)
        response = render_form(viewer, _edit_form(viewer, detail), detail, **values)
        response.headers["HX-Push-Url"] = task_path(detail.name, "/edit")
        return response

    return await run_in_threadpool(answer)


@router.post(f"{BASE}/form/create-table", response_class=HTMLResponse)
async def create_table(viewer: Page, request: Request) -> Response:
    """Run the (edited) statement: refused in the dialog, or the form again, mapped."""
    posted = await request.form()
    name = str(posted.get("editing") or "")
    sql = str(posted.get("sql") or "")

    def answer() -> Response:
        settings, db, actor = viewer.ctx.settings, viewer.ctx.db, viewer.ctx.actor
        try:
            created = targets.create_table(db, settings, actor, name, sql or None)
        except TagportError as error:
            return viewer.render(
                "task_form/_ddl_body.html", status_of(error), editing=name, ddl=sql, error=error
            )
        detail = tasks.task_detail(db, actor, name)
        response = render_form(
            viewer,
            _edit_form(viewer, detail),
            detail,
            message="table_created",
            created=created.table.name,
        )
        response.headers["HX-Retarget"] = "#form-area"
        response.headers["HX-Reswap"] = "innerHTML"
        return response

    return await run_in_threadpool(answer)


def _period(days: str, until: str) -> tuple[int | None, date | None]:
    """The period the dialog asked for: a number of days, or (`until`) an end date."""
    if days == "until":
        try:
            return None, date.fromisoformat(until)
        except ValueError:
            raise InvalidInput.one("permission request", "until", "choose an end date") from None
    return (int(days) if days.isdigit() else None), None


@router.post(f"{BASE}/form/permission-request", response_class=HTMLResponse)
async def request_permission(viewer: Page, request: Request) -> HTMLResponse:
    """Ask for write permission on the form's table; the answer replaces the dialog's body."""
    posted = await request.form()
    values = {k: str(posted.get(k) or "").strip() for k in PERMISSION_FIELDS}
    ref = TableRef(values["datasource"], values["schema"], values["table"])

    def answer() -> HTMLResponse:
        try:
            days, until = _period(values["days"], values["until"])
            made = permission_requests.request(
                viewer.ctx.db, viewer.ctx.actor, ref, values["reason"], days, until
            )
        except TagportError as error:
            errors = {p.field: p.message for p in error.problems} or {"": str(error)}
            return viewer.render(
                "task_form/_permission_body.html",
                status_of(error),
                ref=ref,
                values=values,
                periods=PERMISSION_PERIODS,
                errors=errors,
            )
        return viewer.render("task_form/_permission_body.html", ref=ref, sent=made, errors={})

    return await run_in_threadpool(answer)
