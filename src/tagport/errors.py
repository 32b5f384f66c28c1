"""Every error tagport raises on purpose, under one root.

    TagportError                 root: anything tagport reports to a person
    ├── InvalidInput             bad input; carries one Problem per broken rule
    ├── NotFound                 a named object does not exist
    ├── Conflict                 the request clashes with the current state
    │   └── InvalidTransition    a status does not allow the action
    ├── PermissionDenied         the acting user may not do this
    ├── ConfigError              settings or the home directory are unusable
    └── ExternalError            a database, warehouse or file failed (translated at the edge)
        ├── TerminalError        retrying will not help (bad DDL, missing table, auth)
        └── TransientError       retrying may help (connection lost, lock timeout, deadlock)

Interfaces map these to exit codes and HTTP statuses in one place each; a driver exception never
crosses a module boundary untranslated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (object, field) and what (message)."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        loc = ": ".join(p for p in (self.where, self.field) if p)
        return f"{loc}: {self.message}" if loc else self.message


class TagportError(Exception):
    """Root of every error tagport reports."""


class InvalidInput(TagportError):
    """Input broke one or more rules; `problems` lists each one."""

    def __init__(self, problems: Iterable[Problem] | Problem) -> None:
        self.problems: list[Problem] = (
            [problems] if isinstance(problems, Problem) else list(problems)
        )
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def one(cls, where: str, field: str, message: str) -> InvalidInput:
        return cls(Problem(where, field, message))


class NotFound(TagportError):
    """A named object does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        super().__init__(f"{kind} {name!r} does not exist")


class Conflict(TagportError):
    """The request clashes with the current state (duplicate, in use, immutable field)."""


class InvalidTransition(Conflict):
    """The object's status does not allow the requested action."""


class PermissionDenied(TagportError):
    """The acting user lacks the role or permission."""


class ConfigError(TagportError):
    """Settings, the home directory or the secret key are unusable."""


class ExternalError(TagportError):
    """A database, warehouse or file operation failed; raised only by the edge that called it."""


class TerminalError(ExternalError):
    """Retrying will not help."""


class TransientError(ExternalError):
    """Retrying may help."""
