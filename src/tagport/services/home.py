"""Opening a tagport home: settings, metadata database (upgraded), operator account."""

from __future__ import annotations

from dataclasses import dataclass

from tagport.config import Settings
from tagport.services.users import init_operator
from tagport.store.db import Database


def open_database(settings: Settings, *, upgrade: bool = True) -> Database:
    """The home's metadata database, migrated to the current schema unless told not to."""
    settings.ensure_home()
    db = Database(settings.metadata_url, settings.secret)
    if upgrade:
        db.upgrade()
    return db


@dataclass(frozen=True)
class InitResult:
    home: str
    database: str
    operator_created: bool


def initialise(settings: Settings) -> InitResult:
    """Create (or check) a home: directory, secret key, schema and the operator account."""
    db = open_database(settings)
    try:
        created = init_operator(db)
        return InitResult(str(settings.home), db.safe_url, created)
    finally:
        db.dispose()
