"""The allow-list for user SQL, table-driven: hostile SQL audiences are refused, each with the
construct it uses and where it stands; ordinary audience SQL passes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import ParseError, exp, parse_one

from tagport.errors import InvalidInput
from tagport.warehouse.confine import FUNCTIONS, audience_sql_problems, checked_query

READABLE = frozenset({"tag_prod"})
"""The owner reads project tag_prod (the entity's) and nothing else."""

HOSTILE: list[tuple[str, str]] = [  # (SQL, the start of its first refusal)
    ("SELECT column0 AS member_id FROM read_csv('/etc/passwd', header=false, sep='|')",
     'line 1, column 34: table function read_csv'),
    ("SELECT content AS member_id FROM read_text('/home/t/.tagport/secret.key')",
     'line 1, column 34: table function read_text'),
    ("SELECT id FROM read_parquet('/data/*.parquet')",
     'line 1, column 16: table function read_parquet'),
    ("SELECT id FROM read_json_auto('/etc/x.json')",
     'line 1, column 16: table function read_json_auto'),
    ("SELECT content FROM read_blob('/home/t/.tagport/tagport.db')",
     'line 1, column 21: table function read_blob'),
    ("SELECT id FROM read_csv_auto('/etc/passwd')",
     'line 1, column 16: table function read_csv_auto'),
    ("SELECT id FROM parquet_scan('s3://bucket/x.parquet')",
     'line 1, column 16: table function parquet_scan'),
    ("SELECT file FROM glob('/etc/*')",
     'line 1, column 18: table function glob'),
    ("SELECT id FROM sniff_csv('/etc/passwd')",
     'line 1, column 16: table function sniff_csv'),
    ("SELECT id FROM '/etc/passwd'",
     "line 1, column 16: file or URL '/etc/passwd' as a table"),
    ("SELECT id FROM 'https://evil.example/ids.csv'",
     "line 1, column 16: file or URL 'https://evil.example/ids.csv' as a table"),
    ('SELECT id FROM "s3://bucket/ids.parquet"',
     "line 1, column 16: file or URL 's3://bucket/ids.parquet' as a table"),
    ("SELECT id FROM 'ids.csv'",
     "line 1, column 16: file or URL 'ids.csv' as a table"),
    ("SELECT user_id FROM tag_prod.user_profile\n"
     "WHERE city IN (SELECT content FROM read_text('/etc/hostname'))",
     'line 2, column 36: table function read_text'),
    ("ATTACH '/home/t/.tagport/tagport.db' AS meta",
     'must be a SELECT statement, not ATTACH'),
    ("COPY (SELECT 1) TO '/tmp/out.csv'",
     'must be a SELECT statement, not COPY'),
    ('INSTALL httpfs',
     'must be a SELECT statement, not INSTALL'),
    ('LOAD httpfs',
     'must be a SELECT statement, not LOAD'),
    ('PRAGMA database_list',
     'must be a SELECT statement, not PRAGMA'),
    ('SET enable_external_access = true',
     'must be a SELECT statement, not SET'),
    ("SELECT current_setting('allowed_directories') AS member_id",
     'line 1, column 8: function current_setting'),
    ('SELECT value FROM duckdb_settings()',
     'line 1, column 19: table function duckdb_settings'),
    ('SELECT table_name FROM duckdb_tables()',
     'line 1, column 24: table function duckdb_tables'),
    ('SELECT table_name FROM information_schema.tables',
     'line 1, column 24: system catalog information_schema.tables'),
    ('SELECT relname FROM pg_catalog.pg_class',
     'line 1, column 21: system catalog pg_catalog.pg_class'),
    ('SELECT name FROM sqlite_master',
     'line 1, column 18: table sqlite_master'),
    ('SELECT id FROM tag_secret.salaries',
     'line 1, column 16: table tag_secret.salaries'),
    ('SELECT id FROM "read_text"(\'/etc/passwd\')',
     'line 1, column 16: table function read_text'),
    ("SELECT content FROM read_text /* hidden */ ('/etc/passwd')",
     'line 1, column 21: table function read_text'),
    ("SELECT ｒｅａｄ_text('/etc/passwd') AS id",
     'line 1, column 8: function ｒｅａｄ_text'),
    ("WITH a AS (WITH b AS (SELECT content FROM read_text('/etc/passwd')) "
     "SELECT content FROM b)\nSELECT content FROM a",
     'line 1, column 43: table function read_text'),
    ('WITH duckdb_tables AS (SELECT * FROM duckdb_tables) SELECT table_name FROM duckdb_tables',
     'line 1, column 38: table duckdb_tables'),
    ("SELECT user_id FROM tag_prod.user_profile UNION "
     "SELECT database_name FROM duckdb_databases()",
     'line 1, column 75: table function duckdb_databases'),
    ("SELECT user_id FROM tag_prod.user_profile UNION ALL "
     "SELECT table_name FROM information_schema.tables",
     'line 1, column 76: system catalog information_schema.tables'),
    ('SELECT x FROM (WITH a AS (SELECT 1 AS x) SELECT x FROM a), a',
     'line 1, column 60: table a'),
    ("SELECT getenv('HOME') AS id",
     'line 1, column 8: function getenv'),
    ('SELECT user_id FROM warehouse.tag_prod.user_profile',
     'line 1, column 21: table warehouse.tag_prod.user_profile'),
    ('SELECT id FROM tagport_audiences.vip',
     'line 1, column 16: system catalog tagport_audiences.vip'),
    ("SELECT 1; ATTACH '/tmp/x.db'",
     'must be one SELECT statement, not 2'),
    ('SELECT user_id FROM tag_prod.user_profile AT (VERSION => 1)',
     'line 1, column 58: HISTORICALDATA'),
    ('SELECT p.city.read_text() AS id FROM tag_prod.user_profile AS p',
     'line 1, column 8: DOT'),
    ('SELECT user_id FROM tag_prod.user_profile WHERE city = ?',
     'line 1, column 49: PLACEHOLDER'),
    ("SELECT content FROM query('SELECT content FROM read_text(''/etc/passwd'')')",
     'line 1, column 21: table function query'),
    ("SELECT id FROM query_table('tag_secret.salaries')",
     'line 1, column 16: table function query_table'),
    ('SELECT user_id FROM tag_prod."ids.csv"',
     "line 1, column 21: table tag_prod.'ids.csv'"),
    ("SELECT user_id FROM tag_prod.user_profile, LATERAL (SELECT content FROM read_text('/x'))",
     'line 1, column 60: LATERAL'),
    ('SUMMARIZE tag_prod.user_profile',
     'must be a SELECT statement, not SUMMARIZE'),
    ('DESCRIBE tag_prod.user_profile',
     'must be a SELECT statement, not DESCRIBE'),
    ("EXPORT DATABASE '/tmp/dump'",
     'not valid SQL: Invalid expression / Unexpected token'),
    ('CALL pragma_version()',
     'must be a SELECT statement, not CALL'),
    ('SELECT list_transform([1], x -> x) AS id',
     'line 1, column 8: function list_transform'),
    ("SELECT user_id FROM tag_prod.user_profile WHERE city = "
     "(SELECT content FROM read_text('/etc/passwd') LIMIT 1)",
     'line 1, column 77: table function read_text'),
    ("FROM read_text('/etc/passwd') SELECT content",
     'line 1, column 6: table function read_text'),
    ("SELECT unnest(['a']) AS id",
     'line 1, column 8: function unnest'),
    ('SELECT id FROM system.main.duckdb_settings',
     'line 1, column 16: table system.main.duckdb_settings'),
    ("SELECT sql FROM warehouse.sqlite_master",
     'line 1, column 17: system catalog warehouse.sqlite_master'),
    ("SELECT user_id FROM tag_prod.duckdb_settings",
     'line 1, column 21: system catalog tag_prod.duckdb_settings'),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "refusal"), HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_sql_is_refused_naming_the_construct_and_where(sql: str, refusal: str) -> None:
    problems = audience_sql_problems(sql, READABLE)
    assert problems, f"accepted: {sql}"
    assert problems[0].startswith(refusal), problems


def test_there_are_at_least_thirty_hostile_cases() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT user_id FROM tag_prod.user_orders WHERE ds = '${bizdate}' AND total_spend > 1000",
        "WITH a AS (SELECT uid FROM tag_prod.t), b AS (SELECT uid FROM a)\n"
        "SELECT uid FROM b UNION SELECT uid FROM a",
        "SELECT CASE WHEN x > 1 THEN uid END FROM tag_prod.t WHERE ds = ${bizdate:yyyy-MM-dd} "
        "AND CAST(x AS BIGINT) > 1 AND x::VARCHAR LIKE 'a%' AND extract(year FROM d) = 2020 "
        "AND d + INTERVAL 1 DAY > d AND coalesce(a, 1) > 0 AND lower(trim(x)) IN ('a', 'b') "
        "AND NOT EXISTS (SELECT 1 FROM tag_prod.u WHERE u.id = t.id) "
        "QUALIFY row_number() OVER (PARTITION BY a ORDER BY b DESC) = 1",
        "SELECT uid FROM (VALUES (1), (2)) AS v(uid)",
        "SELECT uid FROM tag_prod.t GROUP BY uid HAVING count(*) > 1 ORDER BY 1 LIMIT 10",
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT n FROM r",
    ],
)
def test_ordinary_audience_sql_passes(sql: str) -> None:
    assert audience_sql_problems(sql, READABLE) == []


