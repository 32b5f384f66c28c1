"""Config-as-code documents: `kind:` + fields, parsed into specs and dumped back."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from tagport.domain.catalog import (
    ApplicationSpec,
    AudienceGroupSpec,
    DataSourceSpec,
    EntitySpec,
    LookupTableSpec,
    ProjectSpec,
    SecuritySettingsSpec,
    Spec,
    TagSpec,
    UserSpec,
)
from tagport.domain.tasks import OfflineServiceSpec
from tagport.errors import InvalidInput, Problem

KINDS: dict[str, type[Spec]] = {
    spec.kind: spec
    for spec in (
        UserSpec,
        ProjectSpec,
        SecuritySettingsSpec,
        DataSourceSpec,
        EntitySpec,
        LookupTableSpec,
        TagSpec,
        AudienceGroupSpec,
        ApplicationSpec,
        OfflineServiceSpec,
    )
}
"""Every kind, in the order that lets each refer to those before it."""


def kind_named(name: str) -> type[Spec]:
    """Look a kind up case-insensitively (`datasource`, `DataSource`, `offlineservice`)."""
    for kind, spec in KINDS.items():
        if kind.lower() == name.replace("-", "").replace("_", "").lower():
            return spec
    raise InvalidInput.one("", "kind", f"unknown kind {name!r}; use one of {', '.join(KINDS)}")


def _field_path(loc: tuple[int | str, ...]) -> str:
    # Drop the tags pydantic puts in union locations (`AllOf`, `Condition`) and show
    # list indexes the way a person reads them: rule.all[1].tag
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part[:1].isupper() or part.startswith(("function-", "literal[", "list[")):
            continue
        else:
            path += f".{part}" if path else part
    return path


_FIELD_PREFIX = re.compile(r"([a-z_][a-z0-9_.\[\]]*): (.+)", re.S)


def problems_of(exc: ValidationError, where: str) -> list[Problem]:
    """One Problem per pydantic error, naming the field by its path."""
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        field = _field_path(error["loc"])
        named = _FIELD_PREFIX.fullmatch(message)
        if named:  # a cross-field rule that names its field (catalog.field_error)
            field = f"{field}.{named.group(1)}" if field else named.group(1)
            message = named.group(2)
        problems.append(Problem(where, field, message))
    return problems


def parse_spec(document: Any, where: str) -> Spec:
    """Parse one `kind:` document into its spec, or InvalidInput with every problem in it."""
    if not isinstance(document, dict):
        raise InvalidInput.one(where, "", "a document must be a mapping with a kind field")
    fields = dict(document)
    kind = fields.pop("kind", None)
    if not isinstance(kind, str):
        raise InvalidInput.one(where, "kind", f"missing; use one of {', '.join(KINDS)}")
    spec_type = KINDS.get(kind)
    if spec_type is None:
        raise InvalidInput.one(
            where, "kind", f"unknown kind {kind!r}; use one of {', '.join(KINDS)}"
        )
    try:
        return spec_type.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput(problems_of(exc, where)) from None


def dump_spec(spec: Spec) -> dict[str, Any]:
    """The document for `spec`: kind first, aliases as spelled in YAML, no secrets, no nulls."""
    body = spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"password"})
    return {"kind": spec.kind, **body}
