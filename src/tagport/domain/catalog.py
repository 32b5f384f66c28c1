"""Catalog objects as configuration: one frozen model per kind, exactly the YAML contract.

A spec is what a person declares; services check it against the rest of the catalog (references,
permissions) and persist it. Specs normalise on the way in (sorted member lists, full decimal
types), so comparing a stored object's spec with an incoming one tells whether anything changed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from tagport.domain.dates import PartitionFormat
from tagport.domain.naming import (
    CODE,
    DESCRIPTION_MAX,
    ENV_VAR,
    IDENTIFIER,
    LOGIN,
    LOOKUP_MAX_CODES,
    NAME_MAX,
    TASK_NAME,
)
from tagport.domain.rules import Rule
from tagport.domain.values import IdType, ValueType, parse_code

Code = Annotated[str, AfterValidator(CODE.check)]
Login = Annotated[str, AfterValidator(LOGIN.check)]
TaskName = Annotated[str, AfterValidator(TASK_NAME.check)]
Identifier = Annotated[str, AfterValidator(IDENTIFIER.check)]
EnvVar = Annotated[str, AfterValidator(ENV_VAR.check)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
Description = Annotated[str | None, Field(max_length=DESCRIPTION_MAX)]


def _sorted_unique(values: list[str]) -> list[str]:
    return sorted(set(values))


Logins = Annotated[list[Login], AfterValidator(_sorted_unique)]


def _lenient_format(value: Any) -> Any:
    return PartitionFormat.lenient(value) if isinstance(value, str) else value


Format = Annotated[PartitionFormat, BeforeValidator(_lenient_format)]


class Model(BaseModel):
    """Base of configuration models: unknown fields are refused, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def field_error(field: str, message: str) -> ValueError:
    """A cross-field error that still names its field (`documents.problems_of` reads it)."""
    return ValueError(f"{field}: {message}")


class Spec(Model):
    """Base of every kind of catalog object."""

    kind: ClassVar[str]
    key_field: ClassVar[str] = "name"

    @property
    def key(self) -> str:
        return str(getattr(self, self.key_field) or "")

    @field_validator("description", mode="before", check_fields=False)
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class Role(StrEnum):
    SUPER_ADMIN = "super_admin"
    DATASOURCE_ADMIN = "datasource_admin"
    """Creates data sources and changes those it owns."""


class UserSpec(Spec):
    kind: ClassVar[str] = "User"

    name: Login
    display_name: Name | None = None
    roles: list[Role] = Field(default_factory=list)

    @model_validator(mode="after")
    def _normalise(self) -> UserSpec:
        object.__setattr__(self, "display_name", self.display_name or self.name)
        object.__setattr__(self, "roles", sorted(set(self.roles)))
        return self


class ProjectType(StrEnum):
    GENERAL = "general"
    TAG = "tag"


class ProjectSpec(Spec):
    """A warehouse namespace; `write_through` lets its production account write target tables."""

    kind: ClassVar[str] = "Project"

    name: Code
    type: ProjectType = ProjectType.GENERAL
    members: Logins = Field(default_factory=list)
    write_through: bool = False
    description: Description = None


class SecuritySettingsSpec(Spec):
    """Cross-project safe mode, globally (no project) or overriding it for one project."""

    kind: ClassVar[str] = "SecuritySettings"
    key_field: ClassVar[str] = "project"

    project: Code | None = None
    cross_project_safe_mode: bool = False


class DataSourceType(StrEnum):
    MYSQL = "mysql"
    ORACLE = "oracle"
    ADB_PG = "adb_pg"
    GREENPLUM = "greenplum"
    OPENGAUSS = "opengauss"
    POSTGRESQL = "postgresql"
    PROJECT = "project"


SCHEMA_TYPES = frozenset(
    {
        DataSourceType.POSTGRESQL,
        DataSourceType.ADB_PG,
        DataSourceType.GREENPLUM,
        DataSourceType.OPENGAUSS,
        DataSourceType.ORACLE,
    }
)
"""Types whose tables live under a schema (Oracle: the owner schema)."""

DEFAULT_PORTS: dict[DataSourceType, int] = {
    DataSourceType.MYSQL: 3306,
    DataSourceType.ORACLE: 1521,
    DataSourceType.ADB_PG: 5432,
    DataSourceType.GREENPLUM: 5432,
    DataSourceType.OPENGAUSS: 5432,
    DataSourceType.POSTGRESQL: 5432,
}

_CONNECTION_FIELDS = ("host", "port", "database", "username", "password", "password_env")


class DataSourceSpec(Spec):
    """A connection to a target database, or (type `project`) a warehouse project."""

    kind: ClassVar[str] = "DataSource"

    name: TaskName
    type: DataSourceType
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_env: EnvVar | None = None
    project: Code | None = None
    owner: Login
    description: Description = None

    @model_validator(mode="after")
    def _shape(self) -> DataSourceSpec:
        if self.type is DataSourceType.PROJECT:
            if self.project is None:
                raise field_error("project", "a project data source names its warehouse project")
            given = [f for f in _CONNECTION_FIELDS if getattr(self, f) is not None]
            if given:
                raise field_error(given[0], "a project data source takes no connection fields")
            return self
        if self.project is not None:
            raise field_error("project", f"only for type project, not {self.type.value}")
        missing = [f for f in ("host", "database") if not getattr(self, f)]
        if missing:
            raise field_error(missing[0], f"required for a {self.type.value} data source")
        if self.password is not None and self.password_env is not None:
            raise field_error("password", "give password or password_env, not both")
        if self.port is None:
            object.__setattr__(self, "port", DEFAULT_PORTS[self.type])
        return self

    @property
    def has_schemas(self) -> bool:
        return self.type in SCHEMA_TYPES


