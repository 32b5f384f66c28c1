"""The metadata store on both engines: every test here runs on SQLite and on PostgreSQL.

Stores start as copies of templates made once per test process (migrated, with the operator,
and with the example catalog applied for `catalogued`): the same content as building each one,
without running the migrations and the catalog again for every test (about a second each on
PostgreSQL). A SQLite store is a copy of a template file; a PostgreSQL store is a database of
the test's own, made by `CREATE DATABASE … TEMPLATE` and dropped after the test.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagport.services import catalog, config_as_code
from tagport.services.permissions import Actor
from tagport.services.users import actor_for, init_operator
from tagport.store.db import Database
from tagport.warehouse.spark import SparkConfig, spark_session

SECRET = b"test-secret-key"
CATALOGUED_STORES: set[str] = set()
"""URLs of the PostgreSQL stores made from the catalogued template (`catalogued` applies
nothing more to them)."""
EXAMPLES = Path(__file__).parents[2] / "examples"


def apply_examples(db: Database, operator: Actor) -> None:
    documents, problems = config_as_code.read_documents([EXAMPLES])
    catalog.apply(db, operator, documents, problems=problems)


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database file (its WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """Migrated SQLite stores with the operator, without (False) and with (True) the catalog."""
    root = tmp_path_factory.mktemp("templates")
    bare, full = root / "bare.db", root / "catalogued.db"
    database = Database(f"sqlite:///{bare}", SECRET)
    database.upgrade()
    init_operator(database)
    database.dispose()
    copy_sqlite(bare, full)
    database = Database(f"sqlite:///{full}", SECRET)
    apply_examples(database, actor_for(database, None))
    database.dispose()
    return {False: bare, True: full}


@pytest.fixture(scope="session")
def pg_templates(pg_url: str) -> Iterator[dict[bool, str]]:
    """Migrated PostgreSQL stores with the operator, without (False) and with (True) the
    catalog: databases of this test process, which each test's store is made from."""
    import psycopg

    server = pg_url.rsplit("/", 1)[0]
    tag = uuid.uuid4().hex[:10]
    names = {False: f"tpl_{tag}_bare", True: f"tpl_{tag}_catalogued"}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{names[False]}"')
        database = Database(f"{server}/{names[False]}", SECRET)
        database.upgrade()
        init_operator(database)
        database.dispose()  # a template may have no connection while it is copied
        conn.execute(f'CREATE DATABASE "{names[True]}" TEMPLATE "{names[False]}"')
        database = Database(f"{server}/{names[True]}", SECRET)
        apply_examples(database, actor_for(database, None))
        database.dispose()
    yield names
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_store(request: pytest.FixtureRequest, pg_url: str) -> Iterator[str]:
    """The URL of a PostgreSQL store of this test's own, copied from a template (catalogued
    when the test asks for `catalogued`), dropped after the test."""
    import psycopg

    catalogued = "catalogued" in request.fixturenames
    template = request.getfixturevalue("pg_templates")[catalogued]
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    if catalogued:
        CATALOGUED_STORES.add(url)
    yield url
    CATALOGUED_STORES.discard(url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # the test's connections too


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's store is; empty unless the test uses the `db` fixture."""
    if request.param == "sqlite":
        if "db" in request.fixturenames:
            templates: dict[bool, Path] = request.getfixturevalue("sqlite_templates")
            copy_sqlite(templates["catalogued" in request.fixturenames], tmp_path / "meta.db")
        return f"sqlite:///{tmp_path / 'meta.db'}"
    if "db" in request.fixturenames:
        store: str = request.getfixturevalue("pg_store")
        return store
    schema: str = request.getfixturevalue("pg_schema")
    url: str = request.getfixturevalue("pg_url")
    return f"{url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, SECRET)
    database.upgrade()  # a no-op on a template's copy
    init_operator(database)
    yield database
    database.dispose()


@pytest.fixture
def operator(db: Database) -> Actor:
    return actor_for(db, None)


@pytest.fixture
def catalogued(db: Database, operator: Actor) -> Database:
    """The example catalog, applied (already, in the template the store copies)."""
    if not db.url.startswith("sqlite") and db.url not in CATALOGUED_STORES:
        apply_examples(db, operator)
    return db


@pytest.fixture(scope="session")
def spark_config(tmp_path_factory: pytest.TempPathFactory) -> SparkConfig:
    """The Spark session of the test process, started once and shared by every Spark test (a
    Spark warehouse made later in the process, by a service too, gets this one)."""
    config = SparkConfig(local_dir=tmp_path_factory.mktemp("spark-local"))
    spark_session(config)
    return config
