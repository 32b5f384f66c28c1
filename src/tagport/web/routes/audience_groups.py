"""The audience groups pages: the list (search, entity, kind, owner; sorted, paged), a new group
by rule builder, file import or SQL with its size estimated before saving, and a group's page
with its definition, estimate, first members and (import groups) a new file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from tagport.api.problems import status_of
from tagport.domain.catalog import AudienceGroupSpec, AudienceKind, TagSpec, UpdateMethod
from tagport.domain.documents import parse_spec
from tagport.domain.rules import Op, dump_rule
from tagport.domain.values import ValueType
from tagport.errors import InvalidInput, TagportError
from tagport.services import audience_files, catalog, users, warehouse
from tagport.store.paging import PageRequest
from tagport.web.forms import FORM_LEVEL, Form, field_of, page_number, text
from tagport.web.pages import Page, Viewer
from tagport.web.rule_form import Row, row_of, rows_of, rows_of_rule, rule_document

router = APIRouter()
KIND = "AudienceGroup"
PAGE_SIZE = 20
MEMBERS_PAGE = 20
SORTS = ("code", "name", "updated_at")
KINDS = [kind.value for kind in AudienceKind]
COMMON = ("code", "name", "entity", "owner", "update", "description")
FIELDS = {*COMMON, "rule", "sql", "file"}
OPS = [(op.value, op.name.lower()) for op in Op]
"""Operators with their label keys (`audience_groups.op.ge`)."""


def _yesterday() -> date:
    return date.today() - timedelta(days=1)


def _day(value: str) -> date:
    """A bizdate from the URL or form; yesterday (T-1) when empty or not a date."""
    try:
        return date.fromisoformat(value) if value else _yesterday()
    except ValueError:
        return _yesterday()


def _entities(viewer: Viewer) -> list[Any]:
    return [spec for spec, _ in catalog.list_objects(viewer.ctx.db, "Entity")]


@router.get("/audience-groups", response_class=HTMLResponse)
def list_groups(
    viewer: Page,
    search: str = "",
    entity: str = "",
    kind: str = "",
    owner: str = "",
    sort: str = "code",
    desc: str = "",
    page: str = "1",
) -> HTMLResponse:
    """Audience groups by keyword, entity, kind and owner; every filter stays in the URL."""
    query = {"search": search, "entity": entity, "kind": kind, "owner": owner}
    query |= {"sort": sort, "desc": desc}
    key = sort if sort in SORTS else "code"
    paging = PageRequest(page_number(page), PAGE_SIZE, f"-{key}" if desc else key)
    filters = {"entity": entity or None, "owner": owner or None}
    filters["kind"] = kind if kind in KINDS else None
    found = catalog.list_page(
        viewer.ctx.db, viewer.ctx.actor, KIND, paging, search=search or None, filters=filters
    )
    return viewer.render(
        "audience_groups/list.html",
        active="audience_groups",
        found=found,
        query=query,
        sort=key,
        desc=bool(desc),
        kinds=KINDS,
        entities=_entities(viewer),
        create_refusal=catalog.create_refusal(viewer.ctx.db, viewer.ctx.actor, KIND),
    )


@dataclass
class Draft:
    """The new group's form as typed: common fields, its kind and its definition."""

    kind: str
    values: dict[str, str]
    connector: str = "all"
    rows: list[Row] = field(default_factory=lambda: [Row()])

    @classmethod
    def of(cls, form: FormData) -> Draft:
        kind = text(form, "kind")
        values = {name: text(form, name) for name in (*COMMON, "sql", "bizdate")}
        return cls(
            kind if kind in KINDS else "rule", values, text(form, "connector"), rows_of(form)
        )

    def document(self, types: dict[str, ValueType], placeholders: bool = False) -> dict[str, Any]:
        """The group's document; `placeholders` fills a missing code and name (an estimate
        needs neither)."""
        document: dict[str, Any] = {"kind": KIND}
        document |= {k: v for k, v in self.values.items() if k in COMMON and v}
        if placeholders:
            document.setdefault("code", "draft")
            document.setdefault("name", "draft")
        if self.kind == "rule":
            document["rule"] = rule_document(self.rows, self.connector, types)
        elif self.kind == "sql":
            document["sql"] = self.values.get("sql", "")
        else:
            document["import"] = "upload"  # replaced by the uploaded file's place
        return document


