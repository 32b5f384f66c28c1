"""Audience ID files (TXT: one ID per line; CSV: a header naming the entity's ID field).

Parsing is pure: every bad line is reported with its number, duplicates are counted and dropped,
and nothing is stored unless the whole file is valid.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tagport.domain.values import IdType
from tagport.errors import InvalidInput, Problem

MAX_REPORTED = 50
"""Bad lines listed one by one; beyond this the message only counts them."""

_INT64 = re.compile(r"[+-]?\d{1,19}")
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class ParsedIds:
    """The distinct IDs of a file, in first-seen order, and what was dropped."""

    ids: pa.Array
    lines: int
    duplicates: int

    @property
    def count(self) -> int:
        return len(self.ids)


def _parse_id(text: str, id_type: IdType) -> int | str:
    if id_type is IdType.STRING:
        if not text:
            raise ValueError("empty ID")
        return text
    if not _INT64.fullmatch(text) or not -_INT64_MAX - 1 <= int(text) <= _INT64_MAX:
        raise ValueError(f"{text!r} is not a bigint ID")
    return int(text)


def parse_ids(
    rows: Iterable[tuple[int, str]], id_type: IdType, where: str, lines: int
) -> ParsedIds:
    """Validate `(line number, text)` pairs as IDs of `id_type`; InvalidInput lists the bad ones."""
    seen: dict[int | str, None] = {}
    problems: list[Problem] = []
    bad = duplicates = 0
    for number, text in rows:
        try:
            value = _parse_id(text.strip(), id_type)
        except ValueError as exc:
            bad += 1
            if bad <= MAX_REPORTED:
                problems.append(Problem(where, f"line {number}", str(exc)))
            continue
        if value in seen:
            duplicates += 1
        else:
            seen[value] = None
    if bad:
        if bad > MAX_REPORTED:
            problems.append(Problem(where, "", f"{bad - MAX_REPORTED} more bad lines"))
        raise InvalidInput(problems)
    kind = pa.int64() if id_type is IdType.BIGINT else pa.string()
    return ParsedIds(pa.array(list(seen), type=kind), lines, duplicates)


def parse_text(text: str, id_type: IdType, id_field: str, *, is_csv: bool, where: str) -> ParsedIds:
    """IDs of a TXT or CSV file's content; blank lines are skipped."""
    if not is_csv:
        lines = text.splitlines()
        rows = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
        return parse_ids(rows, id_type, where, len(lines))
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    names = [h.strip().lower() for h in header or []]
    if id_field.lower() not in names:
        raise InvalidInput.one(
            where, "line 1", f"the header must name the ID field {id_field!r}; found {header}"
        )
    column = names.index(id_field.lower())
    rows = []
    total = 1
    for record in reader:
        total = reader.line_num
        if not record or not any(cell.strip() for cell in record):
            continue
        rows.append((reader.line_num, record[column] if column < len(record) else ""))
    return parse_ids(rows, id_type, where, total)


def parse_file(path: Path, id_type: IdType, id_field: str) -> ParsedIds:
    """IDs of a `.csv` (with header) or any other text file (one ID per line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput.one(str(path), "import", "file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput.one(str(path), "import", f"not readable as UTF-8 text: {exc}") from None
    is_csv = path.suffix.lower() == ".csv"
    return parse_text(text, id_type, id_field, is_csv=is_csv, where=str(path))
