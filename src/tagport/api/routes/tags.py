"""`/api/v1/tags`: tags and where their values live in the warehouse."""

from typing import Annotated, Any

from fastapi import Query

from tagport.api.catalog import Noun, add_routes
from tagport.api.routing import Router

router = Router(tags=["tags"])


def _filters(
    entity: Annotated[str | None, Query(max_length=64, description="The entity's code.")] = None,
    lookup: Annotated[str | None, Query(max_length=64, description="A lookup table.")] = None,
    value_type: Annotated[str | None, Query(max_length=32, description="e.g. string")] = None,
) -> dict[str, Any]:
    return {"entity": entity, "lookup": lookup, "value_type": value_type}


add_routes(router, Noun("Tag", "/tags"), _filters)