def _tags(viewer: Viewer) -> list[TagSpec]:
    return [s for s, _ in catalog.list_objects(viewer.ctx.db, "Tag") if isinstance(s, TagSpec)]


def _types(viewer: Viewer) -> dict[str, ValueType]:
    return {tag.code: tag.type for tag in _tags(viewer)}


def _form_page(
    viewer: Viewer, draft: Draft, errors: dict[str, str] | None = None, status: int = 200
) -> HTMLResponse:
    return viewer.render(
        "audience_groups/form.html",
        status,
        active="audience_groups",
        draft=draft,
        errors=errors or {},
        entities=_entities(viewer),
        tags=_tags(viewer),
        ops=OPS,
        updates=[u.value for u in UpdateMethod],
        logins=[user.name for user in users.search(viewer.ctx.db)],
        bizdate=_day(draft.values.get("bizdate", "")),
        refusal=catalog.create_refusal(viewer.ctx.db, viewer.ctx.actor, KIND),
    )


@router.get("/audience-groups/new", response_class=HTMLResponse)
def new_group(viewer: Page, kind: str = "rule") -> HTMLResponse:
    values = {"owner": viewer.ctx.actor.login, "update": UpdateMethod.PERIODIC.value}
    entities = _entities(viewer)
    if entities:
        values["entity"] = entities[0].code
    return _form_page(viewer, Draft(kind if kind in KINDS else "rule", values))


def _errors(refused: TagportError) -> dict[str, str]:
    """Each problem beside its field, a rule's beside its row (`row_2`)."""
    if not isinstance(refused, InvalidInput):
        return {FORM_LEVEL: str(refused)}
    found: dict[str, list[str]] = {}
    for problem in refused.problems:
        row = row_of(problem.field)
        name = f"row_{row}" if row is not None else field_of(problem.field, {"import": "file"})
        if row is None and name not in FIELDS:
            name, message = FORM_LEVEL, str(problem)
        else:
            message = problem.message
        found.setdefault(name, []).append(message)
    return {name: "; ".join(messages) for name, messages in found.items()}


@router.post("/audience-groups", response_model=None)
def create_group(viewer: Page, form: Form) -> Response:
    """Save the new group; or add or remove a rule row (the form comes back as typed)."""
    draft = Draft.of(form)
    action = text(form, "action")
    if action == "add_row":
        draft.rows.append(Row())
        return _form_page(viewer, draft)
    if action.startswith("remove_row_"):
        suffix = action.removeprefix("remove_row_")
        index = int(suffix) if suffix.isdigit() else -1
        draft.rows = [r for i, r in enumerate(draft.rows) if i != index] or [Row()]
        return _form_page(viewer, draft)
    try:
        _save(viewer, draft, form.get("file"))
    except TagportError as refused:
        return _form_page(viewer, draft, _errors(refused), status_of(refused))
    code = draft.values["code"]
    return RedirectResponse(f"/audience-groups/{code}?created=1", status_code=303)


def _save(viewer: Viewer, draft: Draft, upload: object) -> None:
    where = f"audience group {draft.values.get('code', '')}".strip()
    spec = parse_spec(draft.document(_types(viewer)), where)
    assert isinstance(spec, AudienceGroupSpec)
    if draft.kind != "import":
        catalog.create(viewer.ctx.db, viewer.ctx.actor, spec)
        return
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput.one(where, "file", "choose a .csv or .txt file of IDs")
    ctx = viewer.ctx
    audience_files.create(ctx.settings, ctx.db, ctx.actor, spec, upload.filename, upload.file)


@router.post("/audience-groups/estimate", response_class=HTMLResponse)
def estimate_draft(viewer: Page, form: Form) -> HTMLResponse:
    """The size the group being typed would have at the chosen bizdate, or why not."""
    draft = Draft.of(form)
    day = _day(draft.values.get("bizdate", ""))
    if draft.kind == "import":
        return viewer.render("audience_groups/_estimate.html", import_kind=True, day=day)
    try:
        document = draft.document(_types(viewer), placeholders=True)
        spec = parse_spec(document, "audience group")
        assert isinstance(spec, AudienceGroupSpec)
        ctx = viewer.ctx
        size = warehouse.estimate_draft(ctx.settings, ctx.db, ctx.actor, spec, day)
    except TagportError as refused:
        problems = [str(p) for p in refused.problems] or [str(refused)]
        return viewer.render("audience_groups/_estimate.html", problems=problems, day=day)
    return viewer.render("audience_groups/_estimate.html", size=size, day=day)


