"""Reading a file to import into a warehouse table (CSV with header, or Parquet) as Arrow data.

tagport opens the file itself and hands the engine Arrow data, so the warehouse never opens a
path a person gave. A path is a path: no glob, `*` is a character of the name. Everything is
checked before anything is written: a bad value names its file, line, column, value and the
type expected (at most `MAX_ERRORS` of them, then the import stops), an extra or missing column
and an empty file (unless allowed) are refused, and so is anything but a regular file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tagport.errors import InvalidInput, Problem

MAX_ERRORS = 10
"""Bad values and rows listed before an import stops looking."""
PARQUET_SUFFIXES = (".parquet", ".pq")
_INFERRED = (pa.int64(), pa.float64(), pa.bool_(), pa.date32(), pa.timestamp("us"))
"""Types a new table's CSV column gets when every value is one, tried in this order."""
_CHUNK = 10_000


@contextmanager
def open_regular(path: Path) -> Iterator[BinaryIO]:
    """`path` opened for reading, refused unless it is a regular file (never blocks on a FIFO)."""
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InvalidInput.one(where, "", "no such file (a path is taken literally)") from None
    except OSError as exc:
        raise InvalidInput.one(where, "", f"cannot be opened: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput.one(where, "", "not a regular file (a directory, FIFO or device)")
    with os.fdopen(fd, "rb") as file:
        yield file


def read_table_file(
    path: Path,
    expected: pa.Schema | None,
    *,
    skip: str | None = None,
    allow_empty: bool = False,
) -> pa.Table:
    """The file's rows as Arrow, typed as `expected` (an existing table's columns, by name, in
    any case) or, for a new table, as inferred from every value of each column.

    `skip` names a column the file may carry or lack (the partition column, which the import
    fills itself); it is dropped. InvalidInput lists every problem found (at most MAX_ERRORS).
    """
    with open_regular(path) as file:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            data = _read_parquet(path, file)
        else:
            data = _read_csv(path, file)
    if skip is not None:
        data = data.drop_columns([n for n in data.column_names if n.lower() == skip.lower()])
    if data.num_rows == 0 and not allow_empty:
        raise InvalidInput.one(
            str(path), "", "has no rows; an import replaces data, give --allow-empty to mean it"
        )
    if expected is None:
        return _inferred(data)
    rows = ("row", 1) if path.suffix.lower() in PARQUET_SUFFIXES else ("line", 2)
    return _typed(str(path), data, expected, skip, rows)


def _read_parquet(path: Path, file: BinaryIO) -> pa.Table:
    try:
        return pq.read_table(file)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput.one(str(path), "", f"not a readable Parquet file: {exc}") from None


def _read_csv(path: Path, file: BinaryIO) -> pa.Table:
    """Every value as text (typing comes after); malformed rows are listed by line."""
    where = str(path)
    head = file.readline()
    if not head.strip():
        raise InvalidInput.one(where, "line 1", "no header line naming the columns")
    file.seek(0)
    lenient = pcsv.ParseOptions(invalid_row_handler=lambda row: "skip")
    try:
        columns = pcsv.open_csv(file, parse_options=lenient).schema.names  # the first block only
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise InvalidInput.one(where, "", f"not a readable CSV file: {exc}") from None
    duplicates = sorted({c for c in columns if [x.lower() for x in columns].count(c.lower()) > 1})
    if duplicates:
        raise InvalidInput.one(where, "line 1", f"columns named twice: {', '.join(duplicates)}")
    problems: list[Problem] = []

    def bad_row(row: pcsv.InvalidRow) -> str:
        if len(problems) < MAX_ERRORS:
            line = f"line {row.number}" if row.number is not None else ""
            problems.append(
                Problem(
                    where,
                    line,
                    f"has {row.actual_columns} fields, the header names {row.expected_columns}",
                )
            )
        return "skip"

    file.seek(0)
    try:
        data = pcsv.read_csv(
            file,
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(invalid_row_handler=bad_row),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=True
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise InvalidInput.one(where, "", f"not a readable CSV file: {exc}") from None
    if problems:
        raise InvalidInput(problems)
    return data


def _inferred(data: pa.Table) -> pa.Table:
    """Text columns typed as the first of `_INFERRED` every value fits, else kept as text."""
    columns = []
    for column in data.columns:
        if pa.types.is_string(column.type) and column.null_count < len(column):
            column = next((c for t in _INFERRED if (c := _try_cast(column, t)) is not None), column)
        columns.append(column)
    return pa.table(columns, names=data.column_names)


def _try_cast(column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray | None:
    try:
        return pc.cast(column, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _typed(
    where: str, data: pa.Table, expected: pa.Schema, skip: str | None, rows: tuple[str, int]
) -> pa.Table:
    """`data` shaped as `expected`: same columns (by name, any case), values cast to their types.
    `rows` says how a row is named: ("line", 2) in a CSV file with its header, ("row", 1) else."""
    wanted = {f.name.lower(): f for f in expected if skip is None or f.name.lower() != skip.lower()}
    have = {n.lower(): n for n in data.column_names}
    extra = [n for n in data.column_names if n.lower() not in wanted]
    missing = [f.name for key, f in wanted.items() if key not in have]
    problems = [Problem(where, "", f"column {n!r} is not in the table") for n in extra]
    problems += [Problem(where, "", f"column {n!r} of the table is missing") for n in missing]
    if problems:
        listed = ", ".join(f.name for f in wanted.values())
        problems.append(Problem(where, "", f"the table's columns are: {listed}"))
        raise InvalidInput(problems)
    columns: list[pa.ChunkedArray] = []
    names: list[str] = []
    for key, field in wanted.items():
        column = data.column(have[key])
        cast = _try_cast(column, field.type)
        if cast is None:
            problems += _bad_values(where, field, column, MAX_ERRORS - len(problems), rows)
            if len(problems) >= MAX_ERRORS:
                break
            continue
        columns.append(cast)
        names.append(field.name)
    if problems:
        if len(problems) >= MAX_ERRORS:
            problems.append(Problem(where, "", f"stopped after {MAX_ERRORS} bad values"))
        raise InvalidInput(problems)
    return pa.table(columns, names=names)


def _bad_values(
    where: str, field: pa.Field, column: pa.ChunkedArray, room: int, rows: tuple[str, int]
) -> list[Problem]:
    """Up to `room` values of `column` that do not cast to the field's type, by line or row;
    chunks that cast whole are skipped without looking at each value."""
    label, first = rows
    found: list[Problem] = []
    values = column.combine_chunks()
    for start in range(0, len(values), _CHUNK):
        chunk = values.slice(start, _CHUNK)
        if _try_cast(pa.chunked_array([chunk]), field.type) is not None:
            continue
        for offset, value in enumerate(chunk.to_pylist()):
            if value is None or _try_cast(pa.chunked_array([[value]]), field.type) is not None:
                continue
            found.append(
                Problem(
                    where,
                    f"{label} {start + offset + first}, column {field.name}",
                    f"{_shown(value)} is not a valid {_sql_type(field.type)}",
                )
            )
            if len(found) >= room:
                return found
    return found


_SQL_TYPES = {
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.string(): "varchar",
}


def _sql_type(arrow: pa.DataType) -> str:
    """A column's type as the warehouse's SQL names it (what `warehouse tables` shows)."""
    if pa.types.is_decimal(arrow):
        return f"decimal({arrow.precision},{arrow.scale})"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    return _SQL_TYPES.get(arrow, str(arrow))


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
