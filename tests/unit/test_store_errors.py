"""SQLAlchemy errors become tagport errors at the store's edge, without SQL, values or secrets."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    NoResultFound,
    OperationalError,
    ProgrammingError,
)

from tagport.errors import Conflict, TagportError, TerminalError, TransientError
from tagport.store.db import translate_store

SQL = "UPDATE data_sources SET password = %(password)s WHERE id = %(id)s"
PARAMS = {"password": "gAAAA-encrypted-secret", "id": 1}


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (
            OperationalError(SQL, PARAMS, Exception("server closed the connection\nunexpectedly")),
            TransientError,
            "metadata database unavailable (retry may help): server closed the connection",
        ),
        (
            InterfaceError(SQL, PARAMS, Exception("the connection is closed")),
            TransientError,
            "metadata database unavailable (retry may help): the connection is closed",
        ),
        (
            DBAPIError(SQL, PARAMS, Exception("SSL SYSCALL error"), connection_invalidated=True),
            TransientError,
            "metadata database unavailable (retry may help): SSL SYSCALL error",
        ),
        (
            IntegrityError(SQL, PARAMS, Exception('duplicate key value violates "uq_login"')),
            Conflict,
            'metadata database refused the change: duplicate key value violates "uq_login"',
        ),
        (
            ProgrammingError(SQL, PARAMS, Exception('column "x" does not exist')),
            TerminalError,
            'metadata database: column "x" does not exist',
        ),
        (
            NoResultFound("No row was found when one was required"),
            TerminalError,
            "metadata database: No row was found when one was required",
        ),
    ],
)
def test_each_kind_of_failure_has_its_tagport_error(
    error: Exception, kind: type[TagportError], message: str
) -> None:
    translated = translate_store(error)  # type: ignore[arg-type]
    assert type(translated) is kind
    assert str(translated) == message
    assert "encrypted-secret" not in str(translated) and "UPDATE" not in str(translated)


def test_the_url_password_never_shows() -> None:
    orig = Exception('connection to "postgres:hunter2@db" failed: password authentication failed')
    translated = translate_store(OperationalError("SELECT 1", {}, orig), password="hunter2")
    assert "hunter2" not in str(translated) and "***" in str(translated)
