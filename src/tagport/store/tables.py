"""Metadata tables (SQLAlchemy 2 typed ORM). The same schema runs on SQLite and PostgreSQL.

Names are immutable keys in the catalog, so rows refer to each other by integer id; complex
configuration (audience rules, task versions) is kept as validated JSON documents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def _system_clock() -> datetime:
    return datetime.now(UTC)


_clock: Callable[[], datetime] = _system_clock


def utcnow() -> datetime:
    """The current time, from the process's clock (the system's unless a test set another)."""
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Make `utcnow` read `clock` (None: the system clock again): tests move time forward to
    see grants expire, without sleeping."""
    global _clock
    _clock = clock or _system_clock


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back time-zone aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Timestamps, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    is_super_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_datasource_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    """May create data sources and change those they own (hosts, ports, credentials)."""
    is_service_account: Mapped[bool] = mapped_column(Boolean, default=False)
    """A non-human user for automation: it logs in with tokens only, never a password."""
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """argon2id hash; None: no password login."""
    language: Mapped[str | None] = mapped_column(String(8))
    """The console's language (`en`, `zh`); None: as the browser asks (Accept-Language)."""


class ApiToken(Base):
    """A bearer token; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(64))
    """The login that made it (a super admin, for a service account's token): a name, not a
    reference, so that the token outlives that person's account."""
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A console login: the cookie's SHA-256 digest and the CSRF token bound to it."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship()


class AuditEntry(Base):
    """One recorded change: who, when, from where, to what, before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_kind_key", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    origin: Mapped[str] = mapped_column(String(64))
    """`cli`, or the client address of an API request."""
    request_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    """created | updated | deleted"""
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(400))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class Heartbeat(Base):
    """The last time a long-running role (the scheduler) proved alive: what /readyz reads; for
    the scheduler, also which one leads (`scheduling.lead`)."""

    __tablename__ = "heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(32), unique=True)
    at: Mapped[datetime]
    holder: Mapped[str | None] = mapped_column(String(128))
    """The process that holds the role (`host:pid`), while it renews `at` within a lease."""


class IdempotencyKey(Base):
    """The answer to an unsafe request sent with an `Idempotency-Key`, replayed on a repeat."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("uq_idempotency_keys_user_key", "user_id", "key", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of method, path and body: the same key with another request is refused."""
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Timestamps, Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    write_through: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)

    members: Mapped[list[User]] = relationship(secondary="project_members", order_by=User.login)


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SecuritySetting(Timestamps, Base):
    """Cross-project safe mode: one global row (project NULL) and optional per-project rows."""

    __tablename__ = "security_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), unique=True)
    """'*' for the global row, else the project's name (names never change)."""
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    cross_project_safe_mode: Mapped[bool] = mapped_column(Boolean, default=False)

    project: Mapped[Project | None] = relationship()


class DataSource(Timestamps, Base):
    __tablename__ = "datasources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16), index=True)
    host: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer)
    database: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    """Fernet token; never returned by any interface."""
    password_env: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project | None] = relationship()
    owner: Mapped[User] = relationship()


class Entity(Timestamps, Base):
    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    id_field: Mapped[str] = mapped_column(String(128))
    id_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship()


class LookupTable(Timestamps, Base):
    __tablename__ = "lookup_tables"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)

    codes: Mapped[list[LookupCode]] = relationship(
        cascade="all, delete-orphan", order_by="LookupCode.code"
    )


