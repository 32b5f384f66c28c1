"""The console form's values <-> the task document: what is posted becomes the document the
services take, and each refusal finds the control it concerns."""

from __future__ import annotations

from starlette.datastructures import FormData

from tagport.errors import Problem
from tagport.web.task_form import TaskForm, control_of, errors_by_control

POSTED = FormData(
    [
        ("name", " vip_daily "),
        ("application", "marketing"),
        ("owner", "bob"),
        ("schedule_type", "recurring"),
        ("schedule_at", "04:30"),
        ("audience", "hz_vip"),
        ("sync_tags", "true"),
        ("tag_rows", "city"),
        ("tag_rows", "age"),
        ("tag_rows", "is_vip"),
        ("tag", "city"),
        ("tag", "age"),
        ("outputs.city", "codename"),
        ("outputs.age", "value"),
        ("datasource", "crm_pg"),
        ("schema", "public"),
        ("table", "hz_vip"),
        ("partition_format", "yyyy-MM-dd"),
        ("map.user_id", "user_id"),
        ("map.city_codename", "city_name"),
        ("map.age", ""),
    ]
)


def test_a_posted_form_becomes_the_task_document() -> None:
    form = TaskForm.posted(POSTED)
    assert form.outputs_of("is_vip") == []  # listed, nothing ticked: stays so
    assert form.outputs_of("gender") == ["value"]  # not listed yet: its value, by default
    assert form.document() == {
        "name": "vip_daily",
        "application": "marketing",
        "owner": "bob",
        "schedule": {
            "type": "recurring",
            "at": "04:30",
            "first_bizdate": None,
            "last_bizdate": None,
        },
        "audience": "hz_vip",
        "sync_tags": True,
        "tags": [{"tag": "city", "outputs": ["codename"]}, {"tag": "age", "outputs": ["value"]}],
        "target": {
            "datasource": "crm_pg",
            "schema": "public",
            "table": "hz_vip",
            "partition_format": "yyyy-MM-dd",
        },
        "loading_policy": "overwrite",
        "mapping": [
            {"source": "user_id", "target": "user_id"},
            {"source": "city_codename", "target": "city_name"},
        ],
    }


def test_an_empty_form_leaves_out_what_is_required_and_maps_by_same_name() -> None:
    document = TaskForm().document()
    assert document == {
        "schedule": {"type": "manual"},
        "sync_tags": False,
        "tags": [],
        "target": {"partition_format": "yyyyMMdd"},
        "loading_policy": "overwrite",
        "mapping": "same_name",
    }


def test_a_saved_document_shows_in_the_form_as_it_was() -> None:
    document = TaskForm.posted(POSTED).document()
    again = TaskForm.of_document(document, "postgresql", "etag-1")
    assert again.document() == document
    assert (again.datasource_type, again.etag, again.partition_for) == (
        "postgresql",
        "etag-1",
        "hz_vip",
    )


def test_each_refusal_is_shown_at_its_control() -> None:
    document = TaskForm.posted(POSTED).document()
    assert control_of("tags[0].outputs", document) == "tag.city"
    assert control_of("mapping[1].source", document) == "map.city_codename"
    assert control_of("target.table", document) == "table"
    assert control_of("schedule.at", document) == "schedule_at"
    assert control_of("owner", document) == "owner"
    assert control_of("kind", document) == ""
    errors = errors_by_control(
        [
            Problem("offline service", "audience", "Field required"),
            Problem("offline service", "target.datasource", "Field required"),
            Problem("offline service", "target", "data source crm_x does not exist"),
            Problem("offline service", "kind", "odd"),
        ],
        document,
    )
    assert errors == {
        "audience": "Field required",
        "datasource": "Field required; data source crm_x does not exist",
        "": "offline service: kind: odd",
    }
