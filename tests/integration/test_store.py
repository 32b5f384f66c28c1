"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tagport.store.db import Database
from tagport.store.tables import Base


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_every_table_exists_and_upgrade_is_idempotent(db: Database) -> None:
    assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())
    assert db.upgrade() is False
    assert db.current_revision() == db.head_revision()