class EntitySpec(Spec):
    kind: ClassVar[str] = "Entity"
    key_field: ClassVar[str] = "code"

    code: Code
    name: Name
    project: Code
    id_field: Identifier
    id_type: IdType = IdType.STRING
    description: Description = None


def _codes_as_text(value: Any) -> Any:
    # YAML reads `571: Hangzhou` with an int key; codes are text.
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return value


class LookupTableSpec(Spec):
    """A code value -> code name dictionary for coded tags."""

    kind: ClassVar[str] = "LookupTable"
    key_field: ClassVar[str] = "code"

    code: Code
    name: Name
    codes: Annotated[dict[str, str], BeforeValidator(_codes_as_text)]
    description: Description = None

    @field_validator("codes")
    @classmethod
    def _size(cls, codes: dict[str, str]) -> dict[str, str]:
        if not codes:
            raise ValueError("a lookup table needs at least one code")
        if len(codes) > LOOKUP_MAX_CODES:
            raise ValueError(f"at most {LOOKUP_MAX_CODES:,} codes, not {len(codes):,}")
        return dict(sorted(codes.items()))


class TagSource(Model):
    """Where a tag's values live: a warehouse table keyed by the entity ID, one partition a day."""

    table: str
    key: Identifier
    column: Identifier
    partition: Identifier | None = "ds"
    partition_format: Format = PartitionFormat.YYYYMMDD

    @field_validator("table")
    @classmethod
    def _qualified(cls, value: str) -> str:
        project, _, table = value.partition(".")
        if not (CODE.matches(project) and IDENTIFIER.matches(table)):
            raise ValueError("must be PROJECT.TABLE, e.g. tag_prod.user_profile")
        return value

    @property
    def project(self) -> str:
        return self.table.split(".", 1)[0]


class TagSpec(Spec):
    kind: ClassVar[str] = "Tag"
    key_field: ClassVar[str] = "code"

    code: Code
    name: Name
    entity: Code
    value_type: str
    source: TagSource
    lookup: Code | None = None
    description: Description = None

    @field_validator("value_type")
    @classmethod
    def _type(cls, value: str) -> str:
        return str(ValueType.parse(value))

    @model_validator(mode="after")
    def _lookup_type(self) -> TagSpec:
        if self.lookup and not self.type.allows_lookup:
            raise field_error(
                "lookup",
                f"a {self.type} tag cannot have a lookup table (only string, long and boolean)",
            )
        return self

    @property
    def type(self) -> ValueType:
        return ValueType.parse(self.value_type)

    def lookup_problems(self, codes: dict[str, str]) -> list[str]:
        """Codes of the lookup table that are not values of this tag's type."""
        problems = []
        for code in codes:
            try:
                parse_code(self.type.kind, code)
            except ValueError as exc:
                problems.append(str(exc))
        return problems


class UpdateMethod(StrEnum):
    PERIODIC = "periodic"
    MANUAL = "manual"


class AudienceKind(StrEnum):
    RULE = "rule"
    IMPORT = "import"
    SQL = "sql"


class AudienceGroupSpec(Spec):
    """A set of entity IDs: by rule over tags, imported from a file, or selected by SQL."""

    kind: ClassVar[str] = "AudienceGroup"
    key_field: ClassVar[str] = "code"

    code: Code
    name: Name
    entity: Code
    owner: Login
    update: UpdateMethod = UpdateMethod.PERIODIC
    rule: Rule | None = None
    import_: str | None = Field(default=None, alias="import")
    sql: str | None = None
    description: Description = None

    @model_validator(mode="after")
    def _one_definition(self) -> AudienceGroupSpec:
        given = [n for n in ("rule", "import_", "sql") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("define the audience by exactly one of rule, import or sql")
        return self

    @property
    def audience_kind(self) -> AudienceKind:
        if self.rule is not None:
            return AudienceKind.RULE
        return AudienceKind.IMPORT if self.import_ is not None else AudienceKind.SQL


class ServiceKind(StrEnum):
    AUDIENCE_OFFLINE = "audience_offline"
    TAG_OFFLINE = "tag_offline"
    AUDIENCE_PAGED_QUERY = "audience_paged_query"


class ApplicationSpec(Spec):
    """What services are created under: linked to a tag project, with admins and members."""

    kind: ClassVar[str] = "Application"

    name: TaskName
    project: Code
    services: list[ServiceKind] = Field(default_factory=list)
    admins: Logins = Field(default_factory=list)
    members: Logins = Field(default_factory=list)
    description: Description = None

    @field_validator("services")
    @classmethod
    def _unique(cls, value: list[ServiceKind]) -> list[ServiceKind]:
        return sorted(set(value))
