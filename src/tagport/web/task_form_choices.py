"""What the offline service form offers, as the services see it for the viewer: applications,
owners, audiences with their entity and size, the entity's tags, target data sources, and the
live target's schemas, tables and columns (read only when the form has chosen that far)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tagport.domain.catalog import SCHEMA_TYPES, DataSourceType
from tagport.domain.tasks import TagOutput, same_name_pairs
from tagport.errors import ConfigError, ExternalError, InvalidInput, NotFound, PermissionDenied
from tagport.services import (
    applications,
    catalog,
    connections,
    permission_requests,
    table_permissions,
    users,
)
from tagport.services.table_permissions import TableRef
from tagport.store.paging import MAX_SIZE, PageRequest
from tagport.targets import TableInfo
from tagport.web.pages import Viewer
from tagport.web.task_form import TaskForm

OWNERS_SHOWN = 20
"""Owners the picker lists for a keyword (narrow it to find others)."""


@dataclass(frozen=True)
class Audience:
    code: str
    name: str
    entity: str
    size: int | None


@dataclass(frozen=True)
class Tag:
    code: str
    name: str
    value_type: str
    coded: bool
    """Has a lookup table: may export its code name."""


@dataclass
class Choices:
    """Everything the form's pickers list, and what the live target said."""

    applications: list[str]
    owners: list[tuple[str, str]]
    audiences: list[Audience]
    audience: Audience | None = None
    id_field: str = ""
    tags: list[Tag] = field(default_factory=list)
    datasource_types: list[str] = field(default_factory=list)
    datasources: list[tuple[str, str]] = field(default_factory=list)
    has_schemas: bool = False
    schemas: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    table: TableInfo | None = None
    target_error: str = ""
    """Why the target could not be browsed (unreachable, missing table …)."""
    write_refusal: str = ""
    pending_request: int | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names) if self.table else []

    def sources(self, form: TaskForm) -> list[str]:
        """The fields the export produces: the entity ID, then each exported tag's outputs."""
        fields = [self.id_field] if self.id_field else []
        for code in form.exported_tags():
            outputs = [o for o in form.outputs_of(code) if o]
            if outputs:
                fields += TagOutput.model_validate({"tag": code, "outputs": outputs}).fields()
        return fields

    def same_name(self, form: TaskForm) -> dict[str, str]:
        """Each exported field's column of the same name in the chosen table."""
        return same_name_pairs(self.sources(form), self.columns)


def _all(viewer: Viewer, kind: str, **filters: Any) -> list[tuple[Any, dict[str, Any]]]:
    page = catalog.list_page(
        viewer.ctx.db, viewer.ctx.actor, kind, PageRequest(size=MAX_SIZE), filters=filters
    )
    return page.items


def owners(viewer: Viewer, word: str, chosen: str) -> list[tuple[str, str]]:
    """(login, display name) of the users matching `word`, the chosen owner first."""
    page = users.search_page(viewer.ctx.db, word or None, PageRequest(size=OWNERS_SHOWN))
    found = [(v.spec.name, v.spec.display_name or "") for v in page.items]
    if chosen and chosen not in {login for login, _ in found}:
        found.insert(0, (chosen, ""))
    return found


def choices(viewer: Viewer, form: TaskForm, editing: str | None) -> Choices:
    """The pickers' content for `form` (`editing`: the name of the task being edited)."""
    apps = applications.offline_service_applications(viewer.ctx.db, viewer.ctx.actor)
    if form.application and form.application not in apps:
        apps.insert(0, form.application)  # an edited task keeps showing its own
    audiences = [
        Audience(spec.code, spec.name, spec.entity, details.get("estimated_size"))
        for spec, details in _all(viewer, "AudienceGroup")
    ]
    found = Choices(apps, owners(viewer, form.owner_search, form.owner), audiences)
    found.audience = next((a for a in audiences if a.code == form.audience), None)
    if found.audience is not None:
        _entity(viewer, found, found.audience.entity)
    _datasources(viewer, found, form, editing)
    if form.datasource:
        _target(viewer, found, form)
    return found


def _entity(viewer: Viewer, found: Choices, entity: str) -> None:
    spec, _ = catalog.show(viewer.ctx.db, "Entity", entity)
    found.id_field = getattr(spec, "id_field", "")
    found.tags = [
        Tag(tag.code, tag.name, str(tag.value_type), tag.lookup is not None)
        for tag, _ in _all(viewer, "Tag", entity=entity)
    ]


def _datasources(viewer: Viewer, found: Choices, form: TaskForm, editing: str | None) -> None:
    usable = [
        (spec.name, spec.type.value)
        for spec, _ in _all(viewer, "DataSource", usable_as_target=True)
    ]
    if editing and form.datasource_type:  # the target type of a task cannot change
        found.datasource_types = [form.datasource_type]
    else:
        found.datasource_types = sorted({kind for _, kind in usable})
    kind = form.datasource_type
    found.datasources = [(n, k) for n, k in usable if not kind or k == kind]
    chosen = next((k for n, k in usable if n == form.datasource), None)
    found.has_schemas = chosen is not None and DataSourceType(chosen) in SCHEMA_TYPES


def _target(viewer: Viewer, found: Choices, form: TaskForm) -> None:
    """Browse the live target: schemas, tables (with the keyword), the chosen table's columns;
    and whether the viewer may write that table."""
    settings, db, actor = viewer.ctx.settings, viewer.ctx.db, viewer.ctx.actor
    name, schema = form.datasource, form.schema or None
    try:
        if found.has_schemas:
            found.schemas = connections.schemas(settings, db, actor, name)
        found.tables = connections.tables(settings, db, actor, name, schema, form.table_search)
        if form.table:
            found.table = connections.columns(settings, db, actor, name, schema, form.table)
    except (ExternalError, ConfigError, NotFound, InvalidInput, PermissionDenied) as error:
        found.target_error = str(error)
    if form.table:
        ref = TableRef(form.datasource, form.schema, form.table)
        refusal = table_permissions.refusal_for(db, viewer.ctx.actor, ref)
        found.write_refusal = str(refusal) if refusal else ""
        if refusal:
            found.pending_request = _pending(viewer, ref)


def _pending(viewer: Viewer, ref: TableRef) -> int | None:
    """The viewer's pending request for write on `ref`, if any."""
    mine = permission_requests.list_requests(viewer.ctx.db, viewer.ctx.actor, status="pending")
    return next((r.id for r in mine if r.table == ref), None)
