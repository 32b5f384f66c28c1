"""The console application, mounted at `/` by the API's app: pages, their assets, their errors.

Errors become pages, not problem documents: a refused form shows the reasons beside its fields
(each route re-renders its own form); anything else shows the message in the page's flash area
(htmx requests) or an error page (a whole page), with the request id and never a stack trace.
"""

from __future__ import annotations

import logging
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tagport.api.deps import AppState
from tagport.api.problems import status_of
from tagport.errors import TagportError
from tagport.web.pages import LoginRequired, is_htmx, login_url, render, translator
from tagport.web.routes import (
    audience_groups,
    datasources,
    instances,
    permissions,
    security,
    session,
    task_form,
    tasks,
    users,
)

log = logging.getLogger(__name__)
ROUTERS = [
    session.router,
    task_form.router,  # before the task pages: /offline-services/new is no task's name
    tasks.router,
    instances.router,
    audience_groups.router,
    datasources.router,
    permissions.router,
    security.router,
    users.router,
]
"""Every page's router, in navigation order."""


def create_console(state: AppState, *, strict_messages: bool = False) -> FastAPI:
    """The console of the API's shared state; `strict_messages`: an untranslated label fails."""
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state.tagport = state
    console.state.strict_messages = strict_messages
    htmx = files("js_lib_htmx") / "static"
    console.mount("/static/vendor", StaticFiles(directory=str(htmx)), name="vendor")
    own = files("tagport.web") / "static"
    console.mount("/static/app", StaticFiles(directory=str(own)), name="static")
    for router in ROUTERS:
        console.include_router(router)
    console.add_exception_handler(LoginRequired, _login_required)
    console.add_exception_handler(ClientDisconnect, _gone)
    console.add_exception_handler(TagportError, _refused)
    console.add_exception_handler(StarletteHTTPException, _http_error)
    console.add_exception_handler(Exception, _bug)
    return console


def _login_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    target = login_url(error.next_path)
    if is_htmx(request):  # a fragment request: the whole page goes to the login
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _gone(request: Request, error: Exception) -> Response:
    """The browser went away while its form was read (a page change cancels htmx requests):
    nobody reads an answer, and it is no error of ours to log."""
    return Response(status_code=400)


def _error_page(request: Request, status: int, message: str, code: str) -> HTMLResponse:
    t = translator(request)
    request_id = getattr(request.state, "request_id", "")
    values = {"status": status, "message": message, "code": code, "request_id": request_id}
    if is_htmx(request):  # shown in the page's flash area, whatever the request's target
        response = render(request, t, "_flash.html", status, **values)
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return render(request, t, "error.html", status, **values)


def _refused(request: Request, error: Exception) -> HTMLResponse:
    assert isinstance(error, TagportError)
    status = status_of(error)
    if status >= 500:
        log.error("page %s: %s: %s", request.url.path, error.code, error)
    return _error_page(request, status, str(error), error.code)


def _http_error(request: Request, error: Exception) -> HTMLResponse:
    assert isinstance(error, StarletteHTTPException)
    code = "not_found" if error.status_code == 404 else f"http.{error.status_code}"
    return _error_page(request, error.status_code, str(error.detail), code)


def _bug(request: Request, error: Exception) -> HTMLResponse:
    request_id = getattr(request.state, "request_id", "-")
    log.exception("page %s: internal error", request_id, exc_info=error)
    return _error_page(request, 500, "internal error (a bug in tagport)", "internal")
