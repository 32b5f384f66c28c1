"""Targets on the real servers: a PostgreSQL schema, a MariaDB database, a DuckDB file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tagport.targets.base import ConnectionParams
from tagport.targets.mysql import MySqlTarget
from tagport.targets.postgres import PostgresTarget
from tagport.targets.project import ProjectTarget


def pg_params(pg_url: str, schema: str) -> ConnectionParams:
    url = urlparse(pg_url)
    return ConnectionParams(
        host=url.hostname,
        port=url.port or 5432,
        database=url.path.lstrip("/"),
        username=url.username,
        password=url.password,
        schema=schema,
    )


@pytest.fixture
def pg_target(pg_url: str, pg_schema: str) -> Iterator[PostgresTarget]:
    target = PostgresTarget(pg_params(pg_url, pg_schema))
    yield target
    target.close()


@pytest.fixture
def mysql_target(mysql_db: ConnectionParams) -> Iterator[MySqlTarget]:
    target = MySqlTarget(mysql_db)
    yield target
    target.close()


@pytest.fixture
def project_target(tmp_path: Path) -> Iterator[ProjectTarget]:
    target = ProjectTarget(ConnectionParams(database=str(tmp_path / "wh.duckdb"), schema="proj"))
    yield target
    target.close()
