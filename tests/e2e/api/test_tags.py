"""Entities, lookup tables and tags over HTTP: lists filtered in the database, the catalog's
checks as 422, and deletion refused while something uses the object."""

from __future__ import annotations

from tests.e2e.api.conftest import MakeClient

TAGS = "/api/v1/tags"


def test_tags_are_listed_by_entity_lookup_and_type_and_checked_on_save(
    client: MakeClient, catalogued: object
) -> None:
    bob = client("bob")  # a member of tag_prod
    coded = bob.get(TAGS, params={"lookup": "city_codes"}).json()
    assert [t["code"] for t in coded["items"]] == ["city"]
    assert bob.get(TAGS, params={"entity": "user"}).json()["total"] == 4
    assert bob.get(TAGS, params={"value_type": "boolean"}).json()["items"][0]["code"] == "is_vip"

    tag = {
        "code": "gender",
        "name": "Gender",
        "entity": "user",
        "value_type": "string",
        "source": {"table": "tag_prod.user_profile", "key": "user_id", "column": "gender"},
    }
    made = bob.post(TAGS, json=tag)
    assert made.status_code == 201, made.text
    assert made.json()["source"]["partition"] == "ds"
    bad = bob.put(f"{TAGS}/gender", json=tag | {"entity": "shop", "lookup": "nope"})
    assert bad.status_code == 422
    assert sorted(e["path"] for e in bad.json()["errors"]) == ["$.entity", "$.lookup"]
    assert client("carol").post(TAGS, json=tag | {"code": "g2"}).status_code == 403
    used = bob.delete(f"{TAGS}/city")
    assert used.status_code == 409
    assert "audience group hz_vip" in used.json()["detail"]
    assert bob.delete(f"{TAGS}/gender").status_code == 204


def test_entities_and_lookup_tables_round_trip(client: MakeClient, catalogued: object) -> None:
    bob = client("bob")  # a member of tag_prod
    entity = {"code": "shop", "name": "Shop", "project": "tag_prod", "id_field": "shop_id"}
    assert bob.post("/api/v1/entities", json=entity).json()["id_type"] == "string"
    listed = bob.get("/api/v1/entities", params={"project": "tag_prod", "sort": "-code"})
    assert [e["code"] for e in listed.json()["items"]] == ["user", "shop"]

    lookup = {"code": "levels", "name": "Level", "codes": {"1": "Bronze", "2": "Silver"}}
    assert bob.post("/api/v1/lookup-tables", json=lookup).status_code == 201
    changed = bob.put("/api/v1/lookup-tables/levels", json=lookup | {"codes": {"3": "Gold"}})
    assert changed.json()["codes"] == {"3": "Gold"}
    found = bob.get("/api/v1/lookup-tables", params={"search": "lev"}).json()
    assert [t["code"] for t in found["items"]] == ["levels"]
    empty = bob.put("/api/v1/lookup-tables/levels", json=lookup | {"codes": {}})
    assert empty.status_code == 422
