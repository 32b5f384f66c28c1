"""Data sources: connections to target databases (or warehouse projects), secrets encrypted."""

from __future__ import annotations

import fnmatch
import hmac
from typing import Any

from sqlalchemy import ColumnElement, not_, or_, select
from sqlalchemy.orm import Session

from tagport.config import Settings, environment_value, load_settings, setting_variables
from tagport.domain.catalog import DataSourceSpec, DataSourceType
from tagport.errors import ConfigError, NotFound
from tagport.services import permissions
from tagport.services.catalog import Checks, Filter, KindService, equals, refers_to
from tagport.services.permissions import Action, Actor, Scope, rule_for
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
        # The stored spec never carries the password: compare it separately, decrypted. Only
        # an actor allowed to change the data source gets here (upsert authorizes first), and
        # the comparison takes the same time whatever the guess.
        if spec.password is not None:
            encrypted = row.password_encrypted
            stored = secret_box(session).decrypt(encrypted) if encrypted else ""
            given = spec.password.get_secret_value()
            if not encrypted or not hmac.compare_digest(stored.encode(), given.encode()):
                return False
        return self.to_spec(session, row) == spec.model_copy(update={"password": None})

    def filters(self) -> dict[str, Filter]:
        ds = t.DataSource
        return {
            "type": equals(ds.type),
            "owner": refers_to(ds.owner_id, t.User, t.User.login),
            "project": refers_to(ds.project_id, t.Project, t.Project.name),
            "usable_as_target": _usable_as_target,
        }

    def check(self, checks: Checks, spec: DataSourceSpec, row: t.DataSource | None) -> None:
        checks.ref(t.User, t.User.login, spec.owner, "owner", "user")
        checks.ref(t.Project, t.Project.name, spec.project, "project", "project")
        settings = load_settings()
        if spec.host is not None and (problem := host_problem(spec.host, settings)):
            checks.fail("host", problem)
        if spec.password_env is not None and (
            problem := password_env_problem(spec.password_env, settings)
        ):
            checks.fail("password_env", problem)
        if row is not None and row.type != spec.type.value:
            used = _tasks_using(checks.session, row.name)
            if used:
                checks.fail("type", f"cannot change from {row.type}: used by {', '.join(used)}")

    def scope(self, session: Session, spec: DataSourceSpec, row: t.DataSource | None) -> Scope:
        return Scope(row.owner_id if row is not None else None)

    def authorize(
        self, session: Session, actor: Actor, spec: DataSourceSpec, row: t.DataSource | None
    ) -> None:
        """The matrix's rule; and only a super admin names (or renames) a `password_env`, which
        makes the server send one of its environment variables to the data source's host, or
        sends a stored secret to another host (anyone else gives the password again)."""
        super().authorize(session, actor, spec, row)
        scope = self.scope(session, spec, row)
        if spec.password_env is not None and (row is None or row.password_env != spec.password_env):
            permissions.authorize(
                session, actor, self.kind, Action.SET_PASSWORD_ENV, scope, spec.name
            )
        elif (
            row is not None
            and (row.host, row.port) != (spec.host, spec.port)
            and spec.password is None
            and (row.password_env or row.password_encrypted)
        ):
            doing = f"send the stored password of data source {spec.name} to {spec.host}"
            permissions.require(
                session, actor, rule_for(self.kind, Action.MOVE_SECRET), scope, doing
            )

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


def _usable_as_target(usable: bool, actor: Actor) -> ColumnElement[bool]:
    """Data sources `actor` may pick as a task's target: every database, and the warehouse
    projects they joined whose production account writes through (its tables are theirs)."""
    joined = select(t.ProjectMember.project_id).where(t.ProjectMember.user_id == actor.id)
    writable = select(t.Project.id).where(t.Project.write_through, t.Project.id.in_(joined))
    clause = or_(
        t.DataSource.type != DataSourceType.PROJECT.value, t.DataSource.project_id.in_(writable)
    )
    return clause if usable else not_(clause)


def _tasks_using(session: Session, datasource: str) -> list[str]:
    return tasks_using(session, lambda s: s.target.datasource == datasource)


def host_problem(host: str, settings: Settings) -> str | None:
    """Why data sources may not connect to `host` (TAGPORT_DATASOURCE_HOSTS), or None."""
    allowed = settings.allowed_datasource_hosts
    if not allowed or any(fnmatch.fnmatchcase(host.lower(), p) for p in allowed):
        return None
    return f"{host} is not an allowed data source host (TAGPORT_DATASOURCE_HOSTS)"


def password_env_problem(name: str, settings: Settings) -> str | None:
    """Why a data source may not read its password from the variable `name`, or None."""
    if name in setting_variables():
        return f"{name} is a tagport setting, not a data source password"
    prefix = settings.ds_env_prefix
    if not name.startswith(prefix):
        return f"{name} does not start with {prefix} (TAGPORT_DS_ENV_PREFIX)"
    return None


def require_connectable(row: t.DataSource, settings: Settings) -> None:
    """Refuse to connect to a host the settings no longer allow (checked again at each use)."""
    if row.host is not None and (problem := host_problem(row.host, settings)):
        raise ConfigError(f"data source {row.name}: host: {problem}")


def password_of(session: Session, row: t.DataSource, settings: Settings) -> str | None:
    """The password to connect with: decrypted, or read from the named environment variable
    (only one the settings allow: the rule is checked again at each use)."""
    if row.password_encrypted:
        return secret_box(session).decrypt(row.password_encrypted)
    if row.password_env:
        if problem := password_env_problem(row.password_env, settings):
            raise ConfigError(f"data source {row.name}: password_env: {problem}")
        value = environment_value(row.password_env)
        if value is None:
            raise ConfigError(
                f"data source {row.name}: environment variable {row.password_env} is not set"
            )
        return value
    return None


def find_datasource(session: Session, name: str) -> t.DataSource:
    """The data source named `name`, or NotFound."""
    ds = session.scalar(select(t.DataSource).where(t.DataSource.name == name))
    if ds is None:
        raise NotFound("data source", name)
    return ds