class LookupCode(Base):
    __tablename__ = "lookup_codes"

    lookup_id: Mapped[int] = mapped_column(
        ForeignKey("lookup_tables.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class Tag(Timestamps, Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    value_type: Mapped[str] = mapped_column(String(32))
    source_table: Mapped[str] = mapped_column(String(255))
    source_key: Mapped[str] = mapped_column(String(128))
    source_column: Mapped[str] = mapped_column(String(128))
    source_partition: Mapped[str | None] = mapped_column(String(128))
    source_partition_format: Mapped[str] = mapped_column(String(16))
    lookup_id: Mapped[int | None] = mapped_column(ForeignKey("lookup_tables.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)

    entity: Mapped[Entity] = relationship()
    lookup: Mapped[LookupTable | None] = relationship()


class AudienceGroup(Timestamps, Base):
    __tablename__ = "audience_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    update_method: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]]
    """{"rule": {...}} | {"import": "path"} | {"sql": "SELECT ..."}"""
    estimated_size: Mapped[int | None] = mapped_column(BigInteger)
    estimated_at: Mapped[datetime | None]
    description: Mapped[str | None] = mapped_column(Text)

    entity: Mapped[Entity] = relationship()
    owner: Mapped[User] = relationship()


class Application(Timestamps, Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    services: Mapped[list[Any]]
    description: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship()
    memberships: Mapped[list[ApplicationMember]] = relationship(
        cascade="all, delete-orphan", back_populates="application"
    )


class ApplicationMember(Base):
    __tablename__ = "application_members"

    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    """admin | member"""

    application: Mapped[Application] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()


class OfflineService(Timestamps, Base):
    """An audience group offline service (task): a draft and a published configuration."""

    __tablename__ = "offline_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    # Immutable after creation, kept as columns for the task list's filters.
    schedule_type: Mapped[str] = mapped_column(String(16))
    target_type: Mapped[str] = mapped_column(String(16))
    draft: Mapped[dict[str, Any]]
    draft_revision: Mapped[int] = mapped_column(Integer, default=1)
    published: Mapped[dict[str, Any] | None]
    published_revision: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime | None]
    publish_errors: Mapped[list[Any] | None]

    application: Mapped[Application] = relationship()
    owner: Mapped[User] = relationship()


class Instance(Base):
    """One execution of a task for one data timestamp (bizdate)."""

    __tablename__ = "instances"
    __table_args__ = (
        Index("ix_instances_service_id_bizdate", "service_id", "bizdate"),
        # A task's latest instance (the task list, its execution status): one index probe.
        Index("ix_instances_service_id_id", "service_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("offline_services.id", ondelete="CASCADE"))
    bizdate: Mapped[date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(16))
    """schedule | run | backfill"""
    schedule_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    """'<service id>:<bizdate>' for scheduled instances: one per task and day, enforced here."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    """The published revision the instance runs."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    backfill_id: Mapped[int | None] = mapped_column(ForeignKey("backfills.id"), index=True)
    backfill_group: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    rows: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    not_before: Mapped[datetime | None]
    """A retried attempt waits until then (backoff)."""
    target_key: Mapped[str] = mapped_column(String(400), index=True)
    """The target table the instance writes: '<data source>/<schema>/<table>'."""
    running_target: Mapped[str | None] = mapped_column(String(400), unique=True)
    """`target_key` while running, else NULL: the database allows one writer per target table."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    service: Mapped[OfflineService] = relationship()


class InstanceLog(Base):
    __tablename__ = "instance_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)


class Backfill(Base):
    """A data backfill: a bizdate range split into parallel groups."""

    __tablename__ = "backfills"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("offline_services.id", ondelete="CASCADE"), index=True
    )
    first_bizdate: Mapped[date] = mapped_column(Date)
    last_bizdate: Mapped[date] = mapped_column(Date)
    groups: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TablePermission(Base):
    """Write permission of a user on a target table (production), with optional expiry."""

    __tablename__ = "table_permissions"
    __table_args__ = (
        Index("ix_table_permissions_target", "datasource_id", "schema_name", "table_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    datasource_id: Mapped[int] = mapped_column(ForeignKey("datasources.id", ondelete="CASCADE"))
    schema_name: Mapped[str] = mapped_column(String(128), default="")
    table_name: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))
    """grant | request | create_table"""
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    datasource: Mapped[DataSource] = relationship()


class PermissionRequest(Base):
    __tablename__ = "permission_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    datasource_id: Mapped[int] = mapped_column(ForeignKey("datasources.id", ondelete="CASCADE"))
    schema_name: Mapped[str] = mapped_column(String(128), default="")
    table_name: Mapped[str] = mapped_column(String(128))
    days: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    """pending | approved | rejected | withdrawn"""
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
