"""The warehouse engine is a setting: one factory builds it, and building it starts nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagport.config import Settings, WarehouseEngine, load_settings
from tagport.errors import ConfigError
from tagport.services.warehouse import open_warehouse
from tagport.warehouse.duckdb import DuckDBWarehouse
from tagport.warehouse.spark import SparkWarehouse


def test_duckdb_is_the_default(tmp_path: Path) -> None:
    house = open_warehouse(Settings(home=tmp_path))
    assert isinstance(house, DuckDBWarehouse) and house.dialect == "duckdb"
    assert house.path == tmp_path / "warehouse.duckdb"
    assert house.memory_limit == "160MB"


def test_duckdbs_memory_limit_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGPORT_HOME", str(tmp_path))
    monkeypatch.setenv("TAGPORT_DUCKDB_MEMORY_LIMIT", "2GiB")
    house = open_warehouse(load_settings())
    assert isinstance(house, DuckDBWarehouse) and house.memory_limit == "2GiB"


def test_spark_is_chosen_with_its_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGPORT_HOME", str(tmp_path))
    monkeypatch.setenv("TAGPORT_WAREHOUSE", "spark")
    monkeypatch.setenv("TAGPORT_SPARK_MASTER", "local[1]")
    monkeypatch.setenv("TAGPORT_SPARK_DRIVER_MEMORY", "512m")
    monkeypatch.setenv("TAGPORT_SPARK_SHUFFLE_PARTITIONS", "2")
    settings = load_settings()
    assert settings.warehouse is WarehouseEngine.SPARK
    house = open_warehouse(settings)
    assert isinstance(house, SparkWarehouse) and house.dialect == "spark"
    assert house.root == tmp_path / "warehouse.spark"
    assert (house.config.master, house.config.driver_memory) == ("local[1]", "512m")
    assert house.config.shuffle_partitions == 2
    assert house.tables() == []  # listing reads the directory: no Spark session needed


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TAGPORT_WAREHOUSE", "oracle"),
        ("TAGPORT_SPARK_SHUFFLE_PARTITIONS", "0"),
        ("TAGPORT_SPARK_DRIVER_MEMORY", "lots"),
        ("TAGPORT_DUCKDB_MEMORY_LIMIT", "160"),
        ("TAGPORT_DUCKDB_MEMORY_LIMIT", "0MB"),
    ],
)
def test_a_bad_engine_setting_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("TAGPORT_HOME", str(tmp_path))
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()
