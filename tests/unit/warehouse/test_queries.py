"""SQL text of audiences and exports: quoted identifiers, literals, SQL audience checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSource, TagSpec
from tagport.domain.rules import Rule, parse_rule
from tagport.domain.tasks import Output, TagOutput
from tagport.errors import InvalidInput, Problem
from tagport.warehouse import queries
from tagport.warehouse.base import AudienceScope, ExportColumn, ExportPlan, TagRef
from tests.budget import examples
from tests.rule_reference import IDS, TAGS, holds, member_values, rules

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
    """A rule that holds for members of no source (`not`) reads every source, each once;
    one that needs a source reads only the sources it names."""
    everyone = audience({"not": {"tag": "age", "op": ">", "value": 3}})
    sql = queries.members_query(SCOPE, everyone, date(2024, 1, 1)).sql("duckdb")
    assert sql.count('FROM "p"."profile"') == 1
    assert sql.count('FROM "p"."orders"') == 1
    assert "FULL OUTER JOIN" in sql
    older = audience({"tag": "age", "op": ">", "value": 3})
    sql = queries.members_query(SCOPE, older, date(2024, 1, 1)).sql("duckdb")
    assert sql.count('FROM "p"."profile"') == 1
    assert '"p"."orders"' not in sql


def _sources(rule: object) -> set[str]:
    """The sources `rule` needs, each tag `xN` read from source `x`."""
    source_of = {code: code[0] for code in ("a1", "a2", "b1", "c1")}
    return set(queries.sources_needed(parse_rule(rule), source_of))


NEEDED: list[tuple[object, set[str]]] = [
    ({"tag": "a1", "op": "=", "value": "x"}, {"a"}),
    ({"tag": "a1", "op": "!=", "value": "x"}, {"a"}),
    ({"tag": "a1", "op": "not_null"}, {"a"}),
    ({"tag": "a1", "op": "is_null"}, set()),
    ({"not": {"tag": "a1", "op": "is_null"}}, {"a"}),
    ({"not": {"tag": "a1", "op": "=", "value": "x"}}, set()),
    (
        {"all": [{"tag": "a1", "op": "=", "value": "x"}, {"tag": "b1", "op": ">", "value": 1}]},
        {"a", "b"},
    ),
    (
        {"any": [{"tag": "a1", "op": "=", "value": "x"}, {"tag": "b1", "op": ">", "value": 1}]},
        set(),
    ),
    (
        {"any": [{"tag": "a1", "op": "=", "value": "x"}, {"tag": "a2", "op": ">", "value": 1}]},
        {"a"},
    ),
    ({"all": [{"tag": "a1", "op": "is_null"}, {"tag": "b1", "op": ">", "value": 1}]}, {"b"}),
    (
        {"not": {"any": [{"tag": "a1", "op": "is_null"}, {"tag": "b1", "op": "is_null"}]}},
        {"a", "b"},
    ),
    ({"not": {"all": [{"tag": "a1", "op": "is_null"}, {"tag": "b1", "op": "is_null"}]}}, set()),
    ({"not": {"all": [{"tag": "a1", "op": "is_null"}, {"tag": "a2", "op": "is_null"}]}}, {"a"}),
    ({"not": {"not": {"tag": "a1", "op": "not_null"}}}, {"a"}),
    ({"audience": "seed"}, set()),
    ({"all": [{"audience": "seed"}, {"tag": "c1", "op": "in", "value": ["x"]}]}, {"c"}),
    ({"any": [{"audience": "seed"}, {"tag": "c1", "op": "in", "value": ["x"]}]}, set()),
    ({"tag": "unknown", "op": "=", "value": "x"}, set()),
]


@pytest.mark.parametrize(("rule", "expected"), NEEDED, ids=[str(r) for r, _ in NEEDED])
def test_a_rule_needs_the_sources_without_which_it_cannot_hold(
    rule: object, expected: set[str]
) -> None:
    """A condition is false on an absent source's NULLs, but `is_null` is true; `all` needs
    what any part needs, `any` what every part needs, and `not` what its part holds without."""
    assert _sources(rule) == expected


@given(rule=rules(), values=member_values(), uid=st.sampled_from(IDS))
@settings(max_examples=examples(300), deadline=None)
def test_a_member_without_a_needed_source_never_matches(
    rule: Rule, values: dict[str, Any], uid: int
) -> None:
    """Against the reference evaluator: whatever a member holds elsewhere, a rule cannot hold
    for it without a source the rule needs (which is what lets that source be inner-joined)."""
    source_of = {code: table for code, (table, *_) in TAGS.items()}
    for source in queries.sources_needed(rule, source_of):
        absent = {code: None if source_of[code] == source else v for code, v in values.items()}
        assert not holds(rule, absent, uid), source


def _joins(query: exp.Select) -> list[tuple[str, str]]:
    """Each join of a query as (the CTE joined, how): INNER, LEFT or FULL."""
    parsed = sqlglot.parse_one(query.sql("duckdb"), read="duckdb")
    return [(j.this.name, j.side or "INNER") for j in parsed.find_all(exp.Join)]


def _age_and_spend(group: AudienceGroupSpec, day: date) -> ExportPlan:
    """An export of `group` keyed on the ID, with a tag of each source."""
    columns = [
        ExportColumn("id", "user_id"),
        ExportColumn("age", "age"),
        ExportColumn("s", "spend"),
    ]
    return ExportPlan(
        group, SCOPE, day, [TagOutput(tag="age"), TagOutput(tag="spend")], columns, ["id"]
    )


def test_the_sources_a_rule_needs_are_inner_joined_and_the_others_left_joined() -> None:
    """What makes a selective rule fast: DuckDB keeps a full join full."""
    day = date(2024, 1, 1)
    both = audience(
        {"all": [{"tag": "age", "op": ">", "value": 3}, {"tag": "spend", "op": ">", "value": 1}]}
    )
    assert _joins(queries.members_query(SCOPE, both, day)) == [("s1", "INNER")]
    spender = audience({"tag": "spend", "op": ">", "value": 1})
    plan = _age_and_spend(spender, day)
    assert _joins(queries.export_query(plan)) == [("s0", "LEFT")]
    plan = replace(plan, audience=audience({"not": {"tag": "spend", "op": ">", "value": 1}}))
    assert _joins(queries.export_query(plan)) == [("s1", "FULL")]


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
    assert "`p`.`profile`" in spark and "LEFT JOIN s1 ON" in spark


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
    assert [str(r) for r in queries.needed_partitions(SCOPE, rule, day)] == [
        "p.profile ds=20240601"
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


def _refused(problem: Problem) -> pytest.RaisesContext[InvalidInput]:
    """`pytest.raises` for exactly this one problem: its whole text (where, field, message)."""
    return pytest.raises(InvalidInput, match=f"^{re.escape(str(problem))}$")


READ_ONLY = "must only read: no INSERT, UPDATE, DELETE or DDL"


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELEC a FROM", ("", "not valid SQL: Invalid expression / Unexpected token")),
        ("SELECT 'abc FROM t", ("", "not valid SQL: a quote or comment is not closed")),
        ('SELECT "a FROM t', ("", "not valid SQL: a quote or comment is not closed")),
        ("SELECT a FROM t /* the end", ("", "not valid SQL: a quote or comment is not closed")),
        ("", ("", "must be one SELECT statement, not 0")),
        ("SELECT 1; SELECT 2", ("", "must be one SELECT statement, not 2")),
        ("DELETE FROM t", ("", "must be a SELECT statement, not DELETE")),
        (
            "VACUUM",
            ("", "must be a SELECT statement, not VACUUM"),
        ),  # a statement sqlglot keeps whole
        ("WITH d AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM d", ("", READ_ONLY)),
        ("WITH d AS (UPDATE t SET a = 1 RETURNING id) SELECT id FROM d", ("", READ_ONLY)),
        ("WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d", ("", READ_ONLY)),
        ("SELECT a, b FROM t", ("", "must return exactly one column (the entity ID), not 2")),
        (
            "SELECT a, b FROM t UNION SELECT c FROM u",
            ("", "must return exactly one column (the entity ID), not 2"),
        ),
        ("SELECT * FROM t", ("", "must name its one column (the entity ID), not *")),
        (
            "SELECT a FROM t WHERE ds = '${bizdate:dd/MM}'",
            (
                "${bizdate}",
                "unknown partition format 'dd/MM'; use one of yyyyMMdd, yyyy-MM-dd, yyyy/MM/dd, "
                "yyyy.MM.dd",
            ),
        ),
    ],
)
def test_a_refused_sql_audience_says_exactly_why(sql: str, problem: tuple[str, str]) -> None:
    """The problem as a person reads it and as JSON output shows it (where, field, message)."""
    expected = Problem("sql", *problem)
    with _refused(expected) as caught:
        queries.bind_bizdate(sql, date(2024, 1, 1))
    assert caught.value.problems == [expected]
    assert queries.check_audience_sql(sql) == [expected.message]


def _plan(
    rule: object,
    tags: list[TagOutput],
    columns: list[ExportColumn],
    key: list[str],
    scope: AudienceScope = SCOPE,
) -> ExportPlan:
    return ExportPlan(audience(rule), scope, date(2024, 1, 1), tags, columns, key)


AGE = [TagOutput(tag="age")]
ID_AND_AGE = [ExportColumn("id", "user_id"), ExportColumn("age", "age")]


@pytest.mark.parametrize(
    ("compile_", "problem"),
    [
        (
            lambda: queries.members_query(
                SCOPE, audience({"tag": "nope", "op": "is_null"}), date(2024, 1, 1)
            ),
            Problem("rule", "tag", "tag 'nope' is not a tag of entity user"),
        ),
        (
            lambda: queries.members_query(
                SCOPE, audience({"not": {"audience": "ghost"}}), date(2024, 1, 1)
            ),
            Problem("rule", "audience", "audience group 'ghost' of entity user does not exist"),
        ),
        (
            lambda: queries.members_query(
                SCOPE, audience({"tag": "age", "op": "=", "value": "abc"}), date(2024, 1, 1)
            ),
            Problem("rule", "age", "'abc' is not a whole number for a long tag"),
        ),
        (
            lambda: queries.members_query(
                AudienceScope(ENTITY, {}), audience({"tag": "age", "op": "is_null"}), date.today()
            ),
            Problem("entity", "user", "has no tags, so no source says who exists"),
        ),
        (
            lambda: queries.export_query(
                _plan(
                    {"tag": "age", "op": "not_null"},
                    [TagOutput(tag="age", outputs=[Output.CODENAME])],
                    [ExportColumn("id", "user_id"), ExportColumn("name", "age_codename")],
                    ["id"],
                )
            ),
            Problem("tags", "age", "tag age has no lookup table, so no code name to export"),
        ),
        (
            lambda: queries.export_query(
                _plan(
                    {"tag": "age", "op": "not_null"},
                    AGE,
                    [*ID_AND_AGE, ExportColumn("x", "city")],
                    ["id"],
                )
            ),
            Problem(
                "mapping",
                "x",
                "source field 'city' is not exported (the entity ID, a selected tag, "
                "or {tag}_codename)",
            ),
        ),
        (
            lambda: queries.export_query(
                _plan({"tag": "age", "op": "not_null"}, AGE, ID_AND_AGE, ["id", "nope", "nix"])
            ),
            Problem("key", "nope", "is not one of the exported columns"),
        ),
        (
            lambda: queries.export_query(
                _plan({"tag": "age", "op": "not_null"}, AGE, [ExportColumn("age", "age")], []),
                within=(None, 5),
            ),
            Problem("columns", "", "an export split by ID must export the ID"),
        ),
        (
            lambda: queries.laned_export_query(
                _plan({"tag": "age", "op": "not_null"}, AGE, [ExportColumn("age", "age")], []), 2
            ),
            Problem("columns", "", "an export split by ID must export the ID"),
        ),
    ],
    ids=[
        "unknown-tag",
        "unknown-audience",
        "value-of-another-type",
        "entity-without-tags",
        "codename-without-lookup",
        "unmapped-column",
        "unknown-key",
        "range-without-id",
        "lanes-without-id",
    ],
)
def test_a_query_that_cannot_be_compiled_says_exactly_why(
    compile_: Callable[[], object], problem: Problem
) -> None:
    with _refused(problem) as caught:
        compile_()
    assert caught.value.problems == [problem]


def test_an_audience_cycle_is_named_whole() -> None:
    a = AudienceGroupSpec(
        code="a", name="A", entity="user", owner="o", rule=parse_rule({"audience": "b"})
    )
    b = AudienceGroupSpec(
        code="b", name="B", entity="user", owner="o", rule=parse_rule({"not": {"audience": "a"}})
    )
    problem = Problem("rule", "audience", "audience groups form a cycle: a -> b -> a")
    with _refused(problem) as caught:
        queries.members_query(AudienceScope(ENTITY, SCOPE.tags, {"a": a, "b": b}), a, date.today())
    assert caught.value.problems == [problem]


def test_readiness_waits_for_what_referred_groups_read_however_deep() -> None:
    """A rule's referred audience groups, and theirs (a cycle followed once), add their own
    tables: an import group's IDs, the tables a SQL group reads; each partition once."""

    def group(code: str, **kind: Any) -> AudienceGroupSpec:
        return AudienceGroupSpec(code=code, name=code, entity="user", owner="o", **kind)

    vips = group("vips", import_="vips.txt")
    rich = group("rich", sql="SELECT uid FROM other.t WHERE ds = '${bizdate}'")
    top = group(
        "top", rule=parse_rule({"all": [{"not": {"audience": "mid"}}, {"audience": "vips"}]})
    )
    mid = group("mid", rule=parse_rule({"any": [{"audience": "rich"}, {"audience": "top"}]}))
    scope = AudienceScope(ENTITY, SCOPE.tags, {g.code: g for g in (vips, rich, top, mid)})
    needed = queries.needed_partitions(scope, top, date(2024, 6, 1), ["city"])
    assert [str(r) for r in needed] == [
        "p.profile ds=20240601",
        "p.orders ds=20240601",
        "other.t",
        "tagport_audiences.vips",
    ]


