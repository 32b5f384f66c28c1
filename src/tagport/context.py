"""The one wiring point: what every front end (CLI, HTTP API, console) hands the services.

A `Context` holds the settings, the metadata database, the acting user and where the request
came from, and makes target access and the warehouse. The CLI builds one per process; the API
builds one per request around the app's shared database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI must start without SQLAlchemy: these are imported when first used
    from tagport.config import Settings
    from tagport.services.permissions import Actor
    from tagport.services.targets import TargetAccess
    from tagport.store.db import Database
    from tagport.warehouse.base import Warehouse


@dataclass
class Context:
    """Settings, database, acting user and origin of one invocation or one HTTP request."""

    settings: Settings
    login: str | None = None
    origin: str = "cli"
    """Where the request came from: `cli`, or the client's address for the API (audit log)."""
    _db: Database | None = field(default=None, repr=False)
    _actor: Actor | None = field(default=None, repr=False)

    @property
    def db(self) -> Database:
        """The metadata database, opened (and migrated) on first use."""
        if self._db is None:
            from tagport.services import home

            self._db = home.open_database(self.settings)
        return self._db

    @property
    def actor(self) -> Actor:
        """The acting user, resolved once: the given actor, else `login`, else the operator."""
        if self._actor is None:
            from tagport.services import users
            from tagport.store import audit

            self._actor = users.actor_for(self.db, self.login)
            # From here on this invocation's changes are recorded as this user's.
            audit.set_origin(audit.Origin(self._actor.login, self.origin))
        return self._actor

    @property
    def targets(self) -> TargetAccess:
        """Connections to the data sources' servers, as this home's settings allow."""
        from tagport.services.targets import TargetAccess

        return TargetAccess(self.settings)

    def warehouse(self) -> Warehouse:
        """The home's warehouse."""
        from tagport.services.warehouse import open_warehouse

        return open_warehouse(self.settings)

    @classmethod
    def for_actor(cls, settings: Settings, db: Database, actor: Actor, origin: str) -> Context:
        """A request's context: an already authenticated actor on a shared database."""
        return cls(settings, actor.login, origin, db, actor)
