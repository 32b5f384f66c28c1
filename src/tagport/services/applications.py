"""Applications: what offline services are created under, with their admins and members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.domain.catalog import ApplicationSpec, ProjectType, ServiceKind
from tagport.services import catalog
from tagport.services.catalog import Checks, Filter, KindService, refers_to, with_member
from tagport.services.permissions import Actor, Scope
from tagport.store import tables as t
from tagport.store.db import Database

ADMIN, MEMBER = "admin", "member"


class ApplicationService(KindService[ApplicationSpec, t.Application]):
    spec = ApplicationSpec
    row = t.Application
    key_name = "name"

    def to_spec(self, session: Session, row: t.Application) -> ApplicationSpec:
        by_role: dict[str, list[str]] = {ADMIN: [], MEMBER: []}
        for m in row.memberships:
            by_role[m.role].append(m.user.login)
        return ApplicationSpec(
            name=row.name,
            project=row.project.name,
            services=[ServiceKind(s) for s in row.services],
            admins=by_role[ADMIN],
            members=by_role[MEMBER],
            description=row.description,
        )

    def filters(self) -> dict[str, Filter]:
        app, link = t.Application, t.ApplicationMember
        return {
            "project": refers_to(app.project_id, t.Project, t.Project.name),
            "member": with_member(link.application_id, app.id, link.user_id),
        }

    def check(self, checks: Checks, spec: ApplicationSpec, row: t.Application | None) -> None:
        project = checks.ref(t.Project, t.Project.name, spec.project, "project", "project")
        if project is not None and project.type != ProjectType.TAG.value:
            checks.fail(
                "project",
                f"{spec.project} is a {project.type} project; applications link to a tag project",
            )
        checks.users(spec.admins, "admins")
        checks.users(spec.members, "members")

    def scope(self, session: Session, spec: ApplicationSpec, row: t.Application | None) -> Scope:
        return Scope(applications=frozenset([row.id]) if row is not None else frozenset())

    def write(
        self, session: Session, spec: ApplicationSpec, row: t.Application | None
    ) -> t.Application:
        row = row or t.Application(name=spec.name)
        row.project = session.scalars(select(t.Project).where(t.Project.name == spec.project)).one()
        row.services = [s.value for s in spec.services]
        row.description = spec.description
        users = {
            u.login: u
            for u in session.scalars(
                select(t.User).where(t.User.login.in_(spec.admins + spec.members))
            )
        }
        wanted = {
            (users[login].id, role)
            for role, logins in ((ADMIN, spec.admins), (MEMBER, spec.members))
            for login in logins
        }
        row.memberships = [m for m in row.memberships if (m.user_id, m.role) in wanted]
        have = {(m.user_id, m.role) for m in row.memberships}
        for user_id, role in sorted(wanted - have):
            row.memberships.append(t.ApplicationMember(user_id=user_id, role=role))
        session.add(row)
        return row

    def dependents(self, session: Session, row: t.Application) -> list[str]:
        names = session.scalars(
            select(t.OfflineService.name).where(t.OfflineService.application_id == row.id)
        )
        return [f"offline service {n}" for n in names]


def set_member(db: Database, actor: Actor, application: str, login: str, role: str) -> None:
    """Make `login` an admin or a member of the application (whatever they were before)."""

    def change(doc: dict[str, Any]) -> None:
        for field in ("admins", "members"):
            doc[field] = [m for m in doc.get(field, []) if m != login]
        doc[f"{role}s"].append(login)

    catalog.edit(db, actor, "Application", application, change)


def remove_member(db: Database, actor: Actor, application: str, login: str) -> None:
    """Take `login` out of the application's admins and members."""

    def change(doc: dict[str, Any]) -> None:
        for field in ("admins", "members"):
            doc[field] = [m for m in doc.get(field, []) if m != login]

    catalog.edit(db, actor, "Application", application, change)


def offline_service_applications(db: Database, actor: Actor) -> list[str]:
    """The applications `actor` may create offline services under, by name: those associated
    with the audience offline service that they belong to (a super admin: all of them)."""
    query = select(t.Application).order_by(t.Application.name)
    if not actor.is_super_admin:
        mine = select(t.ApplicationMember.application_id).where(
            t.ApplicationMember.user_id == actor.id
        )
        query = query.where(t.Application.id.in_(mine))
    with db.uow() as uow:
        return [
            app.name
            for app in uow.session.scalars(query)
            if ServiceKind.AUDIENCE_OFFLINE.value in app.services
        ]
