"""What the CLI's command modules share: the context of the invocation and common options."""

from __future__ import annotations

from typing import Annotated

import typer

from tagport.context import Context
from tagport.domain.values import MAX_ROW_ID


def context(ctx: typer.Context) -> Context:
    """The invocation's context, made by the root callback."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Context)
    return obj


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MAX_ID = MAX_ROW_ID
"""A larger id is a typing mistake, refused as usage (exit 2)."""
