"""`/api/v1/lookup-tables`: code value -> code name dictionaries of coded tags."""

from fastapi import APIRouter

from tagport.api.catalog import Noun, add_routes

router = APIRouter(tags=["lookup tables"])
add_routes(router, Noun("LookupTable", "/lookup-tables"))
