"""Fixtures shared by every test: a fresh tagport home, and the real database servers.

A test that needs PostgreSQL or MariaDB skips when the server does not answer — unless `CI` or
`TAGPORT_STRICT` is set, in which case it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tagport.store import crypto
from tagport.targets.base import ConnectionParams
from tests.threads import Threads

PG_URL = os.environ.get("TAGPORT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL = {
    "host": os.environ.get("TAGPORT_TEST_MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("TAGPORT_TEST_MYSQL_PORT", "3306")),
    "user": os.environ.get("TAGPORT_TEST_MYSQL_USER", "root"),
    "password": os.environ.get("TAGPORT_TEST_MYSQL_PASSWORD", ""),
    "database": os.environ.get("TAGPORT_TEST_MYSQL_DATABASE", "test"),
}
STRICT = bool(os.environ.get("CI") or os.environ.get("TAGPORT_STRICT"))


SERVERS = {
    "postgres": ("pg_url", "pg_schema", "pg_target", "postgresql"),
    "mysql": ("mysql_params", "mysql_db", "mysql_target", "mysql"),
}
"""A test using a fixture (or a parameter value) starting with one of these names needs that
server: it gets the marker of the same name."""


PG = "postgresql"
"""The `db_url` parameter of a test run once on each metadata store: this one is marked
`pg_metadata` too (its SQLite twin runs in `make test-fast`, this one in `make test`)."""


BROWSER_FIXTURES = {"browser", "context", "page", "zh_page", "journey"}
"""A test using one of these drives chromium: it gets the `browser` marker (a `pytestmark` in
a conftest marks nothing)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the servers they use, so `-m "not mysql"` selects without a list to keep.

    Parameters count too: `db_url` "postgresql", a target fixture named by `fixture`, a crash
    test's `kind` "mysql-non-atomic"."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            used |= {str(v) for v in callspec.params.values()}
        for marker, prefixes in SERVERS.items():
            if any(name.startswith(prefixes) for name in used):
                item.add_marker(getattr(pytest.mark, marker))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if "pg_store" in used or (callspec is not None and callspec.params.get("db_url") == PG):
            item.add_marker(pytest.mark.pg_metadata)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the API fuzz uncollected when `slow` tests are left out (`make test-fast`,
    mutmut): schemathesis builds its coverage cases while the module is collected, seconds of
    CPU in every test process, for tests that would then be deselected."""
    if collection_path.name == FUZZ_MODULE and "not slow" in (config.option.markexpr or ""):
        return True
    return None


FUZZ_MODULE = "test_openapi_fuzz.py"


CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id at a low cost: a console test hashes and checks a password or two per user, and
the real cost (64 MiB, three passes: 0.1 s idle, up to 1 s on a busy machine) buys a test
nothing. The production parameters are checked in `tests/unit/test_crypto.py`."""


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes() -> Iterator[PasswordHasher]:
    """Passwords hashed cheaply in the test processes (Django's advice for tests, too); yields
    the real hasher. Processes a test starts (`tagport serve`) keep the real cost."""
    real = crypto._HASHER
    crypto._HASHER = CHEAP_HASHER
    yield real
    crypto._HASHER = real


def server_missing(what: str, error: Exception) -> None:
    """Skip for a missing server on a laptop; fail under CI, where every server must answer."""
    message = f"{what} is not reachable: {error}"
    if STRICT:
        pytest.fail(message + " (CI/TAGPORT_STRICT set: servers are required)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the PostgreSQL server (database `test`)."""
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        server_missing("PostgreSQL at " + PG_URL, exc)
    return PG_URL


@pytest.fixture(scope="session")
def mysql_params() -> dict[str, object]:
    """Connection parameters of the MariaDB/MySQL server (database `test`)."""
    import pymysql

    try:
        pymysql.connect(connect_timeout=3, **MYSQL).close()  # type: ignore[arg-type]
    except pymysql.MySQLError as exc:
        server_missing(f"MariaDB at {MYSQL['host']}:{MYSQL['port']}", exc)
    return dict(MYSQL)


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards, so tests never see each other's tables."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
def mysql_db(mysql_params: dict[str, object]) -> Iterator[ConnectionParams]:
    """A fresh MariaDB database of this test's own, dropped afterwards."""
    import pymysql

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(**mysql_params, autocommit=True)  # type: ignore[arg-type]
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield ConnectionParams(
        host=str(mysql_params["host"]),
        port=int(str(mysql_params["port"])),
        database=name,
        username=str(mysql_params["user"]),
        password=str(mysql_params["password"]),
    )
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")
    admin.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TAGPORT_HOME; the environment points at it for the test's duration."""
    path = tmp_path / "home"
    monkeypatch.setenv("TAGPORT_HOME", str(path))
    for name in ("TAGPORT_DATABASE_URL", "TAGPORT_SECRET_KEY", "TAGPORT_USER", "TAGPORT_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def threads() -> Iterator[Threads]:
    """Threads the test starts; after the test every one must have returned without raising."""
    watched = Threads()
    yield watched
    watched.join()
