"""What is the Spark warehouse's own: its errors reach people as tagport errors, SQL it must
refuse itself is refused, and a session whose JVM died is replaced."""

from __future__ import annotations

import os
import signal
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSource, TagSpec
from tagport.errors import InvalidInput, TerminalError, TransientError
from tagport.warehouse.base import AudienceScope, TagRef
from tagport.warehouse.spark import SparkConfig, SparkWarehouse, spark_session

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DAY = date(2024, 5, 2)
ENTITY = EntitySpec(code="user", name="U", project="p", id_field="user_id", id_type="bigint")
AGE = TagSpec(
    code="age",
    name="Age",
    entity="user",
    value_type="long",
    source=TagSource(table="p.people", key="uid", column="age"),
)
SCOPE = AudienceScope(ENTITY, {"age": TagRef(AGE)})


@pytest.fixture
def house(tmp_path: Path, spark_config: SparkConfig) -> SparkWarehouse:
    warehouse = SparkWarehouse(tmp_path / "warehouse.spark", spark_config)
    people = pa.table({"uid": [1, 2], "code": ["7", "x8"], "age": [30, 40], "ds": ["20240502"] * 2})
    warehouse.write_batches(
        "p.people",
        pa.RecordBatchReader.from_batches(people.schema, people.to_batches()),
        replace=True,
    )
    return warehouse


def test_spark_errors_become_tagport_errors_naming_the_tables_as_written(
    house: SparkWarehouse,
) -> None:
    with pytest.raises(TerminalError, match=r"TABLE_OR_VIEW_NOT_FOUND.*p\.nothing") as caught:
        house.query("SELECT uid FROM p.nothing")
    assert "tagport_t" not in str(caught.value)
    with pytest.raises(TerminalError, match=r"CAST_INVALID_INPUT.*'x8'"):
        house.query("SELECT CAST(code AS BIGINT) AS c FROM p.people")
    with pytest.raises(InvalidInput, match="not valid SQL"):
        house.query("SELECT FROM WHERE")


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ("SELECT uid FROM read_parquet('/etc/passwd')", "table function read_parquet"),
        ("SELECT uid FROM '/etc/passwd'", "file or URL '/etc/passwd' as a table"),
        ("SELECT reflect('java.lang.System', 'exit', 1)", "function reflect"),
        ("SELECT java_method('java.lang.System', 'exit', 1)", "function java_method"),
        ("SELECT uid FROM people", "table people: name warehouse tables as PROJECT.TABLE"),
    ],
)
def test_sql_spark_could_run_but_must_not_is_refused_before_it_runs(
    house: SparkWarehouse, sql: str, refusal: str
) -> None:
    with pytest.raises(InvalidInput, match=refusal):
        house.query(sql)
    audience = AudienceGroupSpec(code="q", name="Q", entity="user", owner="o", sql=sql)
    with pytest.raises(InvalidInput, match=f"audience group q: sql: .*{refusal}"):
        house.estimate(SCOPE, audience, DAY)


def test_a_sql_audience_returning_what_is_not_an_id_is_its_sql_s_problem(
    house: SparkWarehouse,
) -> None:
    good = AudienceGroupSpec(
        code="q", name="Q", entity="user", owner="o", sql="SELECT uid FROM p.people"
    )
    assert house.members(SCOPE, good, DAY, 0, 10) == [1, 2]
    bad = good.model_copy(update={"sql": "SELECT code FROM p.people"})
    with pytest.raises(InvalidInput, match=r"audience group q: sql: .*'x8'"):
        house.estimate(SCOPE, bad, DAY)


def test_a_lost_jvm_is_a_transient_error_and_the_next_query_starts_a_new_one(
    house: SparkWarehouse, spark_config: SparkConfig
) -> None:
    gateway = spark_session(spark_config).sparkContext._gateway
    assert gateway is not None
    process = gateway.proc  # type: ignore[attr-defined]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with pytest.raises(TransientError, match="the Spark session was lost"):
        house.query("SELECT count(*) AS n FROM p.people")
    assert house.query("SELECT count(*) AS n FROM p.people").table.to_pylist() == [{"n": 2}]