def _definition(spec: AudienceGroupSpec) -> dict[str, Any]:
    """How the group's page shows its definition: rule rows, SQL or the file's name."""
    if spec.rule is not None:
        document = dump_rule(spec.rule)
        return {"rows": rows_of_rule(document), "rule": document}
    if spec.sql is not None:
        return {"sql": spec.sql}
    return {"file": (spec.import_ or "").rsplit("/", 1)[-1]}


def _members(viewer: Viewer, code: str, day: date, page: int) -> dict[str, Any]:
    """A page of members, or why they cannot be listed (missing partitions, a bad rule)."""
    ctx = viewer.ctx
    try:
        found = warehouse.members_page(
            ctx.settings, ctx.db, ctx.actor, code, day, page, MEMBERS_PAGE
        )
    except TagportError as failed:
        return {"members_error": str(failed), "members": None}
    return {"members": found, "members_error": ""}


def _group_page(
    viewer: Viewer, code: str, bizdate: str, page: int, status: int = 200, **values: Any
) -> HTMLResponse:
    spec, details = catalog.show(viewer.ctx.db, KIND, code, actor=viewer.ctx.actor)
    assert isinstance(spec, AudienceGroupSpec)
    day = _day(bizdate)
    refusal = catalog.change_refusals(viewer.ctx.db, viewer.ctx.actor, KIND, [code]).get(code)
    return viewer.render(
        "audience_groups/detail.html",
        status,
        active="audience_groups",
        spec=spec,
        details=details,
        definition=_definition(spec),
        day=day,
        ops=dict(OPS),
        refusal=refusal,
        **_members(viewer, code, day, page),
        **{"upload_error": "", "created": False, "loaded": None} | values,
    )


@router.get("/audience-groups/{code}", response_class=HTMLResponse)
def show_group(
    viewer: Page,
    code: str,
    bizdate: str = "",
    page: str = "1",
    created: str = "",
    loaded: str = "",
    duplicates: str = "",
) -> HTMLResponse:
    """The group, its estimate and one page of members at `bizdate` (default yesterday)."""
    counts = {"ids": loaded, "duplicates": duplicates or "0"} if loaded.isdigit() else None
    return _group_page(
        viewer, code, bizdate, page_number(page), created=bool(created), loaded=counts
    )


@router.post("/audience-groups/{code}/estimate", response_class=HTMLResponse)
def estimate_group(viewer: Page, code: str, form: Form) -> HTMLResponse:
    """Estimate a saved group (kept as its estimated size)."""
    day = _day(text(form, "bizdate"))
    try:
        size = warehouse.estimate(viewer.ctx.settings, viewer.ctx.db, viewer.ctx.actor, code, day)
    except TagportError as refused:
        problems = [str(p) for p in refused.problems] or [str(refused)]
        return viewer.render("audience_groups/_estimate.html", problems=problems, day=day)
    return viewer.render("audience_groups/_estimate.html", size=size, day=day)


@router.post("/audience-groups/{code}/import", response_model=None)
def upload_file(viewer: Page, code: str, form: Form) -> Response:
    """A new file of IDs for the group (it becomes an import group); bad lines are listed."""
    upload = form.get("file")
    ctx = viewer.ctx
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput.one(code, "file", "choose a .csv or .txt file of IDs")
        parsed = audience_files.upload(
            ctx.settings, ctx.db, ctx.actor, code, upload.filename, upload.file
        )
    except TagportError as refused:
        error = "; ".join(p.message for p in refused.problems) or str(refused)
        return _group_page(viewer, code, "", 1, status_of(refused), upload_error=error)
    target = f"/audience-groups/{code}?loaded={parsed.count}&duplicates={parsed.duplicates}"
    return RedirectResponse(target, status_code=303)
