"""The metadata database: engine, sessions, schema upgrades (Alembic) and the unit of work.

This is the store's edge: SQLAlchemy errors leave a unit of work as tagport errors (connection
loss → TransientError, integrity → Conflict, a value a column cannot hold → InvalidInput, the
rest → TerminalError), never as themselves.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from tagport.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    TagportError,
    TerminalError,
    TransientError,
)
from tagport.store import audit
from tagport.store.crypto import SecretBox

if TYPE_CHECKING:  # Alembic is loaded only to migrate (see `Database.upgrade`)
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_REVISION = "0006"
"""The newest migration's revision (a test keeps it equal to the scripts' head)."""
SECRET_BOX = "secret_box"
BOOKKEEPING = "bookkeeping"
"""`Session.info` key: the commit under way moves no `Database.generation`."""


def secret_box(session: Session) -> SecretBox:
    """The box that encrypts secrets for this session's database."""
    box = session.info.get(SECRET_BOX)
    if box is None:
        raise ConfigError("this metadata database was opened without a secret key")
    assert isinstance(box, SecretBox)
    return box


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read while a worker writes; the busy timeout turns a lock into a wait.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their directory, foreign keys and WAL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(False))
    return create_engine(url, pool_pre_ping=True)


def _reason(exc: SQLAlchemyError, password: str | None) -> str:
    """The driver's first line: never the SQL, its parameters, or the URL's password."""
    source: BaseException = exc
    if isinstance(exc, StatementError) and exc.orig is not None:
        source = exc.orig
    lines = str(source).strip().splitlines()
    text = lines[0].strip() if lines else type(source).__name__
    return text.replace(password, "***") if password else text


def translate_store(exc: SQLAlchemyError, password: str | None = None) -> TagportError:
    """The tagport error for a metadata database failure (`password`: the URL's, to hide)."""
    reason = _reason(exc, password)
    lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
    if lost or isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)):
        # Connection refused or lost, locked SQLite file, deadlock, serialization failure.
        return TransientError(f"metadata database unavailable (retry may help): {reason}")
    if isinstance(exc, IntegrityError):
        return Conflict(f"metadata database refused the change: {reason}")
    if isinstance(exc, DataError):
        # A value the column cannot hold (a NUL in text, a number out of range): bad input.
        return InvalidInput.one("", "", f"the metadata database refused a value: {reason}")
    return TerminalError(f"metadata database: {reason}")


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


class Database:
    """The metadata database of one tagport home."""

    def __init__(self, url: str, secret: bytes | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        box = SecretBox(secret) if secret is not None else None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={SECRET_BOX: box})
        audit.install(self.sessions)
        self._generation = 0
        self._generation_lock = threading.Lock()
        event.listen(self.sessions, "after_commit", self._committed)

    @property
    def generation(self) -> int:
        """A number that changes after every commit made through this object (every write of
        this process goes through one): what was read before it changed may be stale. Read it
        before reading the data a cache keeps under it."""
        return self._generation

    def _committed(self, session: Session) -> None:
        if session.info.pop(BOOKKEEPING, False):
            return
        with self._generation_lock:
            self._generation += 1

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory(str(MIGRATIONS)).get_current_head()

    def _at_schema_revision(self) -> bool:
        """Whether the schema is at `SCHEMA_REVISION`, asked without loading Alembic (every
        command opens the database: Alembic's import alone costs a tenth of a second). Any
        failure answers False and leaves the telling to Alembic."""
        try:
            with self.engine.connect() as connection:
                found = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
                return found.scalar() == SCHEMA_REVISION
        except SQLAlchemyError:
            return False

    def upgrade(self) -> bool:
        """Apply pending migrations; True when anything was applied."""
        if self._at_schema_revision():
            return False
        from alembic import command
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        try:
            script, current = ScriptDirectory(str(MIGRATIONS)), self.current_revision()
            if current == script.get_current_head():
                return False
            try:
                if current is not None:
                    script.get_revision(current)
            except CommandError:
                # A newer tagport migrated it (another host upgraded first): say so, instead
                # of Alembic's "Can't locate revision" escaping as a bug of this one.
                raise ConfigError(
                    f"metadata database {self.safe_url} is at schema revision {current}, "
                    f"newer than this tagport knows (up to {script.get_current_head()}): "
                    "upgrade tagport here too"
                ) from None
            command.upgrade(_alembic_config(self.engine), "head")
        except OperationalError as exc:
            reason = _reason(exc, make_url(self.url).password)
            raise TransientError(f"metadata database unreachable: {reason}") from None
        except SQLAlchemyError as exc:
            reason = _reason(exc, make_url(self.url).password)
            raise ConfigError(f"metadata database {self.safe_url}: {reason}") from None
        return True

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, make_url(self.url).password)

    def dispose(self) -> None:
        self.engine.dispose()


def insert_ignoring_duplicates(
    session: Session, table: type[Any], unique: str, rows: list[dict[str, Any]]
) -> int:
    """Insert `rows`, skipping those whose `unique` column value exists; return how many were
    new. One statement per 1,000 rows; safe against concurrent inserters (ON CONFLICT)."""
    # The dialect's own module: importing PostgreSQL's (and asyncio with it) for every command
    # on SQLite cost 40 ms of the CLI's start.
    dialect = session.get_bind().dialect.name
    module = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
    insert: Any = module.insert
    statement = insert(table).on_conflict_do_nothing(index_elements=[unique]).returning(table.id)
    created = 0
    for start in range(0, len(rows), 1000):
        created += len(session.scalars(statement, rows[start : start + 1000]).all())
    return created


class UnitOfWork:
    """One transaction: `with db.uow() as uow: ...; uow.commit()`; the uncommitted rolls back.

    A SQLAlchemy error raised inside the block (a query, a flush, the commit) leaves it
    translated by `translate_store`.
    """

    session: Session

    def __init__(self, sessions: sessionmaker[Session], password: str | None = None) -> None:
        self._sessions = sessions
        self._password = password

    def __enter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
        except SQLAlchemyError as failed:
            # The connection is gone: report the block's own error if it has one.
            if exc is None:
                raise translate_store(failed, self._password) from failed
        finally:
            self.session.close()
        if isinstance(exc, SQLAlchemyError):
            raise translate_store(exc, self._password) from exc

    def commit(self, bookkeeping: bool = False) -> None:
        """Commit; `bookkeeping`: the change is one no cache shows (a token's "last used"),
        so `Database.generation` stays and kept pages stay good."""
        if bookkeeping:
            self.session.info[BOOKKEEPING] = True
        try:
            self.session.commit()
        except SQLAlchemyError as exc:
            raise translate_store(exc, self._password) from exc

    def rollback(self) -> None:
        self.session.rollback()
