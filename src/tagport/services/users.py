"""Users, their roles and API tokens; resolving who an interface acts as."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tagport.domain.catalog import Role, UserSpec
from tagport.domain.documents import parse_spec
from tagport.errors import InvalidInput, NotFound, PermissionDenied
from tagport.services import catalog
from tagport.services.catalog import Checks, KindService
from tagport.services.permissions import Actor, require_super_admin
from tagport.store import tables as t
from tagport.store.crypto import hash_password
from tagport.store.db import Database
from tagport.store.paging import MAX_SIZE, Page, PageRequest, fetch_page

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


@dataclass(frozen=True)
class UserView:
    """A user as lists show it: the spec, and whether it is an automation account."""

    spec: UserSpec
    service_account: bool
    password_set: bool


def search(db: Database, word: str | None = None) -> list[UserSpec]:
    """Users whose login or display name contains `word` (case-insensitive), by login."""
    found = search_page(db, word, PageRequest(size=MAX_SIZE, sort="login"))
    return [view.spec for view in found.items]


def search_page(db: Database, word: str | None, request: PageRequest) -> Page[UserView]:
    """One page of the users whose login or display name contains `word` (the owner picker)."""
    query = select(t.User)
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
    sortable = {"login": t.User.login, "display_name": t.User.display_name}
    service = UserService()
    with db.uow() as uow:
        page = fetch_page(uow.session, query, t.User.id, sortable, request)
        views = [
            UserView(service.to_spec(uow.session, u), u.is_service_account, bool(u.password_hash))
            for u in page.items
        ]
    return Page(views, page.total, page.page, page.size, page.next_cursor)


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


MIN_PASSWORD_LENGTH = 10


def set_password(db: Database, actor: Actor, login: str, password: str) -> None:
    """Set `login`'s console password (oneself, or anyone for a super admin); kept as argon2id."""
    if login != actor.login:
        require_super_admin(actor, f"set the password of {login}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput.one(
            f"user {login}", "password", f"must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    with db.uow() as uow:
        user = _user(uow.session, login)
        if user.is_service_account:
            raise InvalidInput.one(
                f"user {login}", "password", "a service account signs in with tokens only"
            )
        user.password_hash = hash_password(password)
        uow.commit()


def add_service_account(db: Database, actor: Actor, login: str, display_name: str | None) -> None:
    """A non-human user for automation (super admins only); its tokens outlive their maker."""
    require_super_admin(actor, f"create service account {login}")
    spec = parse_spec(
        {"kind": "User", "name": login, "display_name": display_name}, f"service account {login}"
    )
    assert isinstance(spec, UserSpec)
    add_user(db, actor, spec)
    with db.uow() as uow:
        _user(uow.session, login).is_service_account = True
        uow.commit()


def _user(session: Session, login: str) -> t.User:
    user = session.scalar(select(t.User).where(t.User.login == login))
    if user is None:
        raise NotFound("user", login)
    return user


LANGUAGES = ("en", "zh")
"""The console's languages: English and Chinese, as the product they reproduce is used."""


def set_language(db: Database, actor: Actor, language: str | None) -> None:
    """The console language `actor` chose for themselves; None: follow the browser."""
    if language is not None and language not in LANGUAGES:
        raise InvalidInput.one(
            f"user {actor.login}", "language", f"must be one of {', '.join(LANGUAGES)}"
        )
    with db.uow() as uow:
        _user(uow.session, actor.login).language = language
        uow.commit()
