"""Applications over HTTP: created by super admins, their admins and members managed by login."""

from __future__ import annotations

from tests.e2e.api.conftest import MakeClient

APPS = "/api/v1/applications"


def test_an_application_admin_manages_its_members_and_a_member_may_not(
    client: MakeClient, catalogued: object
) -> None:
    admin, bob, carol = client("operator"), client("bob"), client("carol")
    made = admin.post(
        APPS, json={"name": "crm", "project": "tag_prod", "services": ["audience_offline"]}
    )
    assert made.status_code == 201, made.text
    assert (made.json()["admins"], made.json()["members"]) == ([], [])
    promoted = admin.post(f"{APPS}/crm/members", json={"login": "bob", "role": "admin"})
    assert promoted.json()["admins"] == ["bob"]

    joined = bob.post(f"{APPS}/crm/members", json={"login": "carol"})
    assert joined.status_code == 200, joined.text
    assert (joined.json()["admins"], joined.json()["members"]) == (["bob"], ["carol"])
    refused = carol.post(f"{APPS}/crm/members", json={"login": "carol", "role": "admin"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "carol may not change application crm: only an admin of its application "
        "or a super admin may"
    )
    assert carol.delete(f"{APPS}/crm").status_code == 403
    assert bob.get(f"{APPS}/crm").json()["members"] == ["carol"]

    mine = carol.get(APPS, params={"member": "carol"}).json()
    assert [a["name"] for a in mine["items"]] == ["crm"]
    assert bob.delete(f"{APPS}/crm/members/carol").json()["members"] == []
    assert carol.get(APPS, params={"member": "carol"}).json()["total"] == 0
    assert carol.get(APPS, params={"project": "tag_prod"}).json()["total"] == 2
    assert admin.post(APPS, json={"name": "x", "project": "crm_export"}).status_code == 422
    assert bob.post(APPS, json={"name": "y", "project": "tag_prod"}).status_code == 403
