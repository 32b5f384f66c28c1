"""`/api/v1/entities`: the kinds of things tagged, each with its ID field."""

from typing import Annotated, Any

from fastapi import Query

from tagport.api.catalog import Noun, add_routes
from tagport.api.routing import Router

router = Router(tags=["entities"])


def _filters(
    project: Annotated[str | None, Query(max_length=64, description="The project.")] = None,
) -> dict[str, Any]:
    return {"project": project}


add_routes(router, Noun("Entity", "/entities"), _filters)
