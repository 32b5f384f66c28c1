"""How large an export's range queries are: no larger than the memory limit holds side by side,
whatever the export's size (a fixed cap on their number made 30M members' ranges too large)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagport.errors import ConfigError
from tagport.warehouse import queries
from tagport.warehouse.duckdb import (
    BYTES_PER_VALUE,
    CHUNK_ROWS,
    MOST_RANGES,
    QUERIES_AT_ONCE,
    range_members,
    size_bytes,
)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("160MB", 160_000_000),
        ("160 MB", 160_000_000),
        ("1.5GiB", 1_610_612_736),
        ("64KiB", 65_536),
        ("2TB", 2_000_000_000_000),
    ],
)
def test_memory_sizes_read_with_duckdbs_units(size: str, expected: int) -> None:
    assert size_bytes(size) == expected


@pytest.mark.parametrize("size", ["160", "160 mb", "MB", "1,5GB", "-1MB"])
def test_a_size_that_is_not_one_is_a_config_error(size: str) -> None:
    with pytest.raises(ConfigError, match=r"is not a memory size such as 160MB or 1\.5GiB"):
        size_bytes(size)


def test_the_default_limit_keeps_the_measured_range_size() -> None:
    """Two streams of 9 columns at 160MB: about the 250,000 members measured to fit."""
    assert range_members(CHUNK_ROWS, "160MB", 9, QUERIES_AT_ONCE) == 222_222
    assert range_members(CHUNK_ROWS, None, 9, QUERIES_AT_ONCE) == CHUNK_ROWS
    assert range_members(CHUNK_ROWS, "64GB", 9, 4) == CHUNK_ROWS


@given(
    megabytes=st.integers(min_value=1, max_value=100_000),
    columns=st.integers(min_value=0, max_value=500),
    at_once=st.integers(min_value=1, max_value=16),
    most=st.integers(min_value=1, max_value=10**7),
)
def test_ranges_running_at_once_fit_the_limit(
    megabytes: int, columns: int, at_once: int, most: int
) -> None:
    members = range_members(most, f"{megabytes}MB", columns, at_once)
    assert 1 <= members <= most
    if members > 1:
        assert members * at_once * max(1, columns) * BYTES_PER_VALUE <= megabytes * 10**6


@given(rows=st.integers(min_value=0, max_value=50_000_000), megabytes=st.integers(64, 4096))
def test_every_export_is_cut_into_ranges_that_fit(rows: int, megabytes: int) -> None:
    """Up to 50M members at 64MB or more, the ranges are as many as their size needs (past
    `MOST_RANGES`, the sample's resolution, they would grow again)."""
    members = range_members(CHUNK_ROWS, f"{megabytes}MB", 9, QUERIES_AT_ONCE)
    sample = list(range(0, rows, max(1, rows // queries.SAMPLE_SIZE)))[: queries.SAMPLE_SIZE]
    ranges = queries.id_ranges(rows, sample, members, MOST_RANGES)
    assert rows / len(ranges) <= members * 1.01
