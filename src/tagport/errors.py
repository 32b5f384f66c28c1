"""Every error tagport raises on purpose, under one root.

    TagportError                 root: anything tagport reports to a person
    ├── InvalidInput             bad input; carries one Problem per broken rule
    ├── NotFound                 a named object does not exist
    ├── Conflict                 the request clashes with the current state
    │   └── InvalidTransition    a status does not allow the action
    ├── PermissionDenied         the acting user may not do this
    │   └── Unauthenticated      no valid login, token or session at all
    ├── ConfigError              settings or the home directory are unusable
    └── ExternalError            a database, warehouse or file failed (translated at the edge)
        ├── TerminalError        retrying will not help (bad DDL, missing table, auth)
        └── TransientError       retrying may help (connection lost, lock timeout, deadlock)

`EXIT_CODES` below is the one table of process exit codes (the README and docs/errors.md show it);
HTTP statuses are mapped in one place too (`tagport.api.problems`). Each error has a stable dotted
`code` (`not_found`, `permission.expired` …) that the API reports as its problem type: the class
gives a default, a raise site may name a finer one with `with_code`. A driver exception never
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
    """Root of every error tagport reports.

    `problems` lists the individual problems when one error gathers several (a rejected batch).
    """

    problems: list[Problem]
    code: str = "error"

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.problems = []

    def with_code(self, code: str) -> TagportError:
        """This error, named by a finer stable code (`permission.expired`); returns itself."""
        self.code = code
        return self

    @classmethod
    def gathering(cls, problems: list[Problem]) -> TagportError:
        """An error of this class reporting every problem in `problems`."""
        error = cls.__new__(cls)  # bypasses subclass signatures: the problems say it all
        Exception.__init__(error, "\n".join(str(p) for p in problems))
        error.problems = list(problems)
        return error


class InvalidInput(TagportError):
    """Input broke one or more rules; `problems` lists each one."""

    code = "invalid_input"

    def __init__(self, problems: Iterable[Problem] | Problem) -> None:
        self.problems: list[Problem] = (
            [problems] if isinstance(problems, Problem) else list(problems)
        )
        Exception.__init__(self, "\n".join(str(p) for p in self.problems))

    @classmethod
    def one(cls, where: str, field: str, message: str) -> InvalidInput:
        return cls(Problem(where, field, message))


class NotFound(TagportError):
    """A named object does not exist."""

    code = "not_found"

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        super().__init__(f"{kind} {name!r} does not exist")


class Conflict(TagportError):
    """The request clashes with the current state (duplicate, in use, immutable field)."""

    code = "conflict"


class InvalidTransition(Conflict):
    """The object's status does not allow the requested action."""

    code = "action_not_allowed"


class PermissionDenied(TagportError):
    """The acting user lacks the role or permission."""

    code = "permission.denied"


class Unauthenticated(PermissionDenied):
    """No valid login, token or session: who is asking is unknown."""

    code = "auth.required"


class ConfigError(TagportError):
    """Settings, the home directory or the secret key are unusable."""

    code = "config"


class ExternalError(TagportError):
    """A database, warehouse or file operation failed; raised only by the edge that called it."""

    code = "external"


class TerminalError(ExternalError):
    """Retrying will not help."""

    code = "external.terminal"


class TransientError(ExternalError):
    """Retrying may help."""

    code = "external.transient"


EXIT_CODES: list[tuple[type[TagportError], int]] = [
    (InvalidInput, 3),
    (NotFound, 4),
    (Conflict, 5),
    (PermissionDenied, 6),
    (ConfigError, 7),
    (TransientError, 9),
    (ExternalError, 8),
    (TagportError, 1),
]
"""How each error ends a process, most specific class first: the one place errors become exit
codes. 0 is success, 2 a command line that does not parse (unknown command or option), and
`INTERNAL_ERROR_EXIT` a bug."""

INTERNAL_ERROR_EXIT = 70
"""A bug (an exception that is not a TagportError): sysexits' EX_SOFTWARE."""

SEVERITY: list[type[TagportError]] = [PermissionDenied, Conflict, NotFound, InvalidInput]
"""When a batch is refused for several reasons, the first of these that occurred names it."""


def exit_code(error: TagportError) -> int:
    """The exit code a process ends with after `error`."""
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def gathered(errors: Iterable[TagportError]) -> TagportError:
    """One error reporting every problem of `errors`: of their class when they share one, else
    of the most serious class among them."""
    collected = list(errors)
    problems = [p for e in collected for p in (e.problems or [Problem("", "", str(e))])]
    classes = {type(e) for e in collected}
    kind = (
        classes.pop()
        if len(classes) == 1
        else next((k for k in SEVERITY if any(isinstance(e, k) for e in collected)), InvalidInput)
    )
    return kind.gathering(problems)
