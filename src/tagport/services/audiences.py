"""Audience groups: sets of entity IDs defined by a rule, an imported file or SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.domain.catalog import AudienceGroupSpec, AudienceKind, UpdateMethod
from tagport.domain.rules import (
    AudienceRef,
    Condition,
    Rule,
    dump_rule,
    parse_rule,
    rule_problems,
    walk,
)
from tagport.domain.values import IdType, ValueType
from tagport.errors import InvalidInput
from tagport.services.catalog import Checks, Filter, KindService, equals, refers_to
from tagport.services.permissions import Scope
from tagport.services.usage import tasks_using
from tagport.store import tables as t
from tagport.warehouse.confine import Readable, audience_sql_problems
from tagport.warehouse.imports import parse_file
from tagport.warehouse.queries import check_audience_sql


def definition_of(spec: AudienceGroupSpec) -> dict[str, Any]:
    if spec.rule is not None:
        return {"rule": dump_rule(spec.rule)}
    if spec.import_ is not None:
        return {"import": spec.import_}
    return {"sql": spec.sql}


def referenced_audiences(rule: Rule) -> set[str]:
    return {leaf.audience for _, leaf in walk(rule) if isinstance(leaf, AudienceRef)}


class AudienceGroupService(KindService[AudienceGroupSpec, t.AudienceGroup]):
    spec = AudienceGroupSpec
    row = t.AudienceGroup
    key_name = "code"

    def to_spec(self, session: Session, row: t.AudienceGroup) -> AudienceGroupSpec:
        definition = row.definition
        return AudienceGroupSpec(
            code=row.code,
            name=row.name,
            entity=row.entity.code,
            owner=row.owner.login,
            update=UpdateMethod(row.update_method),
            rule=parse_rule(definition["rule"]) if "rule" in definition else None,
            import_=definition.get("import"),
            sql=definition.get("sql"),
            description=row.description,
        )

    def same_kind_refs(self, spec: AudienceGroupSpec) -> set[str]:
        return referenced_audiences(spec.rule) if spec.rule is not None else set()

    def filters(self) -> dict[str, Filter]:
        group = t.AudienceGroup
        return {
            "entity": refers_to(group.entity_id, t.Entity, t.Entity.code),
            "owner": refers_to(group.owner_id, t.User, t.User.login),
            "kind": equals(group.kind),
            "update": equals(group.update_method),
        }

    def check(self, checks: Checks, spec: AudienceGroupSpec, row: t.AudienceGroup | None) -> None:
        entity = checks.ref(t.Entity, t.Entity.code, spec.entity, "entity", "entity")
        owner = checks.ref(t.User, t.User.login, spec.owner, "owner", "user")
        if spec.import_ is not None and not Path(spec.import_).is_file():
            checks.fail("import", f"file {spec.import_} does not exist")
        elif spec.import_ is not None and entity is not None:
            _check_import_file(checks, Path(spec.import_), entity)
        if spec.sql is not None:
            if owner is not None and entity is not None:
                readable = readable_projects(checks.session, owner, entity)
                problems = audience_sql_problems(spec.sql, readable)
            else:
                problems = check_audience_sql(spec.sql)
            for message in problems:
                checks.fail("sql", message)
        if spec.rule is None or entity is None:
            return
        session = checks.session
        typed: dict[str, tuple[ValueType, list[str] | None]] = {}
        for path, leaf in walk(spec.rule):
            if isinstance(leaf, Condition):
                tag = session.scalar(select(t.Tag).where(t.Tag.code == leaf.tag))
                if tag is None:
                    checks.fail(path, f"tag {leaf.tag!r} does not exist")
                elif tag.entity_id != entity.id:
                    checks.fail(
                        path,
                        f"tag {leaf.tag} belongs to entity {tag.entity.code}, not {spec.entity}",
                    )
                else:
                    codes = [c.code for c in tag.lookup.codes] if tag.lookup else None
                    typed[tag.code] = (ValueType.parse(tag.value_type), codes)
            else:
                other = session.scalar(
                    select(t.AudienceGroup).where(t.AudienceGroup.code == leaf.audience)
                )
                if leaf.audience == spec.code:
                    checks.fail(path, "an audience group cannot contain itself")
                elif other is None:
                    checks.fail(path, f"audience group {leaf.audience!r} does not exist")
                elif other.entity_id != entity.id:
                    checks.fail(
                        path,
                        f"audience group {leaf.audience} is of entity "
                        f"{other.entity.code}, not {spec.entity}",
                    )
        for path, message in rule_problems(spec.rule, typed):
            checks.fail(path, message)
        cycle = _cycle_through(session, spec.code, referenced_audiences(spec.rule))
        if cycle:
            checks.fail("rule", f"audience groups refer to each other in a cycle: {cycle}")

    def scope(
        self, session: Session, spec: AudienceGroupSpec, row: t.AudienceGroup | None
    ) -> Scope:
        entities = [spec.entity] + ([row.entity.code] if row is not None else [])
        projects = session.scalars(select(t.Entity.project_id).where(t.Entity.code.in_(entities)))
        return Scope(row.owner_id if row is not None else None, projects=frozenset(projects))

    def write(
        self, session: Session, spec: AudienceGroupSpec, row: t.AudienceGroup | None
    ) -> t.AudienceGroup:
        row = row or t.AudienceGroup(code=spec.code)
        row.name, row.description = spec.name, spec.description
        row.entity = session.scalars(select(t.Entity).where(t.Entity.code == spec.entity)).one()
        row.owner = session.scalars(select(t.User).where(t.User.login == spec.owner)).one()
        row.update_method = spec.update.value
        row.kind = spec.audience_kind.value
        row.definition = definition_of(spec)
        session.add(row)
        return row

    def dependents(self, session: Session, row: t.AudienceGroup) -> list[str]:
        groups = [
            f"audience group {g.code}"
            for g in session.scalars(select(t.AudienceGroup).where(t.AudienceGroup.kind == "rule"))
            if row.code in referenced_audiences(parse_rule(g.definition["rule"]))
        ]
        return groups + tasks_using(session, lambda s: s.audience == row.code)

    def details(self, session: Session, row: t.AudienceGroup) -> dict[str, Any]:
        return {"estimated_size": row.estimated_size} | super().details(session, row)


def readable_projects(session: Session, user: t.User, entity: t.Entity) -> Readable:
    """Projects whose warehouse tables `user` may read in audiences of `entity`: the entity's
    own project and every project they are a member of; None (every one) for a super admin."""
    if user.is_super_admin:
        return None
    joined = session.scalars(
        select(t.Project.name)
        .join(t.ProjectMember, t.ProjectMember.project_id == t.Project.id)
        .where(t.ProjectMember.user_id == user.id)
    )
    return frozenset({entity.project.name, *joined})


def _check_import_file(checks: Checks, path: Path, entity: t.Entity) -> None:
    """Every bad line of an import file, by number, as a problem of the `import` field."""
    try:
        parse_file(path, IdType(entity.id_type), entity.id_field)
    except InvalidInput as exc:
        for problem in exc.problems:
            where = f"{problem.field}: " if problem.field else ""
            checks.fail("import", f"{path.name}: {where}{problem.message}")


def _cycle_through(session: Session, code: str, refs: set[str]) -> str | None:
    """A path `a -> b -> a` if following stored references from `refs` leads back to `code`."""
    graph: dict[str, set[str]] = {
        g.code: referenced_audiences(parse_rule(g.definition["rule"]))
        for g in session.scalars(
            select(t.AudienceGroup).where(t.AudienceGroup.kind == AudienceKind.RULE.value)
        )
    }
    graph[code] = refs
    stack: list[tuple[str, list[str]]] = [(r, [code, r]) for r in sorted(refs)]
    visited: set[str] = set()
    while stack:
        node, path = stack.pop()
        if node == code:
            return " -> ".join(path)
        if node in visited:
            continue
        visited.add(node)
        stack.extend((n, [*path, n]) for n in sorted(graph.get(node, ())))
    return None
