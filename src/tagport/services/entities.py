"""Entities: the kinds of things tagged, each with its ID field."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.domain.catalog import EntitySpec
from tagport.domain.values import IdType
from tagport.services.catalog import Checks, Filter, KindService, refers_to
from tagport.services.permissions import Scope
from tagport.store import tables as t


class EntityService(KindService[EntitySpec, t.Entity]):
    spec = EntitySpec
    row = t.Entity
    key_name = "code"

    def to_spec(self, session: Session, row: t.Entity) -> EntitySpec:
        return EntitySpec(
            code=row.code,
            name=row.name,
            project=row.project.name,
            id_field=row.id_field,
            id_type=IdType(row.id_type),
            description=row.description,
        )

    def filters(self) -> dict[str, Filter]:
        return {"project": refers_to(t.Entity.project_id, t.Project, t.Project.name)}

    def check(self, checks: Checks, spec: EntitySpec, row: t.Entity | None) -> None:
        checks.ref(t.Project, t.Project.name, spec.project, "project", "project")

    def scope(self, session: Session, spec: EntitySpec, row: t.Entity | None) -> Scope:
        new = session.scalar(select(t.Project.id).where(t.Project.name == spec.project))
        old = row.project_id if row is not None else None
        return Scope(projects=frozenset(p for p in (old, new) if p is not None))

    def write(self, session: Session, spec: EntitySpec, row: t.Entity | None) -> t.Entity:
        row = row or t.Entity(code=spec.code)
        row.name, row.id_field, row.id_type = spec.name, spec.id_field, spec.id_type.value
        row.description = spec.description
        row.project = session.scalars(select(t.Project).where(t.Project.name == spec.project)).one()
        session.add(row)
        return row

    def dependents(self, session: Session, row: t.Entity) -> list[str]:
        tags = session.scalars(select(t.Tag.code).where(t.Tag.entity_id == row.id))
        groups = session.scalars(
            select(t.AudienceGroup.code).where(t.AudienceGroup.entity_id == row.id)
        )
        return [f"tag {c}" for c in tags] + [f"audience group {c}" for c in groups]
