"""The Spark warehouse's tables: Parquet files in a directory per project, written by tagport
(pyarrow) and swapped in atomically, laid out so that Spark reads each table as an ordinary
partitioned Parquet table. Nothing here imports Spark.

    <root>/<project>/<table>          symlink to the table's current version
    <root>/<project>/.versions/<table>.<id>/
        _tagport.json                 Arrow schema, partition column, comment (a fingerprint)
        part-<id>.parquet             rows of an unpartitioned table
        <column>=<value>              symlink to .parts/<column>=<value>.<id>, one per partition
        .parts/<column>=<value>.<id>/part-<id>.parquet

Spark ignores names starting with `_` or `.`, so it sees `ds=20240310/` directories of Parquet
files. Replacing a table or one partition writes a new directory and then renames one symlink
over the old (rename(2) is atomic): a reader sees the old rows or the new, never a mix or
nothing. The old directory is deleted after; a query still reading it fails and may be retried.
Writers of a table take its lock (`flock`), so two imports never lose each other's partition.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tagport.errors import InvalidInput, TransientError

META = "_tagport.json"
VERSIONS = ".versions"
PARTS = ".parts"
LOCKS = ".locks"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
"""The directory Spark reads as a NULL partition value."""
_ESCAPED = set("\"#%'*/:=?\\{[]^") | {chr(c) for c in range(1, 32)} | {"\x7f"}
"""Characters Spark escapes as %XX in a partition directory's name (and unescapes reading)."""
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class TableMeta:
    """What a table's version records besides its rows."""

    schema: pa.Schema
    """Every column, the partition column (text) included."""
    partition: str | None
    comment: str = ""

    def to_json(self) -> str:
        encoded = base64.b64encode(self.schema.serialize().to_pybytes()).decode()
        return json.dumps({"schema": encoded, "partition": self.partition, "comment": self.comment})

    @classmethod
    def from_json(cls, text: str) -> TableMeta:
        raw = json.loads(text)
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw["schema"])))
        return cls(schema, raw["partition"], raw.get("comment", ""))


def escape(value: str | None) -> str:
    """A partition value as Spark names its directory."""
    if value is None:
        return NULL_PARTITION
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)


def unescape(name: str) -> str | None:
    if name == NULL_PARTITION:
        return None
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)


def storable(schema: pa.Schema) -> pa.Schema:
    """`schema` as stored: text as string, timestamps in microseconds (what Spark reads),
    unsigned integers widened; anything Spark's tables cannot hold is refused, naming it."""
    fields = []
    for field in schema:
        kind = field.type
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        elif pa.types.is_dictionary(kind):
            kind = kind.value_type
        elif pa.types.is_timestamp(kind):
            kind = pa.timestamp("us", kind.tz)
        elif pa.types.is_unsigned_integer(kind) and kind.bit_width < 64:
            kind = pa.int64() if kind.bit_width == 32 else pa.int32()
        if not _plain(kind):
            raise InvalidInput.one(
                field.name, "type", f"{kind} cannot be stored in the Spark warehouse"
            )
        fields.append(pa.field(field.name, kind))
    return pa.schema(fields)


def _plain(kind: pa.DataType) -> bool:
    checks = (
        pa.types.is_signed_integer,
        pa.types.is_floating,
        pa.types.is_boolean,
        pa.types.is_string,
        pa.types.is_binary,
        pa.types.is_date32,
        pa.types.is_timestamp,
        pa.types.is_decimal128,
    )
    return any(check(kind) for check in checks)


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


