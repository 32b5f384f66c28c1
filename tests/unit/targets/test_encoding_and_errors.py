"""Pure pieces of the targets: MySQL CSV encoding, error translation, type map, Oracle SQL, and
what a write checks and counts (its columns, its streams, its progress)."""

from __future__ import annotations

import datetime as dt
import decimal
import time
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pymysql
import pytest
import sqlglot

from tagport.domain.catalog import DataSourceType
from tagport.domain.dates import PartitionFormat
from tagport.domain.values import ValueType
from tagport.errors import InvalidInput, TerminalError, TransientError
from tagport.targets import target_class
from tagport.targets.base import (
    ColumnInfo,
    ConnectionParams,
    LoadProgress,
    PartitionValue,
    ProgressMeter,
    TableInfo,
    chained,
    column_order_problem,
    streams_of,
)
from tagport.targets.mysql import encode_csv, translate_mysql
from tagport.targets.oracle import OracleTarget
from tagport.targets.typemap import Family, column_type, markdown_table

DOCS = Path(__file__).resolve().parents[3] / "docs" / "targets.md"


def test_mysql_csv_quotes_every_value_and_leaves_null_bare() -> None:
    batch = pa.record_batch(
        {
            "id": pa.array([1, 2, None], pa.int64()),
            "s": pa.array(['a"b,c\nd\\e', "", None]),
            "b": pa.array([True, False, None]),
            "d": pa.array([dt.date(2024, 1, 2), None, None]),
            "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 6), None, None], pa.timestamp("us")),
            "n": pa.array([decimal.Decimal("1.50"), None, None], pa.decimal128(5, 2)),
        }
    )
    assert bytes(encode_csv(batch)) == (
        b'"1","a""b,c\nd\\e","1","2024-01-02","2024-01-02 03:04:05.000006","1.50"\n'
        b'"2","","0",NULL,NULL,NULL\n'
        b"NULL,NULL,NULL,NULL,NULL,NULL\n"
    )
    assert bytes(encode_csv(batch.slice(1, 1))) == b'"2","","0",NULL,NULL,NULL\n'


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        (1045, TerminalError, "refused the login"),
        (1049, TerminalError, "unknown database"),
        (2003, TransientError, "connection refused"),
        (1213, TransientError, "retry"),
        (1205, TransientError, "retry"),
        (2013, TransientError, "retry"),
        (1146, TerminalError, "missing table"),
        (1142, TerminalError, "permission denied"),
        (1064, TerminalError, "MySQL"),
    ],
)
def test_mysql_errors_translate(code: int, kind: type[Exception], words: str) -> None:
    translated = translate_mysql(pymysql.err.OperationalError(code, "text"))
    assert isinstance(translated, kind) and words in str(translated)
    assert translate_mysql(ValueError("not a driver error")) is None


def test_docs_show_the_type_mapping_table() -> None:
    assert markdown_table() in DOCS.read_text()


@pytest.mark.parametrize("kind", list(DataSourceType))
def test_docs_show_each_types_capabilities(kind: DataSourceType) -> None:
    c = target_class(kind).capabilities

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    cells = [
        kind.value,
        yes(c.schemas),
        yes(c.partitioned_tables),
        yes(c.transactional_ddl),
        yes(c.atomic_multi_rename),
        str(c.identifier_max_length),
        yes(c.distributed_by),
        yes(c.sorted_load),
        f"{c.load_streams} / {c.max_load_streams}",
        c.bulk_path,
    ]
    assert f"| {' | '.join(cells)} |" in DOCS.read_text()


def test_decimals_beyond_a_family_limit_are_refused() -> None:
    assert column_type(Family.MYSQL, ValueType.parse("decimal(38,18)")) == "decimal(38,18)"
    with pytest.raises(InvalidInput, match="exceeds"):
        column_type(Family.MYSQL, ValueType.parse("decimal(38,31)"))


class _CatalogOracle(OracleTarget):
    """An OracleTarget whose catalog queries are answered from a dict: no server here."""

    answers: ClassVar[dict[str, list[tuple[Any, ...]]]] = {
        "all_constraints": [("SYS_C0012345",)],
        "all_tab_privs": [("REPORTING", "SELECT", "NO")],
        "all_tab_comments": [(None, "export"), ("city", "tag city")],
    }

    def _query(self, sql: str, params: Any = ()) -> list[tuple[object, ...]]:
        return next((list(rows) for key, rows in self.answers.items() if key in sql), [])

    def describe_table(self, table: str, schema: str | None = None) -> TableInfo:
        return TableInfo(schema, table, (), ("user_id",))


def test_oracle_swap_is_a_rename_sequence_that_restores_key_grants_and_comments() -> None:
    target = _CatalogOracle(ConnectionParams(username="tagport"))
    statements = [s.sql for s in target.swap_statements(None, "MEMBERS")]
    assert statements == [
        'ALTER TABLE "TAGPORT"."MEMBERS" RENAME TO "MEMBERS_dpfx_tmp"',
        'ALTER TABLE "TAGPORT"."MEMBERS_dpfx_b" RENAME TO "MEMBERS"',
        'DROP TABLE "TAGPORT"."MEMBERS_dpfx_tmp" PURGE',
        'ALTER TABLE "TAGPORT"."MEMBERS" ADD CONSTRAINT "SYS_C0012345" PRIMARY KEY ("user_id")',
        'GRANT SELECT ON "TAGPORT"."MEMBERS" TO "REPORTING"',
        'COMMENT ON TABLE "TAGPORT"."MEMBERS" IS \'export\'',
        'COMMENT ON COLUMN "TAGPORT"."MEMBERS"."city" IS \'tag city\'',
    ]
    for statement in statements[:2]:
        sqlglot.parse_one(statement, read="oracle")


