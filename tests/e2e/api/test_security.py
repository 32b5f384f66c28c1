"""Cross-project safe mode over HTTP: the global setting and the projects overriding it."""

from __future__ import annotations

from tests.e2e.api.conftest import MakeClient

SECURITY = "/api/v1/security"


def test_safe_mode_is_set_globally_and_per_project_by_super_admins(
    client: MakeClient, catalogued: object
) -> None:
    admin, bob = client("operator"), client("bob")
    assert bob.get(SECURITY).json() == {"cross_project_safe_mode": True, "projects": {}}
    off = admin.put(SECURITY, json={"cross_project_safe_mode": False})
    assert off.json() == {"cross_project_safe_mode": False, "projects": {}}
    own = admin.put(f"{SECURITY}/projects/crm_export", json={"cross_project_safe_mode": True})
    assert own.json() == {"cross_project_safe_mode": False, "projects": {"crm_export": True}}
    refused = bob.put(SECURITY, json={"cross_project_safe_mode": True})
    assert refused.status_code == 403
    assert "only a super admin may" in refused.json()["detail"]
    assert admin.put(f"{SECURITY}/projects/ghost", json={"cross_project_safe_mode": True}).json()[
        "errors"
    ] == [
        {
            "path": "$.project",
            "message": "SecuritySettings ghost: project: project 'ghost' does not exist",
        }
    ]
    back = admin.delete(f"{SECURITY}/projects/crm_export")
    assert back.json() == {"cross_project_safe_mode": False, "projects": {}}
    assert admin.delete(f"{SECURITY}/projects/crm_export").status_code == 404
