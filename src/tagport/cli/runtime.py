"""`tagport serve`, `tagport scheduler`, `tagport worker`: the long-running roles."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from tagport.cli.options import context as state
from tagport.cli.output import console
from tagport.runtime import server


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")


Concurrency = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, max=64, help="Instances run at once.")
]


def serve(ctx: typer.Context, concurrency: Concurrency = 2) -> None:
    """Run the scheduler and a worker pool until SIGTERM (running work finishes first)."""
    st = state(ctx)
    _logging()
    console.print(f"tagport serving {st.settings.home} with {concurrency} worker(s); Ctrl-C stops")
    server.run(st.settings, st.db, scheduler=True, workers=concurrency)


def scheduler(ctx: typer.Context) -> None:
    """Run only the scheduler (several may run: instances are created once)."""
    st = state(ctx)
    _logging()
    server.run(st.settings, st.db, scheduler=True, workers=0)


def worker(ctx: typer.Context, concurrency: Concurrency = 1) -> None:
    """Run only workers (any number of processes may run against PostgreSQL metadata)."""
    st = state(ctx)
    _logging()
    server.run(st.settings, st.db, scheduler=False, workers=concurrency)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(scheduler)
    app.command()(worker)
