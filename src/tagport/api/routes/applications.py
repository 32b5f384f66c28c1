"""`/api/v1/applications`: applications, their admins and members (by login)."""

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from tagport.api.catalog import Key, Noun, add_routes
from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.services import applications

router = Router(tags=["applications"])
NOUN = Noun("Application", "/applications")


def _filters(
    project: Annotated[str | None, Query(max_length=64, description="The tag project.")] = None,
    member: Annotated[
        str | None, Query(max_length=64, description="An admin's or member's login.")
    ] = None,
) -> dict[str, Any]:
    return {"project": project, "member": member}


add_routes(router, NOUN, _filters)


class ApplicationMemberIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "member"] = "member"


@router.post("/applications/{key}/members")
def set_member(caller: Caller, key: Key, body: ApplicationMemberIn) -> dict[str, Any]:
    """Make a user an admin or a member of the application (its admins)."""
    applications.set_member(caller.db, caller.actor, key, body.login, body.role)
    return NOUN.show(caller, key)


@router.delete("/applications/{key}/members/{login}")
def remove_member(caller: Caller, key: Key, login: Key) -> dict[str, Any]:
    """Take a user out of the application's admins and members (its admins)."""
    applications.remove_member(caller.db, caller.actor, key, login)
    return NOUN.show(caller, key)
