"""The offline service form's values: read from a posted form or a task's document, turned into
the document the task services take, and the services' refusals put back at their fields.

Every value is kept as the user typed it (strings), so that a refused save shows the form
exactly as it was sent, with each reason beside the control it concerns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from tagport.domain.tasks import Output
from tagport.errors import Problem

FIRST_OUTPUTS = [Output.VALUE.value]
"""What a tag exports when it is first chosen: its value."""


def _text(form: FormData, key: str, default: str = "") -> str:
    value = form.get(key, default)
    return value.strip() if isinstance(value, str) else default


@dataclass
class TaskForm:
    """The form's state: one attribute per control (tags and mapping: one per row)."""

    name: str = ""
    application: str = ""
    owner: str = ""
    description: str = ""
    schedule_type: str = "manual"
    schedule_at: str = ""
    first_bizdate: str = ""
    last_bizdate: str = ""
    audience: str = ""
    sync_tags: bool = False
    chosen_tags: list[str] = field(default_factory=list)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    """Each listed tag's ticked outputs (also of tags not chosen: ticks survive a re-render)."""
    datasource_type: str = ""
    datasource: str = ""
    schema: str = ""
    table: str = ""
    table_search: str = ""
    partition_field: str = ""
    partition_for: str = ""
    """The table the partition field was chosen for: another table gets its own default."""
    partition_format: str = "yyyyMMdd"
    loading_policy: str = "overwrite"
    mapping: dict[str, str] = field(default_factory=dict)
    """Source field -> target column chosen in the grid ('' or absent: not mapped explicitly)."""
    owner_search: str = ""
    etag: str = ""

    @classmethod
    def posted(cls, form: FormData) -> TaskForm:
        """The form as the browser sent it."""
        rows = [str(code) for code in form.getlist("tag_rows")]
        outputs = {code: [str(o) for o in form.getlist(f"outputs.{code}")] for code in rows}
        mapping = {
            str(key).removeprefix("map."): str(value)
            for key, value in form.multi_items()
            if str(key).startswith("map.") and value
        }
        return cls(
            name=_text(form, "name"),
            application=_text(form, "application"),
            owner=_text(form, "owner"),
            description=str(form.get("description") or ""),
            schedule_type=_text(form, "schedule_type", "manual"),
            schedule_at=_text(form, "schedule_at"),
            first_bizdate=_text(form, "first_bizdate"),
            last_bizdate=_text(form, "last_bizdate"),
            audience=_text(form, "audience"),
            sync_tags=_text(form, "sync_tags") == "true",
            chosen_tags=[str(code) for code in form.getlist("tag")],
            outputs=outputs,
            datasource_type=_text(form, "datasource_type"),
            datasource=_text(form, "datasource"),
            schema=_text(form, "schema"),
            table=_text(form, "table"),
            table_search=_text(form, "table_search"),
            partition_field=_text(form, "partition_field"),
            partition_for=_text(form, "partition_for"),
            partition_format=_text(form, "partition_format", "yyyyMMdd"),
            loading_policy=_text(form, "loading_policy", "overwrite"),
            mapping=mapping,
            owner_search=_text(form, "owner_search"),
            etag=_text(form, "etag"),
        )

    @classmethod
    def of_document(cls, draft: Mapping[str, Any], datasource_type: str, etag: str) -> TaskForm:
        """The form showing a saved task's draft."""
        schedule = draft.get("schedule") or {}
        target = draft.get("target") or {}
        tags = draft.get("tags") or []
        mapping = draft.get("mapping")
        table = target.get("table") or ""
        return cls(
            name=draft["name"],
            application=draft.get("application", ""),
            owner=draft.get("owner", ""),
            description=draft.get("description") or "",
            schedule_type=schedule.get("type", "manual"),
            schedule_at=schedule.get("at") or "",
            first_bizdate=schedule.get("first_bizdate") or "",
            last_bizdate=schedule.get("last_bizdate") or "",
            audience=draft.get("audience", ""),
            sync_tags=bool(draft.get("sync_tags")),
            chosen_tags=[t["tag"] for t in tags],
            outputs={t["tag"]: list(t.get("outputs") or FIRST_OUTPUTS) for t in tags},
            datasource_type=datasource_type,
            datasource=target.get("datasource", ""),
            schema=target.get("schema") or "",
            table=table,
            partition_field=target.get("partition_field") or "",
            partition_for=table,
            partition_format=target.get("partition_format") or "yyyyMMdd",
            loading_policy=draft.get("loading_policy") or "overwrite",
            mapping=(
                {m["source"]: m["target"] for m in mapping} if isinstance(mapping, list) else {}
            ),
            etag=etag,
        )

    def outputs_of(self, code: str) -> list[str]:
        """A listed tag's ticked outputs; a tag listed for the first time exports its value."""
        return self.outputs.get(code, FIRST_OUTPUTS)

    def exported_tags(self) -> list[str]:
        """The tags the task exports: the chosen ones, when tags are synchronised."""
        return list(dict.fromkeys(self.chosen_tags)) if self.sync_tags else []

    def document(self, sources: list[str] | None = None) -> dict[str, Any]:
        """The task document the services take; empty required fields are left out (so that
        the refusal says "required"); the mapping keeps only the fields in `sources`."""
        schedule: dict[str, Any] = {"type": self.schedule_type}
        if self.schedule_type == "recurring":
            schedule |= {
                "at": self.schedule_at or None,
                "first_bizdate": self.first_bizdate or None,
                "last_bizdate": self.last_bizdate or None,
            }
        target = {
            "datasource": self.datasource or None,
            "schema": self.schema or None,
            "table": self.table or None,
            "partition_field": self.partition_field or None,
            "partition_format": self.partition_format,
        }
        mapped = [
            {"source": source, "target": column}
            for source, column in self.mapping.items()
            if column and (sources is None or source in sources)
        ]
        document: dict[str, Any] = {
            "name": self.name,
            "application": self.application,
            "owner": self.owner,
            "description": self.description or None,
            "schedule": schedule,
            "audience": self.audience,
            "sync_tags": self.sync_tags,
            "tags": [{"tag": c, "outputs": self.outputs_of(c)} for c in self.exported_tags()],
            "target": {k: v for k, v in target.items() if v is not None},
            "loading_policy": self.loading_policy,
            "mapping": mapped or "same_name",
        }
        return {k: v for k, v in document.items() if v not in ("", None)}


