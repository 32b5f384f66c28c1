"""Who may do what: the acting user, the role matrix of every kind, and the checks services call.

The matrix (`WHO_MAY`) is data: for each kind and action, the alternative sets of grants that
allow it. A super admin may always; a grant is a role the actor holds towards one object
(its owner, an admin of its application, a member of its project …), computed from its `Scope`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.errors import PermissionDenied
from tagport.store import tables as t


@dataclass(frozen=True)
class Actor:
    """The user an interface acts as (logged-in user, token owner, or the CLI's --as)."""

    id: int
    login: str
    is_super_admin: bool
    is_datasource_admin: bool = False
    language: str | None = None
    """The console language the user chose (None: the browser's)."""

    @classmethod
    def of(cls, user: t.User) -> Actor:
        return cls(
            user.id, user.login, user.is_super_admin, user.is_datasource_admin, user.language
        )


class Action(StrEnum):
    CREATE = "create"
    CHANGE = "change"
    DELETE = "delete"
    VIEW = "view"
    ASSIGN_OWNER = "name another owner of"
    SET_PASSWORD_ENV = "set password_env of"
    MOVE_SECRET = "send the stored password elsewhere"


class Grant(StrEnum):
    """A role the actor holds towards one object; the value is how messages name it."""

    DATASOURCE_ADMIN = "a data source admin"
    OWNER = "its owner"
    APPLICATION_ADMIN = "an admin of its application"
    APPLICATION_MEMBER = "a member of its application"
    PROJECT_MEMBER = "a member of its project"


Alternatives = tuple[tuple[Grant, ...], ...]
"""Allowed when the actor holds every grant of any one alternative (or is a super admin)."""

SUPER_ADMIN_ONLY: Alternatives = ()
ANYONE: Alternatives = ((),)

_OWNER, _DS_ADMIN = Grant.OWNER, Grant.DATASOURCE_ADMIN
_APP_ADMIN, _APP_MEMBER = Grant.APPLICATION_ADMIN, Grant.APPLICATION_MEMBER
_PROJECT_MEMBER = Grant.PROJECT_MEMBER

WHO_MAY: dict[str, dict[Action, Alternatives]] = {
    "User": {Action.CREATE: SUPER_ADMIN_ONLY, Action.CHANGE: SUPER_ADMIN_ONLY},
    "Project": {Action.CREATE: SUPER_ADMIN_ONLY, Action.CHANGE: SUPER_ADMIN_ONLY},
    "SecuritySettings": {Action.CREATE: SUPER_ADMIN_ONLY, Action.CHANGE: SUPER_ADMIN_ONLY},
    # Connection fields decide where tagport connects and what it sends: data source admins only.
    "DataSource": {
        Action.CREATE: ((_DS_ADMIN,),),
        Action.CHANGE: ((_OWNER, _DS_ADMIN),),
        Action.ASSIGN_OWNER: SUPER_ADMIN_ONLY,
        Action.SET_PASSWORD_ENV: SUPER_ADMIN_ONLY,
        Action.MOVE_SECRET: SUPER_ADMIN_ONLY,
    },
    # Entities, tags and lookup tables have no owner: the project's members are their team.
    "Entity": {Action.CREATE: ((_PROJECT_MEMBER,),), Action.CHANGE: ((_PROJECT_MEMBER,),)},
    "LookupTable": {Action.CREATE: ((_PROJECT_MEMBER,),), Action.CHANGE: ((_PROJECT_MEMBER,),)},
    "Tag": {Action.CREATE: ((_PROJECT_MEMBER,),), Action.CHANGE: ((_PROJECT_MEMBER,),)},
    "AudienceGroup": {
        Action.CREATE: ((_PROJECT_MEMBER,),),
        Action.CHANGE: ((_OWNER, _PROJECT_MEMBER),),
        Action.ASSIGN_OWNER: SUPER_ADMIN_ONLY,
    },
    "Application": {Action.CREATE: SUPER_ADMIN_ONLY, Action.CHANGE: ((_APP_ADMIN,),)},
    "OfflineService": {
        Action.CREATE: ((_APP_MEMBER,),),
        Action.CHANGE: ((_OWNER, _APP_MEMBER), (_APP_ADMIN,)),
        Action.ASSIGN_OWNER: ((_APP_ADMIN,),),
        Action.VIEW: ((_OWNER,), (_APP_MEMBER,)),
    },
}
"""Who may do what to each kind. DELETE follows CHANGE; VIEW is open unless listed."""


@dataclass(frozen=True)
class Scope:
    """The facts about one object that grants depend on, before and after a change: acting on
    an object needs the grant on both its current and its new application or project."""

    owner_id: int | None = None
    applications: frozenset[int] = frozenset()
    projects: frozenset[int] = frozenset()


def label(kind: str) -> str:
    """How messages name a kind: `DataSource` -> `data source`."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower()


def rule_for(kind: str, action: Action) -> Alternatives:
    rules = WHO_MAY.get(kind, {})
    if action in rules:
        return rules[action]
    if action is Action.DELETE:
        return rules.get(Action.CHANGE, SUPER_ADMIN_ONLY)
    return ANYONE if action is Action.VIEW else SUPER_ADMIN_ONLY


@dataclass(frozen=True)
class Memberships:
    """The actor's application roles ('admin' wins over 'member') and projects: read once for
    a whole list instead of once per row."""

    applications: dict[int, str]
    projects: frozenset[int]


def memberships(session: Session, actor: Actor) -> Memberships:
    """`actor`'s application roles and projects, two queries."""
    roles: dict[int, str] = {}
    for application_id, role in session.execute(
        select(t.ApplicationMember.application_id, t.ApplicationMember.role).where(
            t.ApplicationMember.user_id == actor.id
        )
    ):
        roles[application_id] = "admin" if "admin" in (role, roles.get(application_id)) else role
    projects = session.scalars(
        select(t.ProjectMember.project_id).where(t.ProjectMember.user_id == actor.id)
    )
    return Memberships(roles, frozenset(projects))


def held(
    session: Session, actor: Actor, scope: Scope, known: Memberships | None = None
) -> set[Grant]:
    """The grants `actor` holds towards the object described by `scope` (from `known`
    memberships when given, else read now)."""
    grants: set[Grant] = set()
    if actor.is_datasource_admin:
        grants.add(Grant.DATASOURCE_ADMIN)
    if scope.owner_id is not None and scope.owner_id == actor.id:
        grants.add(Grant.OWNER)
    if scope.applications:
        roles = [
            known.applications.get(a) if known else application_role(session, actor, a)
            for a in scope.applications
        ]
        if all(roles):
            grants.add(Grant.APPLICATION_MEMBER)
        if all(r == "admin" for r in roles):
            grants.add(Grant.APPLICATION_ADMIN)
    joined = known.projects if known else _projects(session, actor)
    # An object of no project yet (a new lookup table) belongs to whoever is in some team.
    if (scope.projects <= joined) if scope.projects else bool(joined):
        grants.add(Grant.PROJECT_MEMBER)
    return grants


def _projects(session: Session, actor: Actor) -> frozenset[int]:
    return frozenset(
        session.scalars(
            select(t.ProjectMember.project_id).where(t.ProjectMember.user_id == actor.id)
        )
    )


def may(
    session: Session,
    actor: Actor,
    rule: Alternatives,
    scope: Scope,
    known: Memberships | None = None,
) -> bool:
    if actor.is_super_admin:
        return True
    have = held(session, actor, scope, known) if rule != ANYONE else set()
    return any(set(alternative) <= have for alternative in rule)


def require(session: Session, actor: Actor, rule: Alternatives, scope: Scope, doing: str) -> None:
    """Raise PermissionDenied, naming who may, unless `actor` may do `doing` under `rule`."""
    if may(session, actor, rule, scope):
        return
    who = [" who is ".join(alternative) for alternative in rule] + ["a super admin"]
    raise PermissionDenied(f"{actor.login} may not {doing}: only {' or '.join(who)} may")


def authorize(
    session: Session, actor: Actor, kind: str, action: Action, scope: Scope, key: str
) -> None:
    """`require` the matrix's rule for `action` on the object `kind` `key`."""
    doing = f"{action.value} {label(kind)} {key}".rstrip()
    require(session, actor, rule_for(kind, action), scope, doing)


def require_super_admin(actor: Actor, doing: str) -> None:
    if not actor.is_super_admin:
        raise PermissionDenied(f"{actor.login} may not {doing}: only a super admin may")


def require_any(actor: Actor, doing: str, allowed: Iterable[int], who: str) -> None:
    """Allow a super admin or any user whose id is in `allowed` (described by `who`)."""
    if actor.is_super_admin or actor.id in set(allowed):
        return
    raise PermissionDenied(f"{actor.login} may not {doing}: only {who} or a super admin may")


def application_role(session: Session, actor: Actor, application_id: int) -> str | None:
    """'admin', 'member' or None for the actor in an application (admin wins)."""
    roles = set(
        session.scalars(
            select(t.ApplicationMember.role).where(
                t.ApplicationMember.application_id == application_id,
                t.ApplicationMember.user_id == actor.id,
            )
        )
    )
    return "admin" if "admin" in roles else ("member" if roles else None)


def project_member_ids(project: t.Project) -> set[int]:
    return {u.id for u in project.members}
