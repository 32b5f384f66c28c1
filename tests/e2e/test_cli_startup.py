"""The CLI starts fast: `tagport --help` and a subcommand's help import no database, warehouse,
driver or web library (issue 13: they cost a second before any argument was read)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "sqlalchemy",
    "alembic",
    "duckdb",
    "pyarrow",
    "numpy",
    "sqlglot",
    "psycopg",
    "pymysql",
    "oracledb",
    "pgpq",
    "fastapi",
    "uvicorn",
    "pyspark",
    "py4j",
)
PROBE = """
import sys
from pathlib import Path
from tagport.cli.main import run
code = run(sys.argv[1:])
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "argv", [["--help"], ["task", "--help"], ["permission", "--help"], ["warehouse", "--help"]]
)
def test_help_imports_no_database_warehouse_driver_or_web_library(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
    loaded = set(done.stderr.split())
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    env = {"TAGPORT_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "init"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "sqlalchemy" in done.stderr.split()
