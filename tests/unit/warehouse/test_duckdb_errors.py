"""How DuckDB's errors reach a person: a problem of their SQL as such, a resource limit as the
warehouse's, never the other way round."""

from __future__ import annotations

import duckdb
import pytest

from tagport.errors import InvalidInput, TerminalError, TransientError
from tagport.warehouse.duckdb import _not_the_sql, _translate

DOING = "exporting audience group everyone"


def test_running_out_of_memory_is_the_warehouses_limit_not_the_sql() -> None:
    error = duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data of size 4MB")
    assert _not_the_sql(error)
    translated = _translate(error, DOING)
    assert isinstance(translated, TerminalError)
    assert str(translated) == (
        "exporting audience group everyone: the warehouse ran out of its memory limit (Out of "
        "Memory Error: failed to allocate data of size 4MB); raise TAGPORT_DUCKDB_MEMORY_LIMIT, "
        "or run fewer load streams (TAGPORT_LOAD_STREAMS) or fewer runs at once"
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            duckdb.IOException('Could not set lock on file "w.duckdb": Conflicting lock'),
            TransientError,
        ),
        (duckdb.InterruptException("INTERRUPT Error: Interrupted!"), TerminalError),
    ],
)
def test_a_busy_or_interrupted_warehouse_is_not_the_sql(error: duckdb.Error, kind: type) -> None:
    assert _not_the_sql(error)
    assert isinstance(_translate(error, DOING), kind)


def test_a_parser_or_catalog_error_is_the_sqls() -> None:
    assert not _not_the_sql(duckdb.CatalogException("Catalog Error: Table with name x"))
    parse = _translate(duckdb.ParserException("Parser Error: syntax error at or near"), DOING)
    assert isinstance(parse, InvalidInput)