def test_oracle_partition_replacement_merges_so_the_new_row_wins() -> None:
    columns = tuple(ColumnInfo(n, "VARCHAR2", True) for n in ("id", "v", "ds"))
    info = TableInfo("S", "T", columns, ("id", "ds"))
    p = PartitionValue("ds", PartitionFormat.DASHED, dt.date(2024, 1, 2))
    statements = OracleTarget.dialect.replace_partition('"S"."T"', '"S"."T_dpfx_b"', info, p)
    assert statements[0].sql == 'DELETE FROM "S"."T" WHERE "ds" = :1'
    assert statements[0].params == ("2024-01-02",)
    merge = statements[1].sql
    assert merge.startswith('MERGE INTO "S"."T" t USING "S"."T_dpfx_b" s ON (t."id" = s."id"')
    assert sqlglot.parse_one(merge, read="oracle") is not None


def test_a_target_without_slice_loads_refuses_a_slice_transaction_by_name() -> None:
    """Only families whose capabilities offer `slice_loads` load slices (Oracle does not)."""
    target = OracleTarget(ConnectionParams(username="tagport"))
    assert not target.capabilities.slice_loads
    with pytest.raises(NotImplementedError, match=r"^OracleTarget does not load slices$"):
        target._transaction()


@pytest.mark.parametrize(
    ("given", "key", "problem"),
    [
        (["USER_ID", "age"], ["User_Id"], None),  # names in any case, some columns left out
        (["user_id", "city", "age"], ["user_id"], None),
        (["nope"], [], "columns ['nope'] are not columns of the table in its order {table}"),
        (["user_id", "nope"], [], "columns ['user_id', 'nope'] are not columns {rest}"),
        (["city", "user_id"], [], "columns ['city', 'user_id'] are not columns {rest}"),
        (["user_id", "user_id"], [], "columns ['user_id', 'user_id'] are not columns {rest}"),
        (["city"], ["user_id"], "the primary key column(s) ['user_id'] are not written"),
        (
            ["user_id", "city"],
            ["user_id", "Age"],
            "the primary key column(s) ['Age'] are not written",
        ),
    ],
)
def test_the_batches_columns_must_be_table_columns_in_order_with_the_key(
    given: list[str], key: list[str], problem: str | None
) -> None:
    table = ["user_id", "city", "age"]
    rest = f"of the table in its order {table}"
    expected = problem and problem.format(table=table, rest=rest)
    assert column_order_problem(table, given, key) == expected


@pytest.mark.parametrize(
    ("kind", "asked", "streams"),
    [
        (DataSourceType.POSTGRESQL, None, 1),  # the family's default
        (DataSourceType.MYSQL, None, 2),
        (DataSourceType.POSTGRESQL, 3, 3),  # TAGPORT_LOAD_STREAMS
        (DataSourceType.MYSQL, 1, 1),
        (DataSourceType.POSTGRESQL, 40, 16),  # never more than the target's most
        (DataSourceType.ORACLE, 4, 1),
        (DataSourceType.PROJECT, 4, 1),
    ],
)
def test_a_load_uses_the_streams_asked_for_up_to_the_targets_most(
    kind: DataSourceType, asked: int | None, streams: int
) -> None:
    assert target_class(kind).capabilities.streams(asked) == streams


def test_progress_tells_the_rows_so_far_and_the_seconds_since_the_load_started() -> None:
    told: list[LoadProgress] = []
    started = time.monotonic()
    meter = ProgressMeter(told.append)
    meter.add(5)
    meter.add(7)
    elapsed = time.monotonic() - started
    assert [p.rows for p in told] == [5, 12] and meter.rows == 12
    assert all(0 <= p.seconds <= elapsed for p in told)
    assert told[0].seconds <= told[1].seconds
    ProgressMeter(None).add(3)  # no callback: counted only


def test_streams_are_read_one_after_another_and_a_sliced_export_is_not_a_stream() -> None:
    first, second = (
        pa.RecordBatchReader.from_batches(
            pa.schema([("id", pa.int64())]), [pa.record_batch({"id": pa.array(ids, pa.int64())})]
        )
        for ids in ([1, 2], [3])
    )
    assert chained([first]) is first
    assert chained([first, second]).read_all().column("id").to_pylist() == [1, 2, 3]

    class Sliced:
        slices = bytes = 0
        schema = pa.schema([("id", pa.int64())])

        def load(self, sink: object) -> None: ...

    with pytest.raises(
        TypeError, match=r"^a sliced export is loaded by its slices \(Capabilities\.slice_loads\)$"
    ):
        streams_of(Sliced())  # type: ignore[arg-type]
