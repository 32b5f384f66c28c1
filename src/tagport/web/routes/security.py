"""The security settings page: cross-project safe mode, globally and per project."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse

from tagport.services import projects
from tagport.web.pages import Page

router = APIRouter()
FOLLOW = "follow"
"""A project's choice to have no setting of its own: it follows the global one."""


def _page(viewer: Page, saved: bool = False) -> HTMLResponse:
    modes = projects.safe_modes(viewer.ctx.db)
    names = projects.project_names(viewer.ctx.db)
    template = (
        "security/_settings.html"
        if viewer.request.headers.get("hx-request")
        else ("security/page.html")
    )
    return viewer.render(template, active="security", modes=modes, names=names, saved=saved)


@router.get("/security", response_class=HTMLResponse)
def security_page(viewer: Page) -> HTMLResponse:
    return _page(viewer)


@router.post("/security", response_class=HTMLResponse)
def set_global(viewer: Page, safe_mode: Annotated[bool, Form()] = False) -> HTMLResponse:
    """Turn the global safe mode on or off (super admins; refused for others by the service)."""
    projects.set_safe_mode(viewer.ctx.db, viewer.ctx.actor, None, safe_mode)
    return _page(viewer, saved=True)


@router.post("/security/projects/{project}", response_class=HTMLResponse)
def set_for_project(viewer: Page, project: str, mode: Annotated[str, Form()]) -> HTMLResponse:
    """A project's own setting (`on`, `off`), or none (`follow`: the global one applies)."""
    if mode == FOLLOW:
        projects.follow_global_safe_mode(viewer.ctx.db, viewer.ctx.actor, project)
    else:
        projects.set_safe_mode(viewer.ctx.db, viewer.ctx.actor, project, mode == "on")
    return _page(viewer, saved=True)
