"""SQL text of audiences and exports: quoted identifiers, literals, SQL audience checks."""

from __future__ import annotations

from datetime import date

import pytest

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSource, TagSpec
from tagport.domain.rules import parse_rule
from tagport.domain.tasks import TagOutput
from tagport.errors import InvalidInput
from tagport.warehouse import queries
from tagport.warehouse.base import AudienceScope, ExportColumn, ExportPlan, TagRef

ENTITY = EntitySpec(code="user", name="U", project="p", id_field="user_id", id_type="bigint")


def tag(code: str, vtype: str, table: str) -> TagRef:
    source = TagSource(table=table, key="uid", column=f"c_{code}")
    return TagRef(TagSpec(code=code, name=code, entity="user", value_type=vtype, source=source))


SCOPE = AudienceScope(
    ENTITY,
    {
        "city": tag("city", "string", "p.profile"),
        "age": tag("age", "long", "p.profile"),
        "spend": tag("spend", "decimal(18,2)", "p.orders"),
        "seen": tag("seen", "date", "p.orders"),
    },
)


def audience(rule: object) -> AudienceGroupSpec:
    return AudienceGroupSpec(code="a", name="A", entity="user", owner="o", rule=parse_rule(rule))


def test_rule_sql_quotes_identifiers_and_renders_literals() -> None:
    rule = {
        "all": [
            {"tag": "city", "op": "=", "value": "it's"},
            {"tag": "seen", "op": ">=", "value": {"relative_days": -30}},
        ]
    }
    sql = queries.members_query(SCOPE, audience(rule), date(2024, 3, 31)).sql("duckdb")
    assert '"p"."profile"' in sql and '"c_city"' in sql
    assert "'it''s'" in sql
    assert "CAST('2024-03-01' AS DATE)" in sql
    assert "\"ds\" = '20240331'" in sql


def test_each_source_is_scanned_once() -> None:
    sql = queries.members_query(
        SCOPE, audience({"tag": "age", "op": ">", "value": 3}), date(2024, 1, 1)
    ).sql("duckdb")
    assert sql.count('FROM "p"."profile"') == 1
    assert sql.count('FROM "p"."orders"') == 1


def test_export_renders_for_spark_too() -> None:
    plan = ExportPlan(
        audience({"tag": "age", "op": "not_null"}),
        SCOPE,
        date(2024, 1, 1),
        [TagOutput(tag="age"), TagOutput(tag="spend")],
        [ExportColumn("id", "user_id"), ExportColumn("age", "age"), ExportColumn("s", "spend")],
        ["id"],
        "ds",
    )
    spark = queries.export_query(plan).sql("spark")
    assert "`p`.`profile`" in spark and "FULL OUTER JOIN" in spark


def test_export_refuses_unknown_source_fields() -> None:
    plan = ExportPlan(
        audience({"tag": "age", "op": "not_null"}),
        SCOPE,
        date(2024, 1, 1),
        [TagOutput(tag="age")],
        [ExportColumn("id", "user_id"), ExportColumn("x", "city")],
        ["id"],
    )
    with pytest.raises(InvalidInput, match="source field 'city' is not exported"):
        queries.export_query(plan)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("DELETE FROM t", "must be a SELECT statement, not DELETE"),
        ("SELECT 1; SELECT 2", "must be one SELECT statement, not 2"),
        ("SELECT a, b FROM t", "exactly one column"),
        ("SELECT * FROM t", "not *"),
        ("SELEC a FROM", "not valid SQL"),
        ("DROP TABLE t", "not DROP"),
        ("SELECT a FROM t WHERE ds = '${bizdate:dd/MM}'", "unknown partition format"),
    ],
)
def test_bad_sql_audiences_are_refused(sql: str, fragment: str) -> None:
    problems = queries.check_audience_sql(sql)
    assert any(fragment in p for p in problems), problems


def test_bizdate_placeholders_become_literals() -> None:
    sql = "SELECT user_id FROM p.t WHERE ds = '${bizdate}' AND d = ${bizdate:yyyy-MM-dd}"
    assert queries.check_audience_sql(sql) == []
    bound = queries.bind_bizdate(sql, date(2024, 2, 9)).sql("duckdb")
    assert "ds = '20240209'" in bound and "d = '2024-02-09'" in bound


def test_needed_partitions_per_kind_of_audience() -> None:
    day = date(2024, 6, 1)
    rule = audience({"tag": "age", "op": ">", "value": 1})
    assert sorted(str(r) for r in queries.needed_partitions(SCOPE, rule, day)) == [
        "p.orders ds=20240601",
        "p.profile ds=20240601",
    ]
    sql = AudienceGroupSpec(
        code="q",
        name="Q",
        entity="user",
        owner="o",
        sql="SELECT uid FROM p.orders o JOIN other.t USING (uid) WHERE o.ds = '${bizdate}'",
    )
    assert [str(r) for r in queries.needed_partitions(SCOPE, sql, day)] == [
        "p.orders ds=20240601",
        "other.t",
    ]
    imported = AudienceGroupSpec(code="i", name="I", entity="user", owner="o", import_="f.txt")
    needed = queries.needed_partitions(SCOPE, imported, day, ["spend"])
    assert [str(r) for r in needed] == ["tagport_audiences.i", "p.orders ds=20240601"]


def test_audience_cycles_are_refused_when_compiling() -> None:
    a = AudienceGroupSpec(
        code="a", name="A", entity="user", owner="o", rule=parse_rule({"audience": "b"})
    )
    b = AudienceGroupSpec(
        code="b", name="B", entity="user", owner="o", rule=parse_rule({"not": {"audience": "a"}})
    )
    scope = AudienceScope(ENTITY, SCOPE.tags, {"a": a, "b": b})
    with pytest.raises(InvalidInput, match="cycle: a -> b -> a"):
        queries.members_query(scope, a, date(2024, 1, 1))


def test_a_key_without_the_id_keeps_one_row_per_key() -> None:
    plan = ExportPlan(
        audience({"tag": "age", "op": "not_null"}),
        SCOPE,
        date(2024, 1, 1),
        [TagOutput(tag="age")],
        [ExportColumn("id", "user_id"), ExportColumn("age", "age")],
        ["age"],
    )
    sql = queries.export_query(plan).sql("duckdb")
    assert 'QUALIFY ROW_NUMBER() OVER (PARTITION BY "x"."age") = 1' in sql