def test_refusals_give_the_reason_too() -> None:
    sql = "SELECT user_id FROM tag_secret.salaries"
    assert audience_sql_problems(sql, READABLE) == [
        "line 1, column 21: table tag_secret.salaries: the owner may not read project tag_secret"
    ]
    assert audience_sql_problems(sql, None) == []  # a super admin reads every project


def test_positions_count_placeholders_as_written() -> None:
    sql = (
        "SELECT uid FROM tag_prod.t WHERE ds = '${bizdate:yyyy-MM-dd}' AND ${bizdate} = x\n"
        "  AND uid IN (SELECT content FROM read_text('/x'))"
    )
    assert audience_sql_problems(sql, READABLE) == [
        "line 2, column 35: table function read_text: only warehouse tables (PROJECT.TABLE) "
        "may be read"
    ]


def test_a_cte_sees_only_the_ctes_before_it() -> None:
    """DuckDB resolves a name inside a non-recursive CTE's own body to the catalog."""
    later = "WITH a AS (SELECT uid FROM b), b AS (SELECT uid FROM tag_prod.t) SELECT uid FROM a"
    assert audience_sql_problems(later, READABLE)[0].startswith("line 1, column 28: table b")


def test_ad_hoc_sql_gets_every_refusal_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        checked_query("SELECT a.x, getenv('HOME') FROM read_text('/etc/passwd') AS a", None)
    assert [p.message.split(": ")[1] for p in caught.value.problems] == [
        "function getenv",
        "table function read_text",
    ]
    assert checked_query("SELECT count(*), max(x) FROM tag_prod.t", None) is not None


