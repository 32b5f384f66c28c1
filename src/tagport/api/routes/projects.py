"""`/api/v1/projects`: warehouse projects and their members (by login)."""

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from tagport.api.catalog import Key, Noun, add_routes
from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.domain.catalog import ProjectType
from tagport.services import projects

router = Router(tags=["projects"])
NOUN = Noun("Project", "/projects")


def _filters(
    type: Annotated[ProjectType | None, Query(description="general or tag")] = None,
    member: Annotated[str | None, Query(max_length=64, description="A member's login.")] = None,
) -> dict[str, Any]:
    return {"type": type, "member": member}


add_routes(router, NOUN, _filters)


class MembersIn(BaseModel):
    members: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(max_length=10_000)


class ProjectMemberIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)


@router.put("/projects/{key}/members")
def set_members(caller: Caller, key: Key, body: MembersIn) -> dict[str, Any]:
    """Make exactly these logins the project's members (super admins)."""
    projects.set_members(caller.db, caller.actor, key, body.members)
    return NOUN.show(caller, key)


@router.post("/projects/{key}/members")
def add_member(caller: Caller, key: Key, body: ProjectMemberIn) -> dict[str, Any]:
    """Add one member to the project (super admins)."""
    projects.add_member(caller.db, caller.actor, key, body.login)
    return NOUN.show(caller, key)


@router.delete("/projects/{key}/members/{login}")
def remove_member(caller: Caller, key: Key, login: Key) -> dict[str, Any]:
    """Take one member out of the project (super admins)."""
    projects.remove_member(caller.db, caller.actor, key, login)
    return NOUN.show(caller, key)
