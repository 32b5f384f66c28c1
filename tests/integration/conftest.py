"""The metadata store on both engines: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tagport.services import catalog, config_as_code
from tagport.services.permissions import Actor
from tagport.services.users import actor_for, init_operator
from tagport.store.db import Database

SECRET = b"test-secret-key"
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    schema: str = request.getfixturevalue("pg_schema")
    url: str = request.getfixturevalue("pg_url")
    return f"{url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, SECRET)
    database.upgrade()
    init_operator(database)
    yield database
    database.dispose()


@pytest.fixture
def operator(db: Database) -> Actor:
    return actor_for(db, None)


@pytest.fixture
def catalogued(db: Database, operator: Actor) -> Database:
    """The example catalog, applied."""
    documents, problems = config_as_code.read_documents([EXAMPLES])
    catalog.apply(db, operator, documents, problems=problems)
    return db