def _allowed_by_sqlglot(name: str) -> bool:
    """Whether sqlglot reads `name(x)` as a function of the list (`substr` is `substring`)."""
    try:
        node = parse_one(f"SELECT {name}(x)", read="duckdb").expressions[0]
    except ParseError:
        return False
    if not isinstance(node, exp.Func):
        return False
    canonical = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
    return canonical.lower() in FUNCTIONS


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True).filter(
    lambda name: not _allowed_by_sqlglot(name)
)
DISGUISES = st.sampled_from(
    ["{f}", '"{f}"', "{F}", "{f} /* x */", "{f}\n", "{f} -- x\n", "main.{f}", "system.main.{f}"]
)


@given(name=NAMES, disguise=DISGUISES, where=st.sampled_from(["select", "from", "where"]))
def test_no_function_outside_the_list_passes_however_written(
    name: str, disguise: str, where: str
) -> None:
    call = disguise.format(f=name, F=name.upper()) + "('/etc/passwd')"
    sql = {
        "select": f"SELECT {call} AS id FROM tag_prod.t",
        "from": f"SELECT id FROM {call}",
        "where": f"SELECT id FROM tag_prod.t WHERE id IN (SELECT {call})",
    }[where]
    assert audience_sql_problems(sql, READABLE), sql


@given(
    disguise=DISGUISES,
    name=st.sampled_from(["read_text", "read_csv", "glob", "read_blob", "duckdb_settings"]),
)
def test_file_readers_never_pass_in_any_disguise(disguise: str, name: str) -> None:
    call = disguise.format(f=name, F=name.upper()) + "('/etc/passwd')"
    assert audience_sql_problems(f"SELECT content FROM {call}", None)
    assert audience_sql_problems(f"SELECT {call} AS id", None)
