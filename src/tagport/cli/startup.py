"""The cyclic garbage collector, paused while a command starts and back on for one that runs long.

Starting a command imports SQLAlchemy, pydantic, DuckDB, pyarrow and tagport's own modules: a
few hundred thousand objects that live as long as the process. With the default thresholds the
collector walks all of them twice before the command does any work: 0.07-0.15 s of a 0.6-0.9 s
`tagport task list` (docs/benchmarks.md § CLI start). A short command ends before its garbage
matters. One that runs long (a server role, a run or backfill waited for) turns the collector
back on, with everything made so far frozen out of its walks.
"""

from __future__ import annotations

import gc


def pause() -> None:
    """Collect nothing until `resume` (or the process's end)."""
    gc.disable()


def resume() -> None:
    """Collect again, leaving what exists now (the modules imported) out of every walk; nothing
    to do where the collector was never paused (the CLI run in-process, as tests run it)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