def test_readiness_waits_only_for_the_sources_a_rule_reads_when_it_needs_one() -> None:
    """A rule that needs a source reads no other (its members are in that one), so it waits
    for no other; one that needs none waits for every source, which together say who exists."""
    day = date(2024, 6, 1)
    older = audience({"tag": "age", "op": ">", "value": 3})
    assert [str(r) for r in queries.needed_partitions(SCOPE, older, day)] == [
        "p.profile ds=20240601"
    ]
    exported = queries.needed_partitions(SCOPE, older, day, ["spend"])
    assert [str(r) for r in exported] == ["p.profile ds=20240601", "p.orders ds=20240601"]
    young = audience({"not": {"tag": "age", "op": ">", "value": 3}})
    assert [str(r) for r in queries.needed_partitions(SCOPE, young, day)] == [
        "p.profile ds=20240601",
        "p.orders ds=20240601",
    ]


def test_the_id_sample_reads_the_sources_the_export_reads() -> None:
    """The split points of a chunked export come from the sources its query scans: a rule
    that needs the profile alone samples the orders only when it exports a tag of theirs."""
    plan = ExportPlan(
        audience({"tag": "age", "op": ">", "value": 3}),
        SCOPE,
        date(2024, 6, 1),
        [TagOutput(tag="city")],
        [ExportColumn("id", "user_id"), ExportColumn("city", "city")],
        ["id"],
    )
    sample = queries.key_sample_query(plan, 10).sql("duckdb")
    assert '"p"."profile"' in sample and '"p"."orders"' not in sample
    spend = replace(
        plan,
        tags=[TagOutput(tag="spend")],
        columns=[ExportColumn("id", "user_id"), ExportColumn("s", "spend")],
    )
    sample = queries.key_sample_query(spend, 10).sql("duckdb")
    assert '"p"."profile"' in sample and '"p"."orders"' in sample  # the exported tag's source
    everyone = replace(plan, audience=audience({"not": {"tag": "age", "op": ">", "value": 3}}))
    sample = queries.key_sample_query(everyone, 10).sql("duckdb")
    assert '"p"."profile"' in sample and '"p"."orders"' in sample


