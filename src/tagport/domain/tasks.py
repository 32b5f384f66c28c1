"""The offline service (task) configuration: what to export, where, and when.

A task keeps two of these: the draft being edited and the version that is published and runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from tagport.domain.catalog import (
    Code,
    Description,
    Format,
    Identifier,
    Login,
    Model,
    Spec,
    TaskName,
    field_error,
)
from tagport.domain.dates import PartitionFormat
from tagport.domain.naming import codename_field
from tagport.domain.states import ScheduleType

_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
DEFAULT_RUN_AT = "02:00"


class Schedule(Model):
    type: ScheduleType = ScheduleType.MANUAL
    at: str | None = None
    """Daily run time HH:MM in the configured time zone (recurring tasks only)."""
    first_bizdate: date | None = None
    """The first data timestamp the schedule runs for (recurring only; none: no limit)."""
    last_bizdate: date | None = None
    """The last data timestamp the schedule runs for (recurring only; none: no limit)."""

    @model_validator(mode="after")
    def _time(self) -> Schedule:
        if self.type is ScheduleType.MANUAL:
            for name in ("at", "first_bizdate", "last_bizdate"):
                if getattr(self, name) is not None:
                    raise field_error(name, f"a manual schedule has no {name.replace('_', ' ')}")
            return self
        if self.first_bizdate and self.last_bizdate and self.last_bizdate < self.first_bizdate:
            raise field_error(
                "last_bizdate", f"{self.last_bizdate} is before first_bizdate {self.first_bizdate}"
            )
        at = self.at or DEFAULT_RUN_AT
        if not _HHMM.fullmatch(at):
            raise field_error("at", f"must be a time HH:MM, not {at!r}")
        object.__setattr__(self, "at", at)
        return self

    def covers(self, bizdate: date) -> bool:
        """Whether the schedule runs for `bizdate` (inside its first and last, if set)."""
        return (self.first_bizdate is None or self.first_bizdate <= bizdate) and (
            self.last_bizdate is None or bizdate <= self.last_bizdate
        )

    def window_state(self, latest: date) -> str | None:
        """Why a recurring schedule creates no run now that `latest` is the newest data timestamp
        due (None when it runs)."""
        if self.first_bizdate is not None and latest < self.first_bizdate:
            return f"starts with data timestamp {self.first_bizdate}"
        if self.last_bizdate is not None and latest > self.last_bizdate:
            return f"ended with data timestamp {self.last_bizdate}"
        return None


class Output(StrEnum):
    VALUE = "value"
    CODENAME = "codename"


class TagOutput(Model):
    """One exported tag; a tag with a lookup table may export its value, code name or both."""

    tag: Code
    outputs: list[Output] = Field(default_factory=lambda: [Output.VALUE])

    @field_validator("outputs")
    @classmethod
    def _some(cls, value: list[Output]) -> list[Output]:
        if not value:
            raise ValueError("export at least one of value or codename")
        return [o for o in Output if o in value]

    def fields(self) -> list[str]:
        """The source fields this tag contributes, in output order."""
        names = {Output.VALUE: self.tag, Output.CODENAME: codename_field(self.tag)}
        return [names[o] for o in self.outputs]


class Target(Model):
    datasource: TaskName
    schema_: Identifier | None = Field(default=None, alias="schema")
    table: Identifier | None = None
    """Omitted: one-click creation proposes a name and records the one it created."""
    partition_field: Identifier | None = None
    partition_format: Format = PartitionFormat.YYYYMMDD

    @property
    def key(self) -> str:
        """`<data source>/<schema>/<table>`: the table a task writes, whatever the case."""
        return f"{self.datasource}/{self.schema_ or ''}/{self.table}".lower()


class FieldMapping(Model):
    source: str
    target: Identifier


class LoadingPolicy(StrEnum):
    OVERWRITE = "overwrite"


class OfflineServiceSpec(Spec):
    kind: ClassVar[str] = "OfflineService"

    name: TaskName
    application: TaskName
    owner: Login
    description: Description = None
    schedule: Schedule = Field(default_factory=Schedule)
    audience: Code
    sync_tags: bool = False
    tags: list[TagOutput] = Field(default_factory=list)
    target: Target
    loading_policy: LoadingPolicy = LoadingPolicy.OVERWRITE
    mapping: Literal["same_name"] | Annotated[list[FieldMapping], Field(min_length=1)] = "same_name"

    @model_validator(mode="after")
    def _consistent(self) -> OfflineServiceSpec:
        if self.tags and not self.sync_tags:
            raise field_error("tags", "tags are exported only with sync_tags: true")
        codes = [t.tag for t in self.tags]
        if len(set(codes)) != len(codes):
            raise field_error("tags", "each tag may be listed once")
        if isinstance(self.mapping, list):
            for side in ("source", "target"):
                names = [getattr(m, side).lower() for m in self.mapping]
                if len(set(names)) != len(names):
                    raise field_error("mapping", f"each {side} field may be mapped once")
        return self

    def source_fields(self, id_field: str) -> list[str]:
        """The fields the export produces: the entity ID, then each tag's outputs."""
        return [id_field, *(f for t in self.tags for f in t.fields())]

    def column_mapping(self, id_field: str, target_columns: list[str]) -> list[FieldMapping]:
        """Explicit mapping, or same-name (case-insensitive) against the target's columns."""
        if isinstance(self.mapping, list):
            # Sources are matched case-insensitively: name each as the export spells it.
            fields = {f.lower(): f for f in self.source_fields(id_field)}
            return [
                m.model_copy(update={"source": fields.get(m.source.lower(), m.source)})
                for m in self.mapping
            ]
        pairs = same_name_pairs(self.source_fields(id_field), target_columns)
        return [FieldMapping(source=f, target=c) for f, c in pairs.items()]


def same_name_pairs(fields: list[str], columns: list[str]) -> dict[str, str]:
    """Each field's column of the same name, case-insensitively, for the fields that have one
    (same-name mapping, in field order)."""
    by_lower = {c.lower(): c for c in columns}
    return {f: by_lower[f.lower()] for f in fields if f.lower() in by_lower}


def version_changes(published: Mapping[str, Any], draft: Mapping[str, Any]) -> list[str]:
    """What the draft changes in the published version, one `field: old -> new` line each
    (nested fields dotted: `target.table`), in field order."""
    lines: list[str] = []
    for key in dict.fromkeys([*published, *draft]):
        old, new = published.get(key), draft.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            lines += [f"{key}.{line}" for line in version_changes(old, new)]
        else:
            lines.append(f"{key}: {_shown(old)} -> {_shown(new)}")
    return lines


def _shown(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)
