"""What the console's task pages show beyond the list: why an action is refused, how far a
run is, and the two versions of a task field by field."""

from __future__ import annotations

import pytest

from tagport.domain.states import InstanceStatus
from tagport.services.task_views import (
    EXPORTING_PERCENT,
    LOADED_PERCENT,
    STARTED_PERCENT,
    Refusal,
    _latest_rows,
    _percent,
    document_rows,
    instance_refusals,
    refusals,
)


def test_an_action_refused_by_status_names_the_statuses_that_offer_it() -> None:
    refused = refusals("editing", "manual", ["details", "edit", "instances", "publish"])
    assert refused["delete"] == Refusal("status", allowed=["publish_failed", "offline"])
    assert refused["unpublish"] == Refusal("status", allowed=["published", "unpublish_failed"])
    assert refused["backfill"] == Refusal("schedule", only="recurring")  # not for manual tasks
    assert refused["run"] == Refusal("status", allowed=["published"])
    assert set(refused) == {"delete", "unpublish", "backfill", "run"}


def test_an_action_offered_by_status_but_not_allowed_is_refused_for_rights() -> None:
    refused = refusals("published", "recurring", ["details", "instances"])
    assert refused["edit"] == refused["publish"] == refused["backfill"] == Refusal("rights")
    assert refused["run"] == Refusal("schedule", only="manual")
    assert refused["delete"].rule == "status"


@pytest.mark.parametrize(
    ("status", "refused"),
    [
        ("waiting", {"rerun"}),
        ("running", {"rerun"}),
        ("succeeded", {"terminate"}),
        ("failed", {"terminate"}),
    ],
)
def test_rerun_once_ended_terminate_while_waiting_or_running(
    status: str, refused: set[str]
) -> None:
    found = instance_refusals(status)
    assert set(found) == refused
    assert all(r.rule == "instance_status" for r in found.values())
    if "rerun" in found:
        assert found["rerun"].allowed == ["succeeded", "failed"]


@pytest.mark.parametrize("status", [s.value for s in InstanceStatus])
def test_who_may_not_change_the_task_is_refused_what_the_status_offers(status: str) -> None:
    offered = set(instance_refusals(status)) ^ {"rerun", "terminate"}
    refused = instance_refusals(status, changeable=False)
    assert set(refused) == {"rerun", "terminate"}
    assert {a for a, r in refused.items() if r.rule == "rights"} == offered


def test_progress_counts_rows_against_the_last_success_and_never_claims_the_end() -> None:
    newest_first = [
        "12,000 rows written, 3,000 rows/s",
        "6,000 rows written, 3,000 rows/s",
        "exporting audience a for 2026-01-01 to wh:t",
    ]
    assert _latest_rows(newest_first) == (12_000, True)
    assert _latest_rows(newest_first[2:]) == (None, True)
    assert _latest_rows(["attempt 1 started by w"]) == (None, False)
    assert _percent(None, None, False) == STARTED_PERCENT
    assert _percent(None, 1000, True) == EXPORTING_PERCENT
    assert _percent(500, 1000, True) == 55
    assert _percent(5000, 1000, True) == LOADED_PERCENT  # more rows than last time
    assert _percent(500, None, True) == EXPORTING_PERCENT  # nothing to estimate against


def test_the_two_versions_field_by_field_with_the_differences_marked() -> None:
    published = {"name": "t", "target": {"datasource": "wh", "table": "a"}, "tags": []}
    draft = {
        "name": "t",
        "target": {"datasource": "wh", "table": "b"},
        "tags": [{"tag": "city", "outputs": ["value", "codename"]}],
        "sync_tags": True,
    }
    rows = {row.field: row for row in document_rows(published, draft)}
    assert not rows["name"].differs and not rows["target.datasource"].differs
    assert (rows["target.table"].published, rows["target.table"].draft) == ("a", "b")
    assert rows["target.table"].differs
    assert rows["tags"].published is None and rows["tags"].differs
    assert rows["tags"].draft == "tag: city, outputs: value; codename"
    assert rows["sync_tags"].draft == "true"
    never = document_rows(None, draft)
    assert not any(row.differs for row in never)  # nothing published: nothing to compare
