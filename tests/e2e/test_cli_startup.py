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
    "cryptography",
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
    # A subcommand's help runs the root callback, which reads the settings (pydantic); the
    # top-level help builds no model at all.
    heavy = set(HEAVY) | ({"pydantic"} if argv == ["--help"] else set())
    assert not loaded & heavy, sorted(loaded & heavy)


def test_the_help_names_every_kind_of_document_in_order() -> None:
    from tagport.cli.main import KIND_NAMES
    from tagport.domain.documents import KINDS

    assert ", ".join(KINDS) == KIND_NAMES


def test_a_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    env = {"TAGPORT_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "init"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "sqlalchemy" in done.stderr.split()
