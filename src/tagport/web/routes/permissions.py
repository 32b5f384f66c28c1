"""The permissions page: my requests for write permission (withdraw one), those awaiting my
approval (approve; reject with a required comment), my grants with their expiry (renew: a new
request; return), and the request form other pages link to with the table filled in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from tagport.api.problems import status_of
from tagport.domain.states import (
    EXPIRY_WARNING_DAYS,
    PERMISSION_PERIODS,
    REQUEST_TRANSITIONS,
    GrantStatus,
    RequestEvent,
)
from tagport.domain.states import RequestStatus as Status
from tagport.errors import InvalidInput, Problem, TagportError
from tagport.services import catalog
from tagport.services import permission_requests as requests
from tagport.services.table_permissions import TableRef
from tagport.store.paging import PageRequest
from tagport.web.forms import FORM_LEVEL, Form, field_errors, flag, page_number, text
from tagport.web.pages import Page, Viewer, is_htmx

router = APIRouter()
PAGE_SIZE = 20
TABS = ("mine", "approve", "grants")
REQUEST_FIELDS = {"datasource", "schema", "table", "days", "until", "reason"}
ALL = "all"
"""The status filter that keeps every status."""


@dataclass(frozen=True)
class Filters:
    """The list the page shows, as its URL says: tab, status, expiring soon, page."""

    tab: str
    status: str
    expiring: bool
    page: int

    @property
    def only(self) -> str | None:
        """The status to keep, None for all."""
        return None if self.status == ALL else self.status

    def query(self) -> dict[str, Any]:
        return {"tab": self.tab, "status": self.status, "expiring": "1" if self.expiring else ""}


def _filters(tab: str, status: str, expiring: str, page: str) -> Filters:
    tab = tab if tab in TABS else "mine"
    statuses = {s.value for s in (GrantStatus if tab == "grants" else Status)}
    if tab == "approve" and status == "":
        status = Status.PENDING.value  # what an approver came for; every one is `status=all`
    kept = status if status in statuses else ALL
    return Filters(tab, kept, flag(expiring), page_number(page))


@router.get("/permissions", response_class=HTMLResponse)
def permissions_page(
    viewer: Page,
    tab: str = "mine",
    status: str = "",
    expiring: str = "",
    page: str = "1",
    done: str = "",
) -> HTMLResponse:
    """One of the three lists, filtered and paged by its URL."""
    chosen = _filters(tab, status, expiring, page)
    paging = PageRequest(chosen.page, PAGE_SIZE)
    db, actor = viewer.ctx.db, viewer.ctx.actor
    found: Any
    if chosen.tab == "grants":
        where = requests.GrantFilter(
            status=GrantStatus(chosen.only) if chosen.only else None,
            expiring=chosen.expiring,
        )
        found = requests.grants_page(db, actor, where, paging)
    else:
        found = requests.requests_page(
            db, actor, paging, to_approve=chosen.tab == "approve", status=chosen.only
        )
    return viewer.render(
        "permissions/page.html",
        active="permissions",
        chosen=chosen,
        query=chosen.query(),
        found=found,
        statuses=[s.value for s in (GrantStatus if chosen.tab == "grants" else Status)],
        warning_days=EXPIRY_WARNING_DAYS,
        done=done if done in DONE else "",
        allowed=_allowed,
    )


def _allowed(status: str, event: str) -> bool:
    """Whether a request in `status` may be approved, rejected or withdrawn (the state rule)."""
    return (Status(status), RequestEvent(event)) in REQUEST_TRANSITIONS


DONE = {"requested", "withdrawn", "approved", "rejected", "returned"}
"""What a finished action tells the list it comes back to."""


def _back(viewer: Viewer, tab: str, done: str) -> Response:
    """Back to a list after an action: a redirect (plain form) or HX-Redirect (htmx)."""
    target = f"/permissions?tab={tab}&done={done}"
    if is_htmx(viewer.request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/permissions/requests/{request_id}/withdraw", response_model=None)
def withdraw(viewer: Page, request_id: int) -> Response:
    requests.withdraw(viewer.ctx.db, viewer.ctx.actor, request_id)
    return _back(viewer, "mine", "withdrawn")


@router.post("/permissions/requests/{request_id}/approve", response_model=None)
def approve(viewer: Page, request_id: int, form: Form) -> Response:
    requests.approve(viewer.ctx.db, viewer.ctx.actor, request_id, text(form, "comment") or None)
    return _back(viewer, "approve", "approved")


@router.post("/permissions/requests/{request_id}/reject", response_model=None)
def reject(viewer: Page, request_id: int, form: Form) -> Response:
    """Reject with a comment; without one the dialog shows why, keeping nothing else lost."""
    comment = text(form, "comment")
    try:
        requests.reject(viewer.ctx.db, viewer.ctx.actor, request_id, comment)
    except InvalidInput as refused:
        error = "; ".join(p.message for p in refused.problems)
        values = {"id": request_id, "comment": comment, "error": error}
        return viewer.render("permissions/_reject.html", 422, view=values)
    return _back(viewer, "approve", "rejected")


@router.post("/permissions/grants/{grant_id}/return", response_model=None)
def return_grant(viewer: Page, grant_id: int) -> Response:
    requests.return_grant(viewer.ctx.db, viewer.ctx.actor, grant_id)
    return _back(viewer, "grants", "returned")


def _request_form(
    viewer: Viewer,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    sources = catalog.list_objects(viewer.ctx.db, "DataSource", actor=viewer.ctx.actor)
    return viewer.render(
        "permissions/request.html",
        status,
        active="permissions",
        values=values,
        errors=errors or {},
        periods=PERMISSION_PERIODS,
        datasources=[spec.key for spec, _ in sources],
    )


@router.get("/permissions/new", response_class=HTMLResponse)
def new_request(
    viewer: Page, datasource: str = "", schema: str = "", table: str = "", renew: str = ""
) -> HTMLResponse:
    """The request form, with the table filled in by the page that links here (a task's
    target, a grant to renew)."""
    values = {"datasource": datasource, "schema": schema, "table": table, "days": "30"}
    return _request_form(viewer, values | {"renew": "1" if flag(renew) else ""})


def _period(form: FormData) -> tuple[int | None, date | None]:
    """The period chosen: a number of days, or an end date (InvalidInput if not a date)."""
    days, until = text(form, "days"), text(form, "until")
    try:
        end = date.fromisoformat(until) if until and not days else None
    except ValueError:
        raise InvalidInput(Problem("permission request", "until", "is not a date")) from None
    return (int(days) if days.isdigit() else None), end


@router.post("/permissions/requests", response_model=None)
def create_request(viewer: Page, form: Form) -> Response:
    """Ask the data source owner for write permission; a refusal keeps what was typed."""
    values = {field: text(form, field) for field in REQUEST_FIELDS}
    ref = TableRef(values["datasource"], values["schema"], values["table"])
    try:
        if not ref.datasource or not ref.table:
            missing = "datasource" if not ref.datasource else "table"
            raise InvalidInput.one("permission request", missing, "required")
        days, until = _period(form)
        requests.request(viewer.ctx.db, viewer.ctx.actor, ref, values["reason"], days, until)
    except TagportError as refused:
        errors = (
            field_errors(refused, REQUEST_FIELDS)
            if isinstance(refused, InvalidInput)
            else {FORM_LEVEL: str(refused)}
        )
        return _request_form(viewer, values, errors, status_of(refused))
    return _back(viewer, "mine", "requested")
