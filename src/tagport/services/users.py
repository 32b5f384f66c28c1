"""Users, their roles and API tokens; resolving who an interface acts as."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tagport.domain.catalog import Role, UserSpec
from tagport.errors import InvalidInput, NotFound, PermissionDenied
from tagport.services import catalog
from tagport.services.catalog import Checks, KindService
from tagport.services.permissions import Actor, require_super_admin
from tagport.store import tables as t
from tagport.store.crypto import token_digest
from tagport.store.db import Database

OPERATOR = "operator"
"""The super admin `tagport init` creates; the CLI acts as it unless told otherwise."""


class UserService(KindService[UserSpec, t.User]):
    spec = UserSpec
    row = t.User
    key_name = "login"

    def to_spec(self, session: Session, row: t.User) -> UserSpec:
        flags = (
            (Role.SUPER_ADMIN, row.is_super_admin),
            (Role.DATASOURCE_ADMIN, row.is_datasource_admin),
        )
        roles = [role for role, holds in flags if holds]
        return UserSpec(name=row.login, display_name=row.display_name, roles=roles)

    def check(self, checks: Checks, spec: UserSpec, row: t.User | None) -> None:
        if row is not None and row.login == OPERATOR and Role.SUPER_ADMIN not in spec.roles:
            checks.fail("roles", "the operator account stays a super admin")

    def write(self, session: Session, spec: UserSpec, row: t.User | None) -> t.User:
        row = row or t.User(login=spec.name)
        row.display_name = spec.display_name or spec.name
        row.is_super_admin = Role.SUPER_ADMIN in spec.roles
        row.is_datasource_admin = Role.DATASOURCE_ADMIN in spec.roles
        session.add(row)
        return row

    def dependents(self, session: Session, row: t.User) -> list[str]:
        owned = (
            ("data source", t.DataSource.name, t.DataSource.owner_id),
            ("audience group", t.AudienceGroup.code, t.AudienceGroup.owner_id),
            ("offline service", t.OfflineService.name, t.OfflineService.owner_id),
        )
        return [
            f"{kind} {name} (owner)"
            for kind, name_column, owner_column in owned
            for name in session.scalars(select(name_column).where(owner_column == row.id))
        ]

    def before_delete(self, session: Session, row: t.User) -> None:
        if row.login == OPERATOR:
            raise PermissionDenied("the operator account cannot be deleted")


def init_operator(db: Database) -> bool:
    """Create the operator super admin if missing; True when it was created."""
    with db.uow() as uow:
        if uow.session.scalar(select(t.User).where(t.User.login == OPERATOR)) is not None:
            return False
        uow.session.add(t.User(login=OPERATOR, display_name="Operator", is_super_admin=True))
        uow.commit()
        return True


def actor_for(db: Database, login: str | None) -> Actor:
    """The acting user: `login`, else the operator account."""
    login = login or OPERATOR
    with db.uow() as uow:
        user = uow.session.scalar(select(t.User).where(t.User.login == login))
        if user is None:
            hint = " (run `tagport init` first)" if login == OPERATOR else ""
            raise PermissionDenied(f"unknown user {login!r}{hint}")
        return Actor.of(user)


def search(db: Database, word: str | None = None) -> list[UserSpec]:
    """Users whose login or display name contains `word` (case-insensitive), by login."""
    query = select(t.User).order_by(t.User.login)
    if word:
        # The keyword is literal: % and _ match themselves, not any characters.
        literal = word.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
        pattern = f"%{literal}%"
        query = query.where(
            or_(
                func.lower(t.User.login).like(pattern, escape="!"),
                func.lower(t.User.display_name).like(pattern, escape="!"),
            )
        )
    service = UserService()
    with db.uow() as uow:
        return [service.to_spec(uow.session, u) for u in uow.session.scalars(query)]


def add_user(db: Database, actor: Actor, spec: UserSpec) -> catalog.Outcome:
    """Create a user; refuse to silently change an existing one."""
    with db.uow() as uow:
        if UserService().find(uow.session, spec.name) is not None:
            raise InvalidInput.one(f"User {spec.name}", "name", "a user with this login exists")
        outcome = catalog.upsert(uow.session, actor, spec)
        uow.commit()
        return outcome


def set_roles(db: Database, actor: Actor, login: str, roles: list[Role]) -> catalog.Outcome:
    """Give an existing user exactly `roles` (a super admin's decision)."""
    with db.uow() as uow:
        service = UserService()
        row = service.find(uow.session, login)
        if row is None:
            raise NotFound("user", login)
        spec = service.to_spec(uow.session, row).model_copy(update={"roles": sorted(set(roles))})
        outcome = catalog.upsert(uow.session, actor, spec)
        uow.commit()
        return outcome


MAX_TOKEN_DAYS = 3650
"""The longest a token may live."""


def create_token(db: Database, actor: Actor, login: str, name: str, days: int | None = None) -> str:
    """A new API token for `login` (self, or anyone for a super admin); shown once, kept hashed."""
    if login != actor.login:
        require_super_admin(actor, f"create a token for {login}")
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidInput.one(f"token {name}", "days", f"must be 1 to {MAX_TOKEN_DAYS}")
    token = "tp_" + secrets.token_urlsafe(32)
    with db.uow() as uow:
        user = uow.session.scalar(select(t.User).where(t.User.login == login))
        if user is None:
            raise NotFound("user", login)
        expires = t.utcnow() + timedelta(days=days) if days else None
        uow.session.add(
            t.ApiToken(user_id=user.id, name=name, digest=token_digest(token), expires_at=expires)
        )
        uow.commit()
    return token


def authenticate(db: Database, token: str, now: datetime | None = None) -> Actor:
    """The owner of a valid, unexpired token."""
    with db.uow() as uow:
        row = uow.session.scalar(select(t.ApiToken).where(t.ApiToken.digest == token_digest(token)))
        moment = now or t.utcnow()
        if row is None or (row.expires_at is not None and row.expires_at <= moment):
            raise PermissionDenied("invalid or expired token")
        row.last_used_at = moment
        actor = Actor.of(row.user)
        uow.commit()
        return actor
