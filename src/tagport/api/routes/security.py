"""`/api/v1/security`: cross-project safe mode, globally and overridden per project."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel

from tagport.api.deps import Caller
from tagport.api.routing import Router
from tagport.services import projects as service

router = Router(prefix="/security", tags=["security"])
Project = Annotated[str, Path(min_length=1, max_length=64)]


class SafeModeIn(BaseModel):
    cross_project_safe_mode: bool


class SecurityOut(BaseModel):
    cross_project_safe_mode: bool
    """The global setting: what every project without its own follows."""
    projects: dict[str, bool]
    """Projects with their own setting, overriding the global one."""

    @classmethod
    def of(cls, view: service.SafeModes) -> SecurityOut:
        return cls(cross_project_safe_mode=view.everywhere, projects=view.projects)


@router.get("")
def get_security(caller: Caller) -> SecurityOut:
    """Cross-project safe mode: the global setting and each project's own."""
    return SecurityOut.of(service.safe_modes(caller.db))


@router.put("")
def set_global(caller: Caller, body: SafeModeIn) -> SecurityOut:
    """Set the global safe mode (super admins)."""
    service.set_safe_mode(caller.db, caller.actor, None, body.cross_project_safe_mode)
    return SecurityOut.of(service.safe_modes(caller.db))


@router.put("/projects/{project}")
def set_for_project(caller: Caller, project: Project, body: SafeModeIn) -> SecurityOut:
    """Give one project its own safe mode, whatever the global one (super admins)."""
    service.set_safe_mode(caller.db, caller.actor, project, body.cross_project_safe_mode)
    return SecurityOut.of(service.safe_modes(caller.db))


@router.delete("/projects/{project}")
def follow_global(caller: Caller, project: Project) -> SecurityOut:
    """Let a project follow the global safe mode again (super admins)."""
    service.follow_global_safe_mode(caller.db, caller.actor, project)
    return SecurityOut.of(service.safe_modes(caller.db))
