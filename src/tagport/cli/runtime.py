"""`tagport serve`, `tagport api`, `tagport scheduler`, `tagport worker`: the long-running roles."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

from tagport.cli import startup
from tagport.cli.lazy import lazy_module
from tagport.cli.options import context as state
from tagport.cli.output import console

if TYPE_CHECKING:
    from tagport.runtime import server
else:  # loaded at first use: `tagport --help` needs none of them
    server = lazy_module("tagport.runtime.server")


def _long_running() -> None:
    """What every long-running role starts with: logs, and the garbage collector back on."""
    startup.resume()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")


Concurrency = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, max=64, help="Instances run at once.")
]


Host = Annotated[str, typer.Option("--host", help="Address the HTTP API listens on.")]
Port = Annotated[
    int, typer.Option("--port", min=0, max=65535, help="Port of the HTTP API (0: any free one).")
]
NoApi = Annotated[bool, typer.Option("--no-api", help="Serve no HTTP API, only run work.")]
_PROCESSES = "Processes serving the HTTP API on the one socket."
ApiWorkers = Annotated[int, typer.Option("--api-workers", min=1, max=64, help=_PROCESSES)]
Workers = Annotated[int, typer.Option("--workers", min=1, max=64, help=_PROCESSES)]


def serve(
    ctx: typer.Context,
    concurrency: Concurrency = 2,
    host: Host = "127.0.0.1",
    port: Port = 8080,
    no_api: NoApi = False,
    api_workers: ApiWorkers = 1,
) -> None:
    """Serve the HTTP API and run the scheduler and a worker pool until SIGTERM (running work
    finishes first)."""
    st = state(ctx)
    _long_running()
    http = None if no_api else server.Listen(host, port, api_workers)
    where = f" and the API on http://{host}:{port}/api/docs" if http else ""
    console.print(
        f"tagport serving {st.settings.home} with {concurrency} worker(s){where}; Ctrl-C stops"
    )
    server.run(st.settings, st.db, scheduler=True, workers=concurrency, http=http)


def api(
    ctx: typer.Context,
    host: Host = "127.0.0.1",
    port: Port = 8080,
    workers: Workers = 1,
) -> None:
    """Serve only the HTTP API (run `tagport scheduler` and `tagport worker` elsewhere)."""
    st = state(ctx)
    _long_running()
    console.print(f"tagport API on http://{host}:{port}/api/docs; Ctrl-C stops")
    http = server.Listen(host, port, workers)
    server.run(st.settings, st.db, scheduler=False, workers=0, http=http)


def scheduler(ctx: typer.Context) -> None:
    """Run only the scheduler (one per host if you like: one leads, the others take over
    within TAGPORT_LEASE_SECONDS of its last tick)."""
    st = state(ctx)
    _long_running()
    server.run(st.settings, st.db, scheduler=True, workers=0)


def worker(ctx: typer.Context, concurrency: Concurrency = 1) -> None:
    """Run only workers (any number of processes may run against PostgreSQL metadata)."""
    st = state(ctx)
    _long_running()
    server.run(st.settings, st.db, scheduler=False, workers=concurrency)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(api)
    app.command()(scheduler)
    app.command()(worker)