_INDEXED = re.compile(r"(tags|mapping)\[(\d+)\](?:\.(\w+))?")
FIELDS = {
    "schedule": "schedule_type",
    "schedule.type": "schedule_type",
    "schedule.at": "schedule_at",
    "schedule.first_bizdate": "first_bizdate",
    "schedule.last_bizdate": "last_bizdate",
    "target": "datasource",
    "target.datasource": "datasource",
    "target.schema": "schema",
    "target.table": "table",
    "target.partition_field": "partition_field",
    "target.partition_format": "partition_format",
    "statement": "sql",
}
"""A document field (as the services name it in a refusal) -> the form control showing it."""


def control_of(problem_field: str, document: Mapping[str, Any]) -> str:
    """The form control a refusal of `problem_field` concerns ('' when none: the whole form).

    `tags[1].outputs` is the second exported tag's row, `mapping[0].source` the grid row of the
    first mapped field."""
    indexed = _INDEXED.fullmatch(problem_field)
    if indexed:
        kind, index = indexed.group(1), int(indexed.group(2))
        items = document.get(kind)
        if isinstance(items, list) and index < len(items):
            item = items[index]
            return f"tag.{item['tag']}" if kind == "tags" else f"map.{item['source']}"
        return kind
    if problem_field in FIELDS:
        return FIELDS[problem_field]
    top = problem_field.split(".")[0].split("[")[0]
    known = {"name", "application", "owner", "description", "audience", "sync_tags", "tags"}
    return top if top in known | {"loading_policy", "mapping"} else ""


def errors_by_control(problems: list[Problem], document: Mapping[str, Any]) -> dict[str, str]:
    """Each control's refusal (several problems at one control are joined)."""
    errors: dict[str, str] = {}
    for problem in problems:
        control = control_of(problem.field, document)
        shown = problem.message if control else str(problem)
        errors[control] = f"{errors[control]}; {shown}" if control in errors else shown
    return errors
