"""Who may do what: the acting user and the role checks every service calls."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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

    @classmethod
    def of(cls, user: t.User) -> Actor:
        return cls(user.id, user.login, user.is_super_admin)


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
