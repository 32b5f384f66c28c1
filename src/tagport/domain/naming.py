"""Naming rules shared by every interface: each is a regex and the sentence that explains it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NamingRule:
    """A pattern and the human sentence used when a value breaks it."""

    pattern: re.Pattern[str]
    explanation: str

    def check(self, value: str) -> str:
        """Return `value` if it obeys the rule, else raise ValueError with the explanation."""
        if not isinstance(value, str) or not self.pattern.fullmatch(value):
            raise ValueError(self.explanation)
        return value

    def matches(self, value: str) -> bool:
        return bool(self.pattern.fullmatch(value))


_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"

CODE = NamingRule(
    re.compile(r"[a-z][a-z0-9_]{0,63}"),
    "must start with a lower-case letter and contain only a-z, 0-9 and _ (at most 64 characters)",
)
"""Immutable codes: tags, entities, lookup tables, audience groups, projects."""

LOGIN = NamingRule(
    re.compile(r"[a-z][a-z0-9_.-]{0,63}"),
    "must start with a lower-case letter and contain only a-z, 0-9, _, . and - "
    "(at most 64 characters)",
)

TASK_NAME = NamingRule(
    re.compile(rf"[A-Za-z0-9_{_CJK}]{{1,64}}"),
    "must be 1-64 Chinese or English letters, digits or _",
)
"""Offline service (task) names; also application and data source names."""

IDENTIFIER = NamingRule(
    re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,127}"),
    "must be a plain identifier: a letter or _, then letters, digits, _ or $ (at most 128)",
)
"""Column, schema and table names in target databases (quoted when used)."""

ENV_VAR = NamingRule(
    re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
    "must be an environment variable name (letters, digits, _)",
)

DESCRIPTION_MAX = 1000
NAME_MAX = 128
LOOKUP_MAX_CODES = 10_000
CODENAME_SUFFIX = "_codename"


def codename_field(tag_code: str) -> str:
    """The export field that carries a coded tag's human-readable name."""
    return f"{tag_code}{CODENAME_SUFFIX}"
