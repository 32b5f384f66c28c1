"""`/api/v1/users` and `/api/v1/service-accounts`: find users (the owner picker), add them,
set their roles and passwords; automation accounts for scripts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query
from pydantic import BaseModel, Field

from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.api.schemas import PageOut, page_request
from tagport.domain.catalog import Role, UserSpec
from tagport.domain.documents import parse_spec
from tagport.errors import NotFound
from tagport.services import users
from tagport.store.paging import PageRequest

router = Router(tags=["users"])

Login = Annotated[str, Path(min_length=1, max_length=64)]


class UserOut(BaseModel):
    login: str
    display_name: str
    roles: list[Role]
    service_account: bool
    password_set: bool

    @classmethod
    def of(cls, view: users.UserView) -> UserOut:
        spec = view.spec
        return cls(
            login=spec.name,
            display_name=spec.display_name or spec.name,
            roles=spec.roles,
            service_account=view.service_account,
            password_set=view.password_set,
        )


class UserIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=128)
    roles: list[Role] = []


class RolesIn(BaseModel):
    roles: list[Role]


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class ServiceAccountIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=128)


def _one(caller: Caller, login: str) -> UserOut:
    found = users.search_page(caller.db, login, PageRequest(size=500, sort="login"))
    for view in found.items:
        if view.spec.name == login:
            return UserOut.of(view)
    raise NotFound("user", login)


@router.get("/users")
def list_users(
    caller: Caller,
    paging: Annotated[PageRequest, Depends(page_request)],
    search: Annotated[
        str | None, Query(max_length=64, description="Keyword in login or display name.")
    ] = None,
) -> PageOut[UserOut]:
    """Users whose login or display name contains `search`; sort by login or display_name."""
    page = users.search_page(caller.db, search, paging)
    return PageOut[UserOut](
        items=[UserOut.of(v) for v in page.items],
        total=page.total,
        page=page.page,
        size=page.size,
        next_cursor=page.next_cursor,
    )


@router.get("/users/{login}")
def get_user(caller: Caller, login: Login) -> UserOut:
    return _one(caller, login)


@router.post("/users", status_code=201)
def add_user(caller: Caller, body: UserIn) -> UserOut:
    """Add a user (super admins only)."""
    document = {"kind": "User", "name": body.login, "display_name": body.display_name}
    spec = parse_spec(document | {"roles": body.roles}, f"user {body.login}")
    assert isinstance(spec, UserSpec)
    users.add_user(caller.db, caller.actor, spec)
    return _one(caller, body.login)


@router.put("/users/{login}/roles")
def set_roles(caller: Caller, login: Login, body: RolesIn) -> UserOut:
    """Give a user exactly these roles (super admins only)."""
    users.set_roles(caller.db, caller.actor, login, body.roles)
    return _one(caller, login)


@router.put("/users/{login}/password", status_code=204)
def set_password(caller: Caller, login: Login, body: PasswordIn) -> None:
    """Set a console password: one's own, or anyone's for a super admin."""
    users.set_password(caller.db, caller.actor, login, body.password)


@router.post("/service-accounts", status_code=201)
def add_service_account(caller: Caller, body: ServiceAccountIn) -> UserOut:
    """A non-human user for automation (super admins only); give it tokens with POST /tokens."""
    users.add_service_account(caller.db, caller.actor, body.login, body.display_name)
    return _one(caller, body.login)
