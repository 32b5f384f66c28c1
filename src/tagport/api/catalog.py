"""List, show, create, change and delete catalog objects over HTTP: the routes every catalog
noun's router is made of, so that projects, data sources, tags … answer alike.

Bodies are a kind's YAML document without `kind` (JSON), parsed by the catalog's own models so
that every problem comes back at once as a 422 naming its field. Answers are the same document
(never a secret) plus read-only facts (timestamps, estimates).
"""

# No `from __future__ import annotations`: FastAPI reads the route closures' annotations.

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tagport.api import problems
from tagport.api.deps import Caller
from tagport.api.schemas import PageOut, page_request
from tagport.domain.catalog import Spec
from tagport.domain.documents import KINDS, dump_spec, parse_spec
from tagport.errors import InvalidInput
from tagport.services import catalog
from tagport.services.permissions import label
from tagport.store.paging import PageRequest

Key = Annotated[str, Path(min_length=1, max_length=128, description="Name or code.")]
Search = Annotated[
    str | None, Query(max_length=64, description="Keyword in the name or code (any case).")
]
Document = Annotated[dict[str, Any], Body(description="The kind's document without `kind`.")]
Present = Callable[[Spec, dict[str, Any]], dict[str, Any]]
Vet = Callable[[Caller, Spec], None]
COMPONENTS = "#/components/schemas/"
FAILING_SERVER: dict[int | str, dict[str, Any]] = {
    502: problems.PROBLEM_RESPONSES[503] | {"description": problems.TITLES[502]}
}
"""Declared by routes that reach a database or the warehouse: 502 when it fails (503, already
declared everywhere, when it cannot be reached)."""
_SERVED: dict[str, type[Spec]] = {}
"""The kinds `add_routes` serves, whose document schemas `document_schemas` publishes."""


class CatalogPage(PageOut[dict[str, Any]]):
    """One page of catalog objects, each as its document plus read-only facts."""


def as_document(spec: Spec, details: dict[str, Any]) -> dict[str, Any]:
    """What a catalog object answers with: its document (no `kind`, no secret), then facts."""
    document = dump_spec(spec)
    document.pop("kind")
    return document | details


def no_filters() -> dict[str, Any]:
    return {}


def accept(caller: Caller, spec: Spec) -> None:
    """What most kinds check of a document beyond the catalog's checks: nothing."""


@dataclass(frozen=True)
class Noun:
    """One catalog kind served under `path` (`/datasources`)."""

    kind: str
    path: str
    present: Present = as_document
    vet: Vet = accept
    """Refuses what a document may say through the CLI but not over HTTP (server paths)."""

    @property
    def spec_type(self) -> type[Spec]:
        return KINDS[self.kind]

    def show(self, caller: Caller, key: str) -> dict[str, Any]:
        spec, details = catalog.show(caller.db, self.kind, key, actor=caller.actor)
        return self.present(spec, details)

    def parse(self, caller: Caller, body: dict[str, Any], key: str | None = None) -> Spec:
        """The spec `body` declares: the key from the path on update, the caller as owner by
        default on create."""
        field = self.spec_type.key_field
        where = f"{self.kind} {key or body.get(field) or ''}".strip()
        if key is not None:
            if body.get(field, key) != key:
                message = f"is {key} in the path (an object cannot be renamed)"
                raise InvalidInput.one(where, field, message)
            body = body | {field: key}
        elif "owner" in self.spec_type.model_fields and "owner" not in body:
            body = body | {"owner": caller.actor.login}
        spec = parse_spec({**body, "kind": self.kind}, where)
        self.vet(caller, spec)
        return spec


def _list_endpoint(noun: Noun, filters: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    def list_objects(
        caller: Caller,
        paging: Annotated[PageRequest, Depends(page_request)],
        chosen: Annotated[dict[str, Any], Depends(filters)],
        search: Search = None,
    ) -> CatalogPage:
        page = catalog.list_page(
            caller.db, caller.actor, noun.kind, paging, search=search, filters=chosen
        )
        return CatalogPage(
            items=[noun.present(spec, details) for spec, details in page.items],
            total=page.total,
            page=page.page,
            size=page.size,
            next_cursor=page.next_cursor,
        )

    return list_objects


def _item_endpoints(noun: Noun) -> list[tuple[Callable[..., Any], str, int, str]]:
    """The endpoints of one object: (endpoint, method, status, summary)."""
    name = label(noun.kind)

    def get_object(caller: Caller, key: Key) -> dict[str, Any]:
        return noun.show(caller, key)

    def create_object(caller: Caller, body: Document) -> dict[str, Any]:
        spec = noun.parse(caller, body)
        catalog.create(caller.db, caller.actor, spec)
        return noun.show(caller, spec.key)

    def update_object(caller: Caller, key: Key, body: Document) -> dict[str, Any]:
        catalog.update(caller.db, caller.actor, noun.parse(caller, body, key))
        return noun.show(caller, key)

    return [
        (get_object, "GET", 200, f"Show a {name}"),
        (create_object, "POST", 201, f"Create a {name}"),
        (update_object, "PUT", 200, f"Change a {name} (the whole document)"),
    ]


def add_routes(
    router: APIRouter, noun: Noun, filters: Callable[..., dict[str, Any]] = no_filters
) -> None:
    """Add list, get, create, update and delete of `noun` to `router`; `filters` is a
    dependency turning the list's query parameters into the service's filters."""
    name = label(noun.kind)
    snake = name.replace(" ", "_")
    item = f"{noun.path}/{{key}}"
    plural = noun.path.strip("/").replace("-", "_")
    router.add_api_route(
        noun.path, _list_endpoint(noun, filters), name=f"list_{plural}", summary=f"List {name}s"
    )
    _SERVED[noun.kind] = noun.spec_type
    body = {"$ref": f"{COMPONENTS}{noun.spec_type.__name__}"}
    for endpoint, method, status, summary in _item_endpoints(noun):
        router.add_api_route(
            item if method != "POST" else noun.path,
            endpoint,
            methods=[method],
            status_code=status,
            name=f"{endpoint.__name__.split('_')[0]}_{snake}",
            summary=summary,
            response_model=dict[str, Any],
            openapi_extra=None
            if method == "GET"
            else {"requestBody": {"content": {"application/json": {"schema": body}}}},
        )

    def delete_object(caller: Caller, key: Key) -> Response:
        catalog.delete(caller.db, caller.actor, noun.kind, key)
        return Response(status_code=204)

    router.add_api_route(
        item,
        delete_object,
        methods=["DELETE"],
        status_code=204,
        name=f"delete_{snake}",
        summary=f"Delete a {name} (refused while anything uses it)",
        response_class=Response,
    )


def document_schemas(app: FastAPI) -> None:
    """Publish every kind's document schema in the OpenAPI components, which the bodies of
    create and update refer to (FastAPI itself only sees a JSON object)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            kinds: list[tuple[type[BaseModel], Literal["validation"]]] = [
                (spec, "validation") for spec in _SERVED.values()
            ]
            _, defined = models_json_schema(kinds, ref_template=COMPONENTS + "{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model, definition in defined["$defs"].items():
                components.setdefault(model, definition)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
