"""Data sources: connections to target databases (or warehouse projects), secrets encrypted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.config import environment_value
from tagport.domain.catalog import DataSourceSpec, DataSourceType
from tagport.errors import ConfigError
from tagport.services import catalog
from tagport.services.catalog import Checks, KindService
from tagport.services.permissions import Actor, require_any
from tagport.services.usage import tasks_using
from tagport.store import tables as t
from tagport.store.db import secret_box


class DataSourceService(KindService[DataSourceSpec, t.DataSource]):
    spec = DataSourceSpec
    row = t.DataSource
    key_name = "name"

    def to_spec(self, session: Session, row: t.DataSource) -> DataSourceSpec:
        return DataSourceSpec(
            name=row.name,
            type=DataSourceType(row.type),
            host=row.host,
            port=row.port,
            database=row.database,
            username=row.username,
            password_env=row.password_env,
            project=row.project.name if row.project else None,
            owner=row.owner.login,
            description=row.description,
        )

    def unchanged(self, session: Session, spec: DataSourceSpec, row: t.DataSource) -> bool:
        # The stored spec never carries the password: compare it separately, decrypted.
        if spec.password is not None:
            encrypted = row.password_encrypted
            stored = secret_box(session).decrypt(encrypted) if encrypted else None
            if stored != spec.password.get_secret_value():
                return False
        return self.to_spec(session, row) == spec.model_copy(update={"password": None})

    def check(self, checks: Checks, spec: DataSourceSpec, row: t.DataSource | None) -> None:
        checks.ref(t.User, t.User.login, spec.owner, "owner", "user")
        checks.ref(t.Project, t.Project.name, spec.project, "project", "project")
        if row is not None and row.type != spec.type.value:
            used = _tasks_using(checks.session, row.name)
            if used:
                checks.fail("type", f"cannot change from {row.type}: used by {', '.join(used)}")

    def authorize(
        self, session: Session, actor: Actor, spec: DataSourceSpec, row: t.DataSource | None
    ) -> None:
        if row is not None:
            require_any(actor, f"change data source {row.name}", [row.owner_id], "its owner")

    def write(
        self, session: Session, spec: DataSourceSpec, row: t.DataSource | None
    ) -> t.DataSource:
        row = row or t.DataSource(name=spec.name)
        row.type = spec.type.value
        row.host, row.port, row.database = spec.host, spec.port, spec.database
        row.username = spec.username
        row.description = spec.description
        row.owner = session.scalars(select(t.User).where(t.User.login == spec.owner)).one()
        row.project = (
            session.scalar(select(t.Project).where(t.Project.name == spec.project))
            if spec.project
            else None
        )
        # A password given literally is stored encrypted; one named by password_env is read
        # from the environment each time a connection is made; neither keeps what is stored.
        if spec.password is not None:
            row.password_encrypted = secret_box(session).encrypt(spec.password.get_secret_value())
            row.password_env = None
        elif spec.password_env is not None:
            row.password_env = spec.password_env
            row.password_encrypted = None
        session.add(row)
        return row

    def dependents(self, session: Session, row: t.DataSource) -> list[str]:
        return _tasks_using(session, row.name)

    def details(self, session: Session, row: t.DataSource) -> dict[str, Any]:
        return {"has_password": bool(row.password_encrypted or row.password_env)} | super().details(
            session, row
        )


def _tasks_using(session: Session, datasource: str) -> list[str]:
    return tasks_using(session, lambda s: s.target.datasource == datasource)


def password_of(session: Session, row: t.DataSource) -> str | None:
    """The password to connect with: decrypted, or read from the named environment variable."""
    if row.password_encrypted:
        return secret_box(session).decrypt(row.password_encrypted)
    if row.password_env:
        value = environment_value(row.password_env)
        if value is None:
            raise ConfigError(
                f"data source {row.name}: environment variable {row.password_env} is not set"
            )
        return value
    return None


catalog.register(DataSourceService())