def test_id_ranges_are_at_most_as_many_as_asked_and_as_the_sample_has_ids() -> None:
    """The cap bounds how many chunks (DuckDB) or lanes and slices (Spark) run side by side;
    a sample of two IDs gives two ranges however many rows it stands for."""
    assert queries.id_ranges(10_000, list(range(1000)), 1, 4) == [
        (None, 250),
        (250, 500),
        (500, 750),
        (750, None),
    ]
    assert queries.id_ranges(10_000, [1, 2], 1, 64) == [(None, 2), (2, None)]
    assert queries.id_ranges(10, [1, 2, 3], 100, 64) == [None]


def _grouped(query: exp.Query) -> set[str]:
    """The tables a query reads through a GROUP BY on their key (de-duplicating them)."""
    parsed = sqlglot.parse_one(query.sql("duckdb"), read="duckdb")
    return {
        source.this.name
        for select in parsed.find_all(exp.Select)
        if select.args.get("group")
        for source in [select.args["from_"]]
        if isinstance(source.this, exp.Table)
    }


@pytest.mark.parametrize("proven", [set(), {"orders"}, {"profile", "orders"}], ids=len)
def test_a_scan_proven_unique_is_read_without_group_by_in_every_query(proven: set[str]) -> None:
    """What partition statistics buy: the same rows (the export reference tests say so), but a
    source partition proven to hold one row per key is scanned without the GROUP BY, in every
    query that reads it, and every other is grouped. The ID sample never groups: where chunks
    are cut needs no unique IDs."""
    day = date(2024, 1, 1)

    def unique(scan: queries.Scan) -> bool:
        read = (scan.ref.column, scan.ref.value, scan.key, scan.id_type)
        expected = ("ds", "20240101", "uid", ENTITY.id_type)
        return scan.ref.table.removeprefix("p.") in proven and read == expected

    grouped = {"profile", "orders"} - proven
    everyone = audience({"not": {"tag": "age", "op": ">", "value": 3}})
    plan = _age_and_spend(everyone, day)
    imported = AudienceGroupSpec(code="vips", name="V", entity="user", owner="o", import_="v.txt")
    built = [
        queries.members_query(SCOPE, everyone, day, unique=unique),
        queries.count_query(SCOPE, everyone, day, unique=unique),
        queries.page_query(SCOPE, everyone, day, 0, 10, unique=unique),
        queries.export_query(plan, unique=unique),
        queries.export_query(replace(plan, audience=imported), unique=unique),
        queries.laned_export_query(plan, 2, unique=unique),
    ]
    assert [_grouped(query) for query in built] == [grouped] * len(built)
    assert _grouped(queries.key_sample_query(plan, 10)) == set()
    assert _grouped(queries.members_query(SCOPE, everyone, day)) == {"profile", "orders"}
