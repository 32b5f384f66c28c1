"""Tags and the lookup tables that give coded tag values their names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.domain.catalog import LookupTableSpec, TagSource, TagSpec
from tagport.domain.dates import PartitionFormat
from tagport.domain.rules import Condition, parse_rule, walk
from tagport.services.catalog import Checks, Filter, KindService, equals, refers_to
from tagport.services.permissions import Scope
from tagport.services.usage import tasks_using
from tagport.store import tables as t


class LookupTableService(KindService[LookupTableSpec, t.LookupTable]):
    spec = LookupTableSpec
    row = t.LookupTable
    key_name = "code"

    def to_spec(self, session: Session, row: t.LookupTable) -> LookupTableSpec:
        return LookupTableSpec(
            code=row.code,
            name=row.name,
            codes={c.code: c.name for c in row.codes},
            description=row.description,
        )

    def check(self, checks: Checks, spec: LookupTableSpec, row: t.LookupTable | None) -> None:
        if row is None:
            return
        for tag in checks.session.scalars(select(t.Tag).where(t.Tag.lookup_id == row.id)):
            for problem in TagService().to_spec(checks.session, tag).lookup_problems(spec.codes):
                checks.fail("codes", f"{problem} (used by {tag.value_type} tag {tag.code})")

    def scope(self, session: Session, spec: LookupTableSpec, row: t.LookupTable | None) -> Scope:
        """A lookup table belongs to the projects of the tags that use it (none yet: anyone's
        in a project)."""
        if row is None:
            return Scope()
        projects = session.scalars(
            select(t.Entity.project_id)
            .join(t.Tag, t.Tag.entity_id == t.Entity.id)
            .where(t.Tag.lookup_id == row.id)
        )
        return Scope(projects=frozenset(projects))

    def write(
        self, session: Session, spec: LookupTableSpec, row: t.LookupTable | None
    ) -> t.LookupTable:
        row = row or t.LookupTable(code=spec.code)
        row.name, row.description = spec.name, spec.description
        existing = {c.code: c for c in row.codes}
        row.codes = [_code_row(existing.get(code), code, name) for code, name in spec.codes.items()]
        session.add(row)
        return row

    def dependents(self, session: Session, row: t.LookupTable) -> list[str]:
        return [
            f"tag {c}" for c in session.scalars(select(t.Tag.code).where(t.Tag.lookup_id == row.id))
        ]

    def details(self, session: Session, row: t.LookupTable) -> dict[str, Any]:
        return {"code_count": len(row.codes)} | super().details(session, row)


def _code_row(row: t.LookupCode | None, code: str, name: str) -> t.LookupCode:
    row = row or t.LookupCode(code=code)
    row.name = name
    return row


class TagService(KindService[TagSpec, t.Tag]):
    spec = TagSpec
    row = t.Tag
    key_name = "code"

    def to_spec(self, session: Session, row: t.Tag) -> TagSpec:
        return TagSpec(
            code=row.code,
            name=row.name,
            entity=row.entity.code,
            value_type=row.value_type,
            source=TagSource(
                table=row.source_table,
                key=row.source_key,
                column=row.source_column,
                partition=row.source_partition,
                partition_format=PartitionFormat(row.source_partition_format),
            ),
            lookup=row.lookup.code if row.lookup else None,
            description=row.description,
        )

    def filters(self) -> dict[str, Filter]:
        return {
            "entity": refers_to(t.Tag.entity_id, t.Entity, t.Entity.code),
            "lookup": refers_to(t.Tag.lookup_id, t.LookupTable, t.LookupTable.code),
            "value_type": equals(t.Tag.value_type),
        }

    def check(self, checks: Checks, spec: TagSpec, row: t.Tag | None) -> None:
        checks.ref(t.Entity, t.Entity.code, spec.entity, "entity", "entity")
        checks.ref(t.Project, t.Project.name, spec.source.project, "source.table", "project")
        lookup = checks.ref(
            t.LookupTable, t.LookupTable.code, spec.lookup, "lookup", "lookup table"
        )
        if lookup is not None:
            for problem in spec.lookup_problems({c.code: c.name for c in lookup.codes}):
                checks.fail("lookup", f"{lookup.code}: {problem} for a {spec.type} tag")
        if (
            row is not None
            and row.entity.code != spec.entity
            and self.dependents(checks.session, row)
        ):
            checks.fail("entity", "cannot move a tag in use to another entity")

    def scope(self, session: Session, spec: TagSpec, row: t.Tag | None) -> Scope:
        """A tag belongs to its entity's project and reads its source project: both, before
        and after the change."""
        entities = [spec.entity] + ([row.entity.code] if row is not None else [])
        sources = [spec.source.project] + (
            [row.source_table.split(".", 1)[0]] if row is not None else []
        )
        owning = session.scalars(select(t.Entity.project_id).where(t.Entity.code.in_(entities)))
        read = session.scalars(select(t.Project.id).where(t.Project.name.in_(sources)))
        return Scope(projects=frozenset(owning) | frozenset(read))

    def write(self, session: Session, spec: TagSpec, row: t.Tag | None) -> t.Tag:
        row = row or t.Tag(code=spec.code)
        row.name, row.value_type, row.description = spec.name, spec.value_type, spec.description
        row.entity = session.scalars(select(t.Entity).where(t.Entity.code == spec.entity)).one()
        row.source_table, row.source_key = spec.source.table, spec.source.key
        row.source_column, row.source_partition = spec.source.column, spec.source.partition
        row.source_partition_format = spec.source.partition_format.value
        row.lookup = (
            session.scalar(select(t.LookupTable).where(t.LookupTable.code == spec.lookup))
            if spec.lookup
            else None
        )
        session.add(row)
        return row

    def dependents(self, session: Session, row: t.Tag) -> list[str]:
        used = []
        for group in session.scalars(select(t.AudienceGroup).where(t.AudienceGroup.kind == "rule")):
            leaves = walk(parse_rule(group.definition["rule"]))
            if any(isinstance(leaf, Condition) and leaf.tag == row.code for _, leaf in leaves):
                used.append(f"audience group {group.code}")
        return used + tasks_using(session, lambda s: any(o.tag == row.code for o in s.tags))
