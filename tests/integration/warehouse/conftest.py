"""Warehouse tests use real DuckDB files (or Spark's Parquet directories) under tmp_path and a
SQLite metadata store only; `engines` says which tests run on both engines and how."""

from __future__ import annotations

from pathlib import Path

import pyspark  # noqa: F401  (in the dev extra: without it collection fails here, loudly)
import pytest

from tests.integration.warehouse.engines import ENGINES


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meta.db'}"


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine in turn, a module's tests at a time."""
    return str(request.param)


@pytest.fixture
def engine_home(
    engine: str, home: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    """`home`, its warehouse on the engine under test (`TAGPORT_WAREHOUSE`)."""
    monkeypatch.setenv("TAGPORT_WAREHOUSE", engine)
    if engine == "spark":
        request.getfixturevalue("spark_config")  # the shared session, not one of this home's
    return home
