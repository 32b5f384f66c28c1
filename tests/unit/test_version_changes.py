"""Pure rules of a task: what a draft changes in the published version, how its mapping reads."""

from __future__ import annotations

from tagport.domain.tasks import OfflineServiceSpec, version_changes


def test_each_changed_field_is_a_line_dotted_in_field_order_and_readable() -> None:
    published = {
        "name": "t",
        "description": None,
        "schedule": {"type": "manual"},
        "target": {"schema": "s", "table": "a"},
        "tags": [{"tag": "城市"}],
    }
    draft = {
        "name": "t",
        "description": "每日会员",
        "schedule": None,
        "target": {"schema": "s", "table": "b"},
        "tags": [{"tag": "城市"}],
        "sync_tags": True,
    }
    assert version_changes(published, draft) == [
        'description: (none) -> "每日会员"',
        'schedule: {"type": "manual"} -> (none)',
        'target.table: "a" -> "b"',
        "sync_tags: (none) -> true",
    ]
    assert version_changes(draft, draft) == []


def test_an_explicit_mapping_names_each_source_as_the_export_spells_it() -> None:
    """Sources are matched case-insensitively; the mapping keeps the export's spelling (the
    load reads columns by that name) and its own targets; an unknown source stays as written."""
    spec = OfflineServiceSpec.model_validate(
        {
            "name": "t",
            "application": "a",
            "owner": "alice",
            "audience": "hz_vip",
            "sync_tags": True,
            "tags": [{"tag": "city", "outputs": ["value", "codename"]}],
            "target": {"datasource": "crm_pg"},
            "mapping": [
                {"source": "USER_ID", "target": "Uid"},
                {"source": "City_Codename", "target": "city_name"},
                {"source": "nickname", "target": "nick"},
            ],
        }
    )
    assert [(m.source, m.target) for m in spec.column_mapping("user_id", [])] == [
        ("user_id", "Uid"),
        ("city_codename", "city_name"),
        ("nickname", "nick"),  # no such field: kept as written, for the check to name it
    ]
    assert spec.tags[0].fields() == ["city", "city_codename"]
