"""A bad setting is refused in one line that names its variable and says what it should be."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagport.config import load_settings
from tagport.errors import ConfigError


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("TAGPORT_DUCKDB_MEMORY_LIMIT", "lots", "'lots' is not of the form 160MB or 1.5GiB"),
        ("TAGPORT_DUCKDB_MEMORY_LIMIT", "64 mb", "'64 mb' is not of the form 160MB or 1.5GiB"),
        ("TAGPORT_SPARK_DRIVER_MEMORY", "1.5gb", "'1.5gb' is not of the form 1g or 512m"),
        ("TAGPORT_TIMEZONE", "Mars/Base", "unknown time zone 'Mars/Base'"),
        ("TAGPORT_LOAD_STREAMS", "0", "Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_setting_says_what_it_should_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    monkeypatch.setenv("TAGPORT_HOME", str(tmp_path))
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == f"{variable}: {said}"
