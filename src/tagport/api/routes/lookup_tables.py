"""`/api/v1/lookup-tables`: code value -> code name dictionaries of coded tags."""

from tagport.api.catalog import Noun, add_routes
from tagport.api.routing import Router

router = Router(tags=["lookup tables"])
add_routes(router, Noun("LookupTable", "/lookup-tables"))
