"""`warehouse import` cannot lose data: every refusal leaves the partition as it was, and says
which file, line, column and value is wrong (issue 10 item 8, issue 17 finding 9)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tagport.cli.main import run
from tagport.domain.dates import PartitionFormat
from tagport.errors import InvalidInput
from tagport.warehouse.base import PartitionRef, Warehouse
from tagport.warehouse.duckdb import DuckDBWarehouse
from tagport.warehouse.files import MAX_ERRORS
from tests.integration.warehouse.engines import make_warehouse

DS = "20240502"


@pytest.fixture
def house(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Warehouse:
    """Table p.scores (uid bigint, score bigint, ds) with two rows in partition DS."""
    warehouse = make_warehouse(engine, tmp_path, request)
    first = tmp_path / "first.csv"
    first.write_text("uid,score\n1,5\n2,7\n")
    assert warehouse.import_table("p.scores", first, partition_value=DS) == 2
    return warehouse


def partition(house: Warehouse) -> list[dict[str, object]]:
    sql = f"SELECT uid, score FROM p.scores WHERE ds = '{DS}' ORDER BY uid"
    return house.query(sql).table.to_pylist()


INTACT = [{"uid": 1, "score": 5}, {"uid": 2, "score": 7}]


def refused(house: Warehouse, file: Path, **options: bool) -> list[str]:
    """The problems of importing `file` into partition DS, which must stay as it was."""
    with pytest.raises(InvalidInput) as caught:
        house.import_table("p.scores", file, partition_value=DS, **options)
    assert partition(house) == INTACT
    return [str(p) for p in caught.value.problems]


def test_a_bad_value_names_file_line_column_value_and_type(
    house: Warehouse, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("uid,score\n3,4\n4,abc\n")
    assert refused(house, bad) == [f"{bad}: line 3, column score: 'abc' is not a valid bigint"]


def test_bad_values_stop_at_a_bound_and_all_are_listed(house: Warehouse, tmp_path: Path) -> None:
    bad = tmp_path / "many.csv"
    bad.write_text("uid,score\n" + "".join(f"{i},x{i}\n" for i in range(30)))
    problems = refused(house, bad)
    assert problems[:2] == [
        f"{bad}: line 2, column score: 'x0' is not a valid bigint",
        f"{bad}: line 3, column score: 'x1' is not a valid bigint",
    ]
    assert len(problems) == MAX_ERRORS + 1
    assert problems[-1] == f"{bad}: stopped after {MAX_ERRORS} bad values"


def test_extra_and_missing_columns_are_named(house: Warehouse, tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text("uid,score,bonus\n3,4,1\n")
    assert refused(house, extra) == [
        f"{extra}: column 'bonus' is not in the table",
        f"{extra}: the table's columns are: uid, score",
    ]
    missing = tmp_path / "missing.csv"
    missing.write_text("uid\n3\n")
    assert refused(house, missing)[0] == f"{missing}: column 'score' of the table is missing"
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("uid,score\n3,4\n5,6,7\n")
    assert refused(house, ragged) == [f"{ragged}: line 3: has 3 fields, the header names 2"]


def test_an_empty_file_needs_allow_empty(house: Warehouse, tmp_path: Path) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text("uid,score\n")
    assert "has no rows" in refused(house, header_only)[0]
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    assert refused(house, blank, allow_empty=True) == [
        f"{blank}: line 1: no header line naming the columns"
    ]
    assert house.import_table("p.scores", header_only, partition_value=DS, allow_empty=True) == 0
    assert partition(house) == []


def test_a_path_is_never_a_glob(house: Warehouse, tmp_path: Path) -> None:
    for name in ("day1.csv", "day2.csv"):
        (tmp_path / name).write_text("uid,score\n8,8\n")
    pattern = tmp_path / "day*.csv"
    assert refused(house, pattern) == [f"{pattern}: no such file (a path is taken literally)"]
    pattern.write_text("uid,score\n9,9\n")  # a file really named so is just that file
    assert house.import_table("p.scores", pattern, partition_value=DS) == 1
    assert partition(house) == [{"uid": 9, "score": 9}]


def test_fifos_directories_and_devices_are_not_regular_files(
    house: Warehouse, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path, Path("/dev/null")):
        assert refused(house, path) == [f"{path}: not a regular file (a directory, FIFO or device)"]


def test_parquet_is_typed_as_the_table(house: Warehouse, tmp_path: Path) -> None:
    good = tmp_path / "day.parquet"
    pq.write_table(pa.table({"score": pa.array([3], pa.int32()), "uid": [4]}), good)
    assert house.import_table("p.scores", good, partition_value=DS) == 1
    assert partition(house) == [{"uid": 4, "score": 3}]


def test_a_new_table_gets_the_types_every_value_fits(tmp_path: Path) -> None:
    house = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    file = tmp_path / "mixed.csv"
    rows = [f"{i},{i}.5,2024-01-0{i % 9 + 1},true,c{i}" for i in range(3)]
    file.write_text("id,ratio,day,flag,code\n" + "\n".join(rows) + "\n,,,,\n")
    assert house.import_table("p.mixed", file) == 4
    types = house.query(
        "SELECT column_name AS c, data_type AS t FROM information_schema.columns "
        "WHERE table_name = 'mixed' ORDER BY ordinal_position"
    ).table.to_pylist()
    assert [r["t"] for r in types] == ["BIGINT", "DOUBLE", "DATE", "BOOLEAN", "VARCHAR"]


def test_the_cli_reports_the_problem_and_writes_nothing(
    engine_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init"]) == 0
    day = tmp_path / "day.csv"
    day.write_text("user_id,score\n1,3\n")
    assert run(["warehouse", "import", "tag_prod.extra", str(day), "--ds", "2024-05-02"]) == 0
    header_only = tmp_path / "header.csv"
    header_only.write_text("user_id,score\n")
    args = ["warehouse", "import", "tag_prod.extra", str(header_only), "--ds", "2024-05-02"]
    capsys.readouterr()
    assert run(args) == 3
    assert "has no rows" in capsys.readouterr().err
    assert run(["warehouse", "sql", "SELECT count(*) AS n FROM tag_prod.extra", "--json"]) == 0
    assert '"n": 1' in capsys.readouterr().out
    assert run([*args, "--allow-empty"]) == 0
    assert "imported 0 rows" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", list(PartitionFormat), ids=lambda f: f.value)
def test_a_partition_in_any_format_is_kept_as_text(
    house: Warehouse, tmp_path: Path, fmt: PartitionFormat
) -> None:
    """`2024/05/02` is a partition of its own, read back as written (Spark keeps it in a
    directory `ds=2024%2F05%2F02`, and never reads it as a number or a date)."""
    day = tmp_path / "day.csv"
    day.write_text("uid,score\n8,1\n9,2\n")
    value = fmt.render(date(2024, 5, 2))
    assert house.import_table("p.days", day, partition_value=value, partition_column="dt") == 2
    assert house.import_table("p.days", day, partition_value="x=1/%", partition_column="dt") == 2
    counts = house.query("SELECT dt, count(*) AS n FROM p.days GROUP BY dt ORDER BY dt")
    assert counts.table.to_pylist() == sorted(
        [{"dt": value, "n": 2}, {"dt": "x=1/%", "n": 2}], key=lambda r: str(r["dt"])
    )
    ready = house.readiness([PartitionRef("p.days", "dt", value)], date(2024, 5, 2))
    assert ready.ready
