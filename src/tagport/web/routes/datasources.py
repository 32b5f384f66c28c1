"""The data sources page: list, create and edit a connection (the password is write-only: a form
shows only whether one is set), and test it, showing the server's version or why it failed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tagport.api.problems import status_of
from tagport.domain.catalog import DEFAULT_PORTS, DataSourceType
from tagport.domain.documents import parse_spec
from tagport.errors import InvalidInput, TagportError
from tagport.services import catalog, connections, users
from tagport.store.paging import PageRequest
from tagport.web.forms import FORM_LEVEL, Form, field_errors, page_number, text
from tagport.web.pages import PRODUCT_NAMES, Page

router = APIRouter()
KIND = "DataSource"
PAGE_SIZE = 20
SORTS = ("name", "created_at", "updated_at")
FIELDS = (
    "name",
    "type",
    "host",
    "port",
    "database",
    "username",
    "password",
    "project",
    "owner",
    "description",
)
TYPES = [kind.value for kind in DataSourceType]
"""Database products by type: their own names in every language (a project is a label)."""


@router.get("/datasources", response_class=HTMLResponse)
def list_datasources(
    viewer: Page,
    search: str = "",
    type: str = "",
    owner: str = "",
    sort: str = "name",
    desc: str = "",
    page: str = "1",
) -> HTMLResponse:
    """Data sources by keyword, type and owner, sorted and paged; the filters stay in the URL."""
    query = {"search": search, "type": type, "owner": owner, "sort": sort, "desc": desc}
    key = sort if sort in SORTS else "name"
    paging = PageRequest(page_number(page), PAGE_SIZE, f"-{key}" if desc else key)
    filters = {"type": type or None, "owner": owner or None}
    found = catalog.list_page(
        viewer.ctx.db, viewer.ctx.actor, KIND, paging, search=search or None, filters=filters
    )
    names = [spec.key for spec, _ in found.items]
    return viewer.render(
        "datasources/list.html",
        active="datasources",
        found=found,
        query=query,
        sort=key,
        desc=bool(desc),
        types=TYPES,
        products=PRODUCT_NAMES,
        refusals=catalog.change_refusals(viewer.ctx.db, viewer.ctx.actor, KIND, names),
        create_refusal=catalog.create_refusal(viewer.ctx.db, viewer.ctx.actor, KIND),
    )


def _form_page(
    viewer: Page,
    values: dict[str, Any],
    *,
    key: str | None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
    password_set: bool = False,
) -> HTMLResponse:
    refusal = (
        catalog.change_refusals(viewer.ctx.db, viewer.ctx.actor, KIND, [key]).get(key)
        if key
        else catalog.create_refusal(viewer.ctx.db, viewer.ctx.actor, KIND)
    )
    return viewer.render(
        "datasources/form.html",
        status,
        active="datasources",
        key=key,
        values=values,
        errors=errors or {},
        saved=saved,
        password_set=password_set,
        refusal=refusal,
        types=TYPES,
        products=PRODUCT_NAMES,
        ports={kind.value: port for kind, port in DEFAULT_PORTS.items()},
        logins=[user.name for user in users.search(viewer.ctx.db)],
    )


@router.get("/datasources/new", response_class=HTMLResponse)
def new_datasource(viewer: Page) -> HTMLResponse:
    values = {"type": DataSourceType.POSTGRESQL.value, "owner": viewer.ctx.actor.login}
    return _form_page(viewer, values, key=None)


@router.get("/datasources/{name}", response_class=HTMLResponse)
def show_datasource(viewer: Page, name: str, saved: str = "") -> HTMLResponse:
    spec, details = catalog.show(viewer.ctx.db, KIND, name, actor=viewer.ctx.actor)
    values = spec.model_dump(mode="json", exclude_none=True, exclude={"password"})
    return _form_page(
        viewer,
        values,
        key=name,
        saved=bool(saved),
        password_set=bool(details.get("has_password")),
    )


def _document(form: Form, key: str | None) -> dict[str, Any]:
    """The data source the form describes; an empty password keeps the stored one."""
    document: dict[str, Any] = {"kind": KIND}
    for field in FIELDS:
        value = form.get(field) if field == "password" else text(form, field)
        if isinstance(value, str) and value:
            document[field] = value
    if key is not None:
        document["name"] = key  # the path names it: a data source is never renamed here
    return document


def _save(viewer: Page, form: Form, key: str | None) -> Response:
    """Create or update; a refusal re-renders the form with what was typed (no password)."""
    document = _document(form, key)
    name = str(document.get("name", ""))
    try:
        spec = parse_spec(document, f"data source {name}".strip())
        if key is None:
            catalog.create(viewer.ctx.db, viewer.ctx.actor, spec)
        else:
            catalog.update(viewer.ctx.db, viewer.ctx.actor, spec)
    except TagportError as refused:
        if isinstance(refused, InvalidInput):
            errors = field_errors(refused, set(FIELDS))
        else:
            errors = {FORM_LEVEL: str(refused)}
        values = {k: v for k, v in document.items() if k != "password"}
        had = key is not None and _password_set(viewer, key)
        return _form_page(
            viewer, values, key=key, errors=errors, status=status_of(refused), password_set=had
        )
    return RedirectResponse(f"/datasources/{name}?saved=1", status_code=303)


def _password_set(viewer: Page, key: str) -> bool:
    _, details = catalog.show(viewer.ctx.db, KIND, key, actor=viewer.ctx.actor)
    return bool(details.get("has_password"))


@router.post("/datasources", response_model=None)
def create_datasource(viewer: Page, form: Form) -> Response:
    return _save(viewer, form, None)


@router.post("/datasources/{name}", response_model=None)
def update_datasource(viewer: Page, name: str, form: Form) -> Response:
    return _save(viewer, form, name)


@router.post("/datasources/{name}/test", response_class=HTMLResponse)
def test_datasource(viewer: Page, name: str) -> HTMLResponse:
    """Connect and show the server's version, or the reason it could not (never an error)."""
    result = connections.test_connection(viewer.ctx.settings, viewer.ctx.db, viewer.ctx.actor, name)
    return viewer.render("datasources/_test.html", result=result)
