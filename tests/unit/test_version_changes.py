"""What a draft changes in the published version of a task, as the task's details list it."""

from __future__ import annotations

from tagport.domain.tasks import version_changes


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
