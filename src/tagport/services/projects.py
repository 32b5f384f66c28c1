"""Warehouse projects, their members, and cross-project safe mode settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.domain.catalog import ProjectSpec, ProjectType, SecuritySettingsSpec
from tagport.domain.documents import parse_spec
from tagport.services import catalog
from tagport.services.catalog import Checks, Filter, KindService, equals, with_member
from tagport.services.permissions import Action, Actor, Scope, authorize
from tagport.store import tables as t
from tagport.store.db import Database

GLOBAL_SCOPE = "*"


class ProjectService(KindService[ProjectSpec, t.Project]):
    spec = ProjectSpec
    row = t.Project
    key_name = "name"

    def to_spec(self, session: Session, row: t.Project) -> ProjectSpec:
        return ProjectSpec(
            name=row.name,
            type=ProjectType(row.type),
            members=[u.login for u in row.members],
            write_through=row.write_through,
            description=row.description,
        )

    def filters(self) -> dict[str, Filter]:
        return {
            "type": equals(t.Project.type),
            "member": with_member(
                t.ProjectMember.project_id, t.Project.id, t.ProjectMember.user_id
            ),
        }

    def check(self, checks: Checks, spec: ProjectSpec, row: t.Project | None) -> None:
        checks.users(spec.members, "members")

    def write(self, session: Session, spec: ProjectSpec, row: t.Project | None) -> t.Project:
        row = row or t.Project(name=spec.name)
        row.type = spec.type.value
        row.write_through = spec.write_through
        row.description = spec.description
        row.members = list(session.scalars(select(t.User).where(t.User.login.in_(spec.members))))
        session.add(row)
        return row

    def dependents(self, session: Session, row: t.Project) -> list[str]:
        refs = (
            ("entity", t.Entity.code, t.Entity.project_id),
            ("data source", t.DataSource.name, t.DataSource.project_id),
            ("application", t.Application.name, t.Application.project_id),
        )
        used = [
            f"{kind} {name}"
            for kind, name_column, project_column in refs
            for name in session.scalars(select(name_column).where(project_column == row.id))
        ]
        used += [
            f"tag {code}"
            for code in session.scalars(
                select(t.Tag.code).where(t.Tag.source_table.startswith(f"{row.name}."))
            )
        ]
        return used


class SecuritySettingsService(KindService[SecuritySettingsSpec, t.SecuritySetting]):
    spec = SecuritySettingsSpec
    row = t.SecuritySetting
    key_name = "scope"

    def find(self, session: Session, key: str, *, lock: bool = False) -> t.SecuritySetting | None:
        return super().find(session, key or GLOBAL_SCOPE, lock=lock)

    def to_spec(self, session: Session, row: t.SecuritySetting) -> SecuritySettingsSpec:
        return SecuritySettingsSpec(
            project=row.project.name if row.project else None,
            cross_project_safe_mode=row.cross_project_safe_mode,
        )

    def check(
        self, checks: Checks, spec: SecuritySettingsSpec, row: t.SecuritySetting | None
    ) -> None:
        checks.ref(t.Project, t.Project.name, spec.project, "project", "project")

    def write(
        self, session: Session, spec: SecuritySettingsSpec, row: t.SecuritySetting | None
    ) -> t.SecuritySetting:
        project = (
            session.scalar(select(t.Project).where(t.Project.name == spec.project))
            if spec.project
            else None
        )
        row = row or t.SecuritySetting(scope=spec.project or GLOBAL_SCOPE)
        row.project = project
        row.cross_project_safe_mode = spec.cross_project_safe_mode
        session.add(row)
        return row


def cross_project_safe_mode(session: Session, project: str) -> bool:
    """Safe mode for `project`: its own setting if it has one, else the global one."""
    rows = {
        r.scope: r.cross_project_safe_mode
        for r in session.scalars(
            select(t.SecuritySetting).where(t.SecuritySetting.scope.in_([project, GLOBAL_SCOPE]))
        )
    }
    return rows.get(project, rows.get(GLOBAL_SCOPE, False))


def set_members(db: Database, actor: Actor, project: str, logins: list[str]) -> None:
    """Make exactly `logins` the project's members (checked and authorized like any change)."""
    catalog.edit(db, actor, "Project", project, lambda doc: doc.update(members=logins))


def add_member(db: Database, actor: Actor, project: str, login: str) -> None:
    catalog.edit(
        db, actor, "Project", project, lambda doc: doc.update(members=[*doc["members"], login])
    )


def remove_member(db: Database, actor: Actor, project: str, login: str) -> None:
    """Take `login` out of the project's members (nothing when they are not one)."""
    catalog.edit(
        db,
        actor,
        "Project",
        project,
        lambda doc: doc.update(members=[m for m in doc["members"] if m != login]),
    )


@dataclass(frozen=True)
class SafeModes:
    """Cross-project safe mode: the global setting and the projects that override it."""

    everywhere: bool
    projects: dict[str, bool]


def safe_modes(db: Database) -> SafeModes:
    with db.uow() as uow:
        rows = list(uow.session.scalars(select(t.SecuritySetting)))
        own = {r.project.name: r.cross_project_safe_mode for r in rows if r.project is not None}
        everywhere = any(r.cross_project_safe_mode for r in rows if r.scope == GLOBAL_SCOPE)
    return SafeModes(everywhere, dict(sorted(own.items())))


def project_names(db: Database) -> list[str]:
    """Every project's name, sorted (what a picker offers)."""
    with db.uow() as uow:
        return list(uow.session.scalars(select(t.Project.name).order_by(t.Project.name)))


def set_safe_mode(db: Database, actor: Actor, project: str | None, on: bool) -> None:
    """Set safe mode globally (`project` None) or as one project's own (super admins)."""
    document = {"kind": "SecuritySettings", "project": project, "cross_project_safe_mode": on}
    spec = parse_spec(document, f"SecuritySettings {project or ''}".strip())
    with db.uow() as uow:
        catalog.upsert(uow.session, actor, spec)
        uow.commit()


def follow_global_safe_mode(db: Database, actor: Actor, project: str) -> None:
    """Drop a project's own safe mode setting: the global one applies to it again. Refused
    before looking: whether a project has its own setting is not anyone's answer to change."""
    with db.uow() as uow:
        kind = SecuritySettingsService().kind
        authorize(uow.session, actor, kind, Action.DELETE, Scope(), project)
    catalog.delete(db, actor, "SecuritySettings", project)
