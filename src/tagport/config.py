"""Settings: the one module that reads the environment.

Everything configurable comes from `TAGPORT_*` variables (or a `.env` file in the working
directory); the defaults make a laptop install work with nothing but Python.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tagport.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

SECRET_KEY_FILE = "secret.key"
MAX_LOAD_STREAMS = 16
"""The largest `TAGPORT_LOAD_STREAMS`: each stream holds a warehouse connection, a thread and a
target connection."""


class WarehouseEngine(StrEnum):
    """The engine that holds tags and computes audiences (`TAGPORT_WAREHOUSE`)."""

    DUCKDB = "duckdb"
    """One embedded DuckDB file in the home: nothing to install or run."""
    SPARK = "spark"
    """Parquet tables in the home, queried by a Spark session (the `tagport[spark]` extra)."""


class Settings(BaseSettings):
    """tagport's settings; each field `x` is read from `TAGPORT_X`."""

    model_config = SettingsConfigDict(env_prefix="TAGPORT_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=lambda: Path("~/.tagport"))
    database_url: str | None = None
    secret_key: SecretStr | None = None
    timezone: str = "UTC"
    user: str | None = None
    """The login the CLI acts as; the operator account when unset."""
    catch_up_days: int = Field(default=3, ge=0, le=366)
    """A starting scheduler creates the runs it missed within this many days."""
    lease_seconds: int = Field(default=60, ge=5)
    """A worker that has not renewed its claim for this long is presumed dead."""
    max_attempts: int = Field(default=3, ge=1, le=20)
    """Attempts of an instance that fails transiently (each is recorded)."""
    retry_backoff_seconds: int = Field(default=30, ge=0)
    """Delay before the first retry; doubled for each further attempt."""
    readiness_timeout_seconds: int = Field(default=3600, ge=0)
    """How long an instance waits for its source partitions before failing."""
    ds_env_prefix: str = Field(default="TAGPORT_DS_", min_length=1)
    """A data source's `password_env` may only name variables starting with this prefix."""
    datasource_hosts: str = ""
    """Comma list of hosts or globs (`*.db.internal`) data sources may connect to; empty: any."""
    token_max_days: int = Field(default=365, ge=1, le=3650)
    """The longest an API token may live; every token expires."""
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    """How long a console login lasts."""
    api_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    """How long an API process may answer from memory what another process changed: a token
    revoked elsewhere, a page of the task list (0: never; docs/security.md). A write through
    the process itself is seen at once."""
    warehouse: WarehouseEngine = WarehouseEngine.DUCKDB
    """Which engine holds the warehouse; each keeps its own data in the home."""
    duckdb_memory_limit: str = Field(
        default="160MB",
        pattern=r"^[1-9][0-9]*(\.[0-9]+)? ?([KMGT]i?B)$",
        examples=["160MB", "1.5GiB"],
    )
    """DuckDB's memory budget, shared by a process's connections: joins spill to
    `<home>/warehouse.tmp` beyond it, and an export cuts its ranges to fit it. A full 10M-member
    export into MariaDB (two streams) peaks at 450–510 MB RSS with 160MB and 340–390 MB with
    64MB; an estimate too large for it is counted in ID ranges (docs/warehouse.md)."""
    spark_master: str = Field(default="local[2,2]", min_length=1)
    """`spark.master` of the Spark warehouse's session (one per process)."""
    spark_driver_memory: str = Field(
        default="1g", pattern=r"^[1-9][0-9]*[kmgtKMGT]?$", examples=["1g", "512m"]
    )
    """`spark.driver.memory`: the heap of the JVM a local session runs in."""
    load_streams: int | None = Field(default=None, ge=1, le=MAX_LOAD_STREAMS)
    """How many streams an export is cut into and loaded through at once (contiguous ID
    ranges, a target connection each); unset: the target type's default (MySQL 2, others 1).
    A target that takes only one (project, Oracle) gets one whatever this says."""
    spark_shuffle_partitions: int = Field(default=4, ge=1, le=10_000)
    """`spark.sql.shuffle.partitions`: Spark's default (200) is made for clusters; a few suit
    local mode, where each costs a task per join or aggregate."""

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def allowed_datasource_hosts(self) -> tuple[str, ...]:
        """The `datasource_hosts` patterns, lower-cased; empty when any host is allowed."""
        return tuple(h.strip().lower() for h in self.datasource_hosts.split(",") if h.strip())

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def metadata_url(self) -> str:
        """The metadata database URL: `TAGPORT_DATABASE_URL`, else a SQLite file in the home."""
        return self.database_url or f"sqlite:///{self.home / 'tagport.db'}"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def spark_warehouse_path(self) -> Path:
        """The Spark warehouse's directory: a directory per project, Parquet per table."""
        return self.home / "warehouse.spark"

    def ensure_home(self) -> Path:
        """Create the home directory (private to its owner) if it is missing."""
        try:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(f"cannot create TAGPORT_HOME {self.home}: {exc.strerror}") from exc
        return self.home

    @cached_property
    def secret(self) -> bytes:
        """The key that encrypts secrets at rest: `TAGPORT_SECRET_KEY`, else one generated once
        into `<home>/secret.key` with mode 0600."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.ensure_home() / SECRET_KEY_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes().strip()
            if not key:
                raise ConfigError(
                    f"{path} is empty; restore it or set TAGPORT_SECRET_KEY"
                ) from None
            return key
        key = secrets.token_urlsafe(32).encode()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
        return key


def debugging() -> bool:
    """`TAGPORT_DEBUG` set: show the traceback of a bug instead of one line about it."""
    return bool(os.environ.get("TAGPORT_DEBUG"))


def setting_variables() -> frozenset[str]:
    """The environment variables tagport reads as its own settings (`TAGPORT_HOME` …)."""
    return frozenset(f"TAGPORT_{name.upper()}" for name in Settings.model_fields)


def environment_value(name: str) -> str | None:
    """A variable named by configuration (such as a data source's `password_env`)."""
    return os.environ.get(name)


def load_settings() -> Settings:
    """Read settings, turning a bad value into a ConfigError that names the variable."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        details = "; ".join(
            f"TAGPORT_{'_'.join(str(p) for p in e['loc']).upper()}: {_said(e)}"
            for e in exc.errors()
        )
        raise ConfigError(details) from None


def _said(error: ErrorDetails) -> str:
    """pydantic's message about a bad setting, in a person's words: a pattern by its examples,
    a validator's message without pydantic's "Value error, " before it."""
    if error["type"] == "string_pattern_mismatch":
        field = Settings.model_fields.get(str(error["loc"][0]))
        if field is not None and field.examples:
            return f"{error['input']!r} is not of the form {' or '.join(field.examples)}"
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return str(error["msg"])
