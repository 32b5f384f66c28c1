"""The FastAPI application: `/api/v1` routers, problem details, docs served without a CDN.

`create_app` builds it around one home's settings and metadata database; `tagport serve` runs
it beside the scheduler and workers, `tagport api` alone.
"""

from __future__ import annotations

import inspect
import logging
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from starlette.types import Scope

from tagport import __version__
from tagport.api import catalog, problems
from tagport.api.deps import AppState
from tagport.api.middleware import RequestContext
from tagport.api.routes import (
    applications,
    audience_groups,
    audit,
    datasources,
    entities,
    grants,
    health,
    instances,
    lookup_tables,
    offline_services,
    permission_requests,
    projects,
    security,
    sessions,
    tags,
    tokens,
    users,
)
from tagport.api.routing import API_PREFIX
from tagport.config import Settings
from tagport.store.db import Database
from tagport.web.app import create_console

ROUTERS = [
    sessions.router,
    tokens.router,
    users.router,
    projects.router,
    applications.router,
    datasources.router,
    entities.router,
    lookup_tables.router,
    tags.router,
    audience_groups.router,
    security.router,
    offline_services.router,
    instances.router,
    permission_requests.router,
    grants.router,
    audit.router,
]
"""Every noun's router, mounted under /api/v1 (health probes stay at the root)."""


_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
    if "telemetry" in inspect.signature(FastAPI).parameters
    else {}  # older FastAPI: none to turn off
)


def create_app(settings: Settings, db: Database, *, strict_messages: bool = False) -> FastAPI:
    """The API and console of one home; `db` is shared by every request (its pool is
    thread-safe). `strict_messages`: a console label missing from a catalogue fails (tests)."""
    app = FastAPI(
        title="tagport",
        version=__version__,
        summary="Audience group offline service: export audiences into database tables.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses={400: problems.PROBLEM_RESPONSES[400]},
        # FastAPI's own OpenTelemetry looks up the global providers on every request (a tenth
        # of a cheap request's time); tagport configures none.
        **_NO_TELEMETRY,
    )
    app.state.tagport = AppState(settings, db)
    problems.install(app)
    # Each router straight into the app: FastAPI builds an included route's state when it is
    # first asked for, but a router nested in another one has every route built at once
    # (about a second for the API's 93 routes).
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=problems.PROBLEM_RESPONSES)
    catalog.document_schemas(app)
    app.include_router(health.router)
    _docs(app)
    # Last: the console answers every path the API, the probes and the docs do not.
    console = create_console(app.state.tagport, strict_messages=strict_messages)
    app.router.routes.append(_ConsoleMount("/", app=console, name="console"))
    app.add_middleware(RequestContext)
    return app


class _ConsoleMount(Mount):
    """The console at `/`, for every path outside `/api/`: a request for an unknown API path
    or with the wrong method keeps its problem answer (404, 405) instead of a console page."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            return Match.NONE, {}
        return super().matches(scope)


def _docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs from a wheel's files: no CDN (machines without internet)."""
    assets = files("fastapi_offline") / "static"
    app.mount("/api/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="tagport API",
            swagger_js_url="/api/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs-assets/swagger-ui.css",
            swagger_favicon_url="/api/docs-assets/favicon.png",
        )


def app_from_settings() -> FastAPI:
    """The app of the home the environment names (TAGPORT_HOME …): what each process of
    `tagport api --workers N` serves, built in that process with its own connection pool."""
    from tagport.config import load_settings
    from tagport.services.home import open_database

    logging.basicConfig(level=logging.INFO, format="%(asctime)s api-%(process)d %(message)s")
    settings = load_settings()
    return create_app(settings, open_database(settings, upgrade=False))
