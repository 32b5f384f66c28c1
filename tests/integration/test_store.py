"""The metadata store on SQLite and PostgreSQL: migrations build exactly the schema the models
describe, and SQLAlchemy errors leave a unit of work as tagport errors."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from tagport.errors import ConfigError, Conflict, TransientError
from tagport.store.db import SCHEMA_REVISION, Database
from tagport.store.tables import Base, User


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_every_table_exists_and_upgrade_is_idempotent(db: Database) -> None:
    assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())
    assert db.upgrade() is False
    assert db.current_revision() == db.head_revision() == SCHEMA_REVISION


def _add_operator_again(db: Database, *, flush_by_query: bool) -> None:
    with db.uow() as uow:
        uow.session.add(User(login="operator", display_name="the same login again"))
        if flush_by_query:
            uow.session.scalars(select(User)).all()
        uow.commit()


def test_an_integrity_error_leaves_a_unit_of_work_as_a_conflict(db: Database) -> None:
    with pytest.raises(Conflict, match="metadata database refused the change"):
        _add_operator_again(db, flush_by_query=False)
    with pytest.raises(Conflict, match="metadata database refused the change"):
        _add_operator_again(db, flush_by_query=True)
    with db.uow() as uow:  # the database is fine afterwards
        assert [u.login for u in uow.session.scalars(select(User))] == ["operator"]


def _select_one(db: Database) -> None:
    with db.uow() as uow:
        uow.session.execute(text("SELECT 1"))


def test_an_unreachable_metadata_database_is_a_transient_error_without_its_password() -> None:
    db = Database("postgresql://postgres:s3cret@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(TransientError, match="metadata database unavailable") as raised:
            _select_one(db)
        assert "s3cret" not in str(raised.value)
    finally:
        db.dispose()


def test_a_home_with_data_upgrades_from_the_first_revision(db_url: str) -> None:
    """Every migration applies to a populated database (foreign keys on), not only to an empty
    one: a home made by an older tagport must open with a newer one."""
    from alembic import command

    from tagport.services import catalog, config_as_code
    from tagport.services.users import actor_for, init_operator
    from tagport.store.db import _alembic_config
    from tests.integration.conftest import EXAMPLES, SECRET

    old = Database(db_url, SECRET)
    command.upgrade(_alembic_config(old.engine), "0001")
    with old.engine.begin() as connection:  # the operator, as an 0001 home holds it
        connection.execute(
            text(
                "INSERT INTO users (login, display_name, is_super_admin, created_at, updated_at) "
                "VALUES ('alice', 'Alice', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, digest, created_at) "
                "SELECT id, 'ci', 'x', CURRENT_TIMESTAMP FROM users"
            )
        )
    old.dispose()
    db = Database(db_url, SECRET)
    assert db.upgrade() is True and db.current_revision() == db.head_revision()
    init_operator(db)
    documents, problems = config_as_code.read_documents([EXAMPLES])
    catalog.apply(db, actor_for(db, None), documents, problems=problems)
    with db.engine.connect() as connection:  # nothing that referred to a user was lost
        assert connection.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 1
    with db.uow() as uow:
        assert uow.session.scalar(select(User).where(User.login == "alice")) is not None
    db.dispose()


def test_a_database_a_newer_tagport_migrated_is_refused_with_what_to_do(db_url: str) -> None:
    """Hosts upgraded one at a time: the ones still on the older tagport meet a schema revision
    they do not know. They must say so, not fail as a bug of theirs."""
    from tests.integration.conftest import SECRET

    db = Database(db_url, SECRET)
    db.upgrade()
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    newer = Database(db_url, SECRET)
    try:
        with pytest.raises(
            ConfigError,
            match=rf"is at schema revision 0999, newer than this tagport knows "
            rf"\(up to {SCHEMA_REVISION}\): upgrade tagport here too",
        ):
            newer.upgrade()
    finally:
        newer.dispose()
        db.dispose()