class ParquetTables:
    """The tables under `root`, by qualified name `PROJECT.TABLE`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # --- reading ------------------------------------------------------------------------------

    def link(self, table: str) -> Path:
        project, _, name = table.partition(".")
        return self.root / project / name

    def version(self, table: str) -> Path | None:
        """The directory of the table's current version (resolved), None when there is none."""
        link = self.link(table)
        if not link.is_symlink():
            return None
        target = Path(os.path.realpath(link))
        return target if (target / META).is_file() else None

    def meta(self, table: str, version: Path | None = None) -> TableMeta | None:
        version = version or self.version(table)
        if version is None:
            return None
        return TableMeta.from_json((version / META).read_text(encoding="utf-8"))

    def names(self, project: str | None = None) -> list[str]:
        """`PROJECT.TABLE` of every table (of one project), sorted."""
        if not self.root.is_dir():
            return []
        projects = [project] if project else sorted(p.name for p in self.root.iterdir())
        found = []
        for name in projects:
            folder = self.root / name
            if name.startswith((".", "_")) or not folder.is_dir():
                continue
            found += [
                f"{name}.{entry.name}"
                for entry in sorted(folder.iterdir())
                if not entry.name.startswith((".", "_"))
                and self.version(f"{name}.{entry.name}") is not None
            ]
        return found

    def partitions(self, version: Path, column: str) -> dict[str | None, Path]:
        """The partition directories of a version by value."""
        prefix = f"{column}="
        return {
            unescape(entry.name[len(prefix) :]): entry
            for entry in sorted(version.iterdir())
            if entry.name.startswith(prefix)
        }

    def rows(self, folder: Path) -> int:
        """Rows in the Parquet files directly in `folder` (footers only)."""
        return sum(pq.ParquetFile(f).metadata.num_rows for f in data_files(folder))

    def table_rows(self, version: Path, meta: TableMeta) -> int:
        if meta.partition is None:
            return self.rows(version)
        return sum(self.rows(p) for p in self.partitions(version, meta.partition).values())

    # --- writing ------------------------------------------------------------------------------

    @contextmanager
    def _locked(self, table: str) -> Iterator[None]:
        """This table's writers, one at a time (across processes too)."""
        project, _, name = table.partition(".")
        locks = self.root / project / LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / name, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(
        self,
        table: str,
        batches: pa.RecordBatchReader,
        *,
        partition: str | None,
        comment: str = "",
        append: bool = False,
    ) -> int:
        """A new version of `table` holding `batches` (after the current rows when `append`),
        partitioned by the text column `partition`, swapped in at once. Returns rows written."""
        schema = storable(batches.schema)
        project, _, name = table.partition(".")
        with self._locked(table):
            old = self.version(table)
            old_meta = self.meta(table, old) if append and old is not None else None
            if old_meta is not None and not old_meta.schema.equals(schema):
                raise InvalidInput.one(table, "columns", "do not match the table's columns")
            version = self.root / project / VERSIONS / f"{name}.{_new_id()}"
            version.mkdir(parents=True)
            try:
                if old_meta is not None and old is not None:
                    _link_rows(old, version, partition)
                written = _write_rows(version, batches, schema, partition)
                meta = TableMeta(schema, partition, comment)
                (version / META).write_text(meta.to_json(), encoding="utf-8")
                _swap(self.link(table), version)
            except BaseException:
                shutil.rmtree(version, ignore_errors=True)
                raise
            self._sweep(table, keep=version)
        return written

    def write_partition(
        self, table: str, column: str, value: str, data: pa.Table, expected: TableMeta
    ) -> int:
        """Replace one partition of an existing table partitioned by `column`, at once. The
        table must still be as `expected` (what `data` was checked against)."""
        with self._locked(table):
            version = self.version(table)
            meta = self.meta(table, version)
            if version is None or meta != expected or column != expected.partition:
                raise TransientError(f"table {table} changed while it was imported into; again")
            stored = pa.schema([f for f in meta.schema if f.name != column])
            folder = version / PARTS / f"{column}={escape(value)}.{_new_id()}"
            folder.mkdir(parents=True)
            try:
                _write_file(folder, data.select(stored.names).cast(stored).to_batches(), stored)
                _swap(version / f"{column}={escape(value)}", folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            _sweep_parts(version)
        return int(data.num_rows)

    def _sweep(self, table: str, keep: Path) -> None:
        """Delete the table's versions but `keep` (the one just swapped out, or left by a crash)."""
        project, _, name = table.partition(".")
        for old in (self.root / project / VERSIONS).glob(f"{name}.*"):
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)


def data_files(folder: Path) -> list[Path]:
    """The Parquet files Spark would read directly in `folder`, in name order."""
    return sorted(
        f for f in folder.iterdir() if f.suffix == ".parquet" and not f.name.startswith((".", "_"))
    )


def _swap(link: Path, target: Path) -> None:
    """Point `link` at `target` in one rename; delete what it pointed at before."""
    before = Path(os.path.realpath(link)) if link.is_symlink() else None
    temporary = link.with_name(f".{link.name}.{_new_id()}")
    temporary.symlink_to(os.path.relpath(target, link.parent))
    try:
        os.replace(temporary, link)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if before is not None and before != target:
        shutil.rmtree(before, ignore_errors=True)


def _sweep_parts(version: Path) -> None:
    """Delete partition directories no partition points at (a crash's leftovers)."""
    linked = {Path(os.path.realpath(p)) for p in version.iterdir() if p.is_symlink()}
    for folder in (version / PARTS).iterdir():
        if folder not in linked:
            shutil.rmtree(folder, ignore_errors=True)


def _write_file(folder: Path, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> int:
    """One Parquet file of `batches` in `folder`; its rows."""
    written = 0
    with pq.ParquetWriter(folder / f"part-{_new_id()}.parquet", schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            written += batch.num_rows
    return written


def _write_rows(
    version: Path, batches: pa.RecordBatchReader, schema: pa.Schema, partition: str | None
) -> int:
    """The rows into the version: one file, or one file per partition value."""
    if partition is None:
        return _write_file(version, (b.cast(schema) for b in batches), schema)
    stored = pa.schema([f for f in schema if f.name != partition])
    writers: dict[str | None, pq.ParquetWriter] = {}
    written = 0
    try:
        for batch in batches:
            batch = batch.cast(schema)
            values = batch.column(partition)
            for value in pc.unique(values).to_pylist():
                mask = pc.is_null(values) if value is None else pc.equal(values, value)
                rows = batch.filter(mask).select(stored.names)
                if value not in writers:
                    folder = _partition_folder(version, partition, value)
                    path = folder / f"part-{_new_id()}.parquet"
                    writers[value] = pq.ParquetWriter(path, stored)
                writers[value].write_batch(rows)
                written += rows.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return written


def _partition_folder(version: Path, column: str, value: str | None) -> Path:
    """The partition's directory in a version being written, made (and linked) on first use."""
    link = version / f"{column}={escape(value)}"
    if link.is_symlink():
        return Path(os.path.realpath(link))
    folder = version / PARTS / f"{link.name}.{_new_id()}"
    folder.mkdir(parents=True)
    link.symlink_to(os.path.relpath(folder, version))
    return folder


def _link_rows(old: Path, version: Path, partition: str | None) -> None:
    """The old version's files into the new one as hard links (appending copies nothing)."""
    if partition is None:
        for file in data_files(old):
            os.link(file, version / file.name)
        return
    for link in sorted(old.iterdir()):
        if link.is_symlink() and link.name.startswith(f"{partition}="):
            folder = _partition_folder(version, partition, unescape(link.name.split("=", 1)[1]))
            for file in data_files(Path(os.path.realpath(link))):
                os.link(file, folder / file.name)
