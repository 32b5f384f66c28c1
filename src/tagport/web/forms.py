"""What the catalog pages' forms share: the submitted fields, refusals placed beside the field
they concern, and list parameters read leniently (a hand-edited URL shows a page, not a 422)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from tagport.errors import InvalidInput

FORM_LEVEL = ""
"""The key of a refusal that concerns no field of the form: shown above it."""
_FIRST_PART = re.compile(r"^\$?\.?([A-Za-z_][A-Za-z0-9_]*)")


async def _form(request: Request) -> FormData:
    return await request.form()  # parsed once per request (the CSRF check read it already)


Form = Annotated[FormData, Depends(_form)]
"""The submitted form, for routes whose fields are not known in advance (rule rows)."""


def text(form: FormData, name: str) -> str:
    """A text field, stripped; '' when absent or an uploaded file."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def field_of(path: str, aliases: Mapping[str, str] | None = None) -> str:
    """The form field a problem's path concerns: its first part (`rule.all[1].value` ->
    `rule`), renamed by `aliases`; unknown paths concern the form as a whole."""
    if aliases and path in aliases:
        return aliases[path]
    match = _FIRST_PART.match(path)
    if not match:
        return FORM_LEVEL
    first = match.group(1)
    return aliases.get(first, first) if aliases else first


def field_errors(
    error: InvalidInput, fields: set[str], aliases: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each problem's message by the form field it concerns (one field may gather several);
    problems of fields the form does not show go to FORM_LEVEL with their path."""
    found: dict[str, list[str]] = {}
    for problem in error.problems:
        field = field_of(problem.field, aliases)
        if field not in fields:
            message = f"{problem.field}: {problem.message}" if problem.field else problem.message
            found.setdefault(FORM_LEVEL, []).append(message)
        else:
            found.setdefault(field, []).append(problem.message)
    return {field: "; ".join(messages) for field, messages in found.items()}


def page_number(value: str | None) -> int:
    """A list's page from the query string: 1 unless a positive whole number."""
    try:
        number = int(value or "1")
    except ValueError:
        return 1
    return number if number >= 1 else 1


def flag(value: str | None) -> bool:
    """A checkbox or URL switch: on for 1, true, on, yes."""
    return (value or "").lower() in ("1", "true", "on", "yes")
