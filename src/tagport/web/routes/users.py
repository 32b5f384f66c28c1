"""The users page, for super admins: find users, add one, set their roles and passwords, add a
service account for scripts. Anyone else is shown the refusal (the services enforce it too)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tagport.api.problems import status_of
from tagport.domain.catalog import Role, UserSpec
from tagport.domain.documents import parse_spec
from tagport.errors import InvalidInput, PermissionDenied, TagportError
from tagport.services import users
from tagport.services.permissions import require_super_admin
from tagport.store.paging import PageRequest
from tagport.web.forms import FORM_LEVEL, Form, field_errors, page_number, text
from tagport.web.pages import Page

router = APIRouter()
PAGE_SIZE = 20
ROLES = [role.value for role in Role]
NEW_FIELDS = {"login", "display_name", "roles"}
ALIASES = {"name": "login"}
"""A user's document calls the login `name`; the form calls it `login`."""


def _may_manage(viewer: Page) -> str | None:
    """Why the viewer may not manage users (None: a super admin)."""
    try:
        require_super_admin(viewer.ctx.actor, "manage users")
    except PermissionDenied as denied:
        return str(denied)
    return None


def _list_page(
    viewer: Page,
    search: str,
    page: int,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    refusal = _may_manage(viewer)
    if refusal:
        return viewer.render("users/refused.html", 403, active="users", refusal=refusal)
    found = users.search_page(viewer.ctx.db, search or None, PageRequest(page, PAGE_SIZE, "login"))
    values = {"errors": {}, "form": "", "typed": {}, "created": "", **values}
    query = {"search": search}
    return viewer.render(
        "users/page.html", status, active="users", found=found, query=query, roles=ROLES, **values
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(viewer: Page, search: str = "", page: str = "1", done: str = "") -> HTMLResponse:
    return _list_page(viewer, search, page_number(page), created=done)


def _refused(
    viewer: Page, refused: TagportError, form_name: str, typed: dict[str, Any]
) -> HTMLResponse:
    """The page again, the refused form keeping what was typed, reasons beside the fields."""
    if isinstance(refused, InvalidInput):
        errors = field_errors(refused, NEW_FIELDS, ALIASES)
    else:
        errors = {FORM_LEVEL: str(refused)}
    return _list_page(viewer, "", 1, status_of(refused), errors=errors, form=form_name, typed=typed)


@router.post("/users", response_model=None)
def add_user(viewer: Page, form: Form) -> Response:
    """Add a user with the roles ticked; then show them in the list."""
    login, display = text(form, "login"), text(form, "display_name")
    roles = [r for r in form.getlist("roles") if isinstance(r, str)]
    typed = {"login": login, "display_name": display, "roles": roles}
    try:
        document = {"kind": "User", "name": login, "display_name": display or None}
        spec = parse_spec(document | {"roles": roles}, f"user {login}")
        assert isinstance(spec, UserSpec)
        users.add_user(viewer.ctx.db, viewer.ctx.actor, spec)
    except TagportError as refused:
        return _refused(viewer, refused, "user", typed)
    return RedirectResponse(f"/users?search={login}&done=user", status_code=303)


@router.post("/users/service-accounts", response_model=None)
def add_service_account(viewer: Page, form: Form) -> Response:
    """A non-human user for automation; it signs in with API tokens only."""
    login, display = text(form, "login"), text(form, "display_name")
    typed = {"login": login, "display_name": display}
    try:
        users.add_service_account(viewer.ctx.db, viewer.ctx.actor, login, display or None)
    except TagportError as refused:
        return _refused(viewer, refused, "service", typed)
    return RedirectResponse(f"/users?search={login}&done=service", status_code=303)


def _row(viewer: Page, login: str, status: int = 200, **values: Any) -> HTMLResponse:
    """One user's row again (htmx), with what happened to it."""
    found = users.search_page(viewer.ctx.db, login, PageRequest(1, 500, "login"))
    view = next(v for v in found.items if v.spec.name == login)
    values = {"error": "", "done": "", **values}
    return viewer.render("users/_row.html", status, view=view, roles=ROLES, **values)


@router.post("/users/{login}/roles", response_class=HTMLResponse)
def set_roles(viewer: Page, login: str, form: Form) -> HTMLResponse:
    roles = [Role(r) for r in form.getlist("roles") if isinstance(r, str) and r in ROLES]
    try:
        users.set_roles(viewer.ctx.db, viewer.ctx.actor, login, roles)
    except TagportError as refused:
        return _row(viewer, login, status_of(refused), error=str(refused))
    return _row(viewer, login, done="roles")


@router.post("/users/{login}/password", response_class=HTMLResponse)
def set_password(viewer: Page, login: str, form: Form) -> HTMLResponse:
    password = form.get("password")
    try:
        users.set_password(
            viewer.ctx.db, viewer.ctx.actor, login, password if isinstance(password, str) else ""
        )
    except InvalidInput as refused:
        message = "; ".join(p.message for p in refused.problems)
        return _row(viewer, login, 422, password_error=message)
    except TagportError as refused:
        return _row(viewer, login, status_of(refused), error=str(refused))
    return _row(viewer, login, done="password")
