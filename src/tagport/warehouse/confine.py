"""The allow-list for SQL a person writes (SQL audience groups, ad-hoc `warehouse sql`).

Pure logic over the sqlglot parse tree: every node must be a construct listed here, every
function a scalar, aggregate or window function listed here, and every table either a CTE in
scope or `PROJECT.TABLE` of a project the reader may read. Anything else (table functions,
file paths or URLs as tables, system catalogs, settings functions, statements other than one
SELECT) is refused, each refusal naming the construct and where it stands in the SQL. What the
warehouse then runs is rendered from this checked tree, never the original text. The engine is
confined as well (see `DuckDBWarehouse.connect`), so a gap here is not a breach; Spark cannot
be, so `SparkWarehouse` applies this list itself and reads only views of warehouse tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from tagport.domain.naming import CODE, IDENTIFIER
from tagport.errors import InvalidInput, Problem
from tagport.warehouse import queries

Readable = frozenset[str] | None
"""Projects whose tables a reader may read; None: every project (a super admin)."""

SYSTEM_SCHEMAS = frozenset(
    {
        "information_schema", "pg_catalog", "main", "system", "temp", "memory", "warehouse",
        "tagport_audiences",
    }
)  # fmt: skip
"""Schemas (and catalogs: `warehouse` is the file's) that never hold a project's tables."""
SYSTEM_TABLE_PREFIXES = ("duckdb_", "pg_", "sqlite_", "pragma_")
"""DuckDB's catalog views answer in any schema's place when that schema does not exist."""

FUNCTIONS = frozenset(
    {
        # aggregates
        "count", "sum", "min", "max", "avg", "any_value", "count_if", "bool_and", "bool_or",
        # window functions
        "row_number", "rank", "dense_rank", "lag", "lead", "first_value", "last_value",
        # conditionals and casts
        "cast", "try_cast", "case", "if", "coalesce", "nullif", "ifnull", "greatest", "least",
        # numbers
        "abs", "round", "floor", "ceil", "mod", "hash", "md5",
        # strings
        "lower", "upper", "length", "substring", "trim", "concat", "left", "right",
        "str_position", "starts_with", "ends_with", "contains", "regexp_like", "replace",
        "lpad", "rpad", "split_part",
        # dates
        "datediff", "date_add", "date_sub", "date_trunc", "timestamp_trunc", "extract",
        "year", "month", "day", "str_to_time", "str_to_date", "time_to_str", "date_part",
        "make_date",
        # subquery predicates
        "exists",
    }
)  # fmt: skip
"""Functions by sqlglot's canonical name (what the DuckDB renderer writes them from)."""

_NODES: tuple[type[exp.Expr], ...] = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order,
    exp.Ordered, exp.Limit, exp.Offset, exp.Distinct, exp.Window, exp.WindowSpec,
    exp.Table, exp.TableAlias, exp.Alias, exp.Column, exp.Identifier, exp.Star,
    exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Tuple, exp.Values,
    exp.DataType, exp.DataTypeParam, exp.Interval, exp.IgnoreNulls, exp.RespectNulls,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.And, exp.Or, exp.Not, exp.Neg, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.DPipe,
)  # fmt: skip
"""Every construct user SQL may contain besides functions and tables."""

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOOKS_LIKE_A_FILE = re.compile(r"[/\\:.~*?]")


@dataclass(frozen=True)
class Refusal:
    """One construct the allow-list refuses, where it stands and why."""

    construct: str
    line: int
    column: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.construct}: {self.reason}"


@dataclass(frozen=True)
class Source:
    """The text sqlglot parsed and the text as written (they differ where `${bizdate}`
    placeholders were replaced by markers; `origin` maps an offset back)."""

    parsed: str
    written: str
    origin: Callable[[int], int] = lambda offset: offset

    def locate(self, offset: int) -> tuple[int, int]:
        """Line and column (from 1) in the text as written."""
        at = min(max(self.origin(offset), 0), len(self.written))
        line_start = self.written.rfind("\n", 0, at) + 1
        return self.written.count("\n", 0, at) + 1, at - line_start + 1

    def spelled(self, node: exp.Expr, fallback: str) -> str:
        """A function's name as written (sqlglot's canonical name may differ)."""
        meta = node.meta or {}
        start, end = meta.get("start"), meta.get("end")
        if isinstance(start, int) and isinstance(end, int):
            return self.parsed[start : end + 1].strip('"').lower() or fallback
        return fallback


def refusals(query: exp.Expr, readable: Readable, source: Source) -> list[Refusal]:
    """Every construct of `query` outside the allow-list, in the order they stand in the SQL."""
    found: dict[tuple[int, str], Refusal] = {}
    for node in query.walk():
        problem = _problem(node, readable, source)
        if problem is not None:
            offset = _offset(node)
            line, column = source.locate(offset)
            found.setdefault((offset, problem[0]), Refusal(problem[0], line, column, problem[1]))
    return [found[key] for key in sorted(found)]


def _problem(node: exp.Expr, readable: Readable, source: Source) -> tuple[str, str] | None:
    """(construct, reason) when `node` is not allowed."""
    if isinstance(node, exp.Table):
        return _table_problem(node, readable, source)
    if isinstance(node, _NODES):  # before functions: sqlglot's AND and OR are functions too
        return None
    if isinstance(node, exp.Var) and isinstance(node.parent, exp.Interval | exp.Func):
        return None  # a unit keyword: INTERVAL 1 DAY, extract(year FROM d)
    if isinstance(node, exp.Func):
        parent = node.parent
        if isinstance(parent, exp.Table) and parent.this is node:
            return None  # the table check names it as a table function
        name = _function_name(node)
        if name in FUNCTIONS and (not isinstance(node, exp.Anonymous) or _PLAIN.fullmatch(name)):
            return None
        spelled = source.spelled(node, name)
        return f"function {spelled}", "not an allowed scalar, aggregate or window function"
    if isinstance(node, exp.Command):
        return str(node.this).upper(), "not allowed in SQL audiences and ad-hoc warehouse SQL"
    return node.key.upper(), "not allowed in SQL audiences and ad-hoc warehouse SQL"


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _table_problem(table: exp.Table, readable: Readable, source: Source) -> tuple[str, str] | None:
    what = table.this
    if isinstance(what, exp.Func):
        name = source.spelled(what, _function_name(what))
        return f"table function {name}", "only warehouse tables (PROJECT.TABLE) may be read"
    if not isinstance(what, exp.Identifier):
        return f"{what.key.upper()} as a table", "only warehouse tables may be read"
    name, project = table.name, table.db
    if table.catalog:
        return f"table {table.sql('duckdb')}", "name tables as PROJECT.TABLE, without a catalog"
    if not project:
        if name.lower() in _ctes_in_scope(table):
            return None
        if _LOOKS_LIKE_A_FILE.search(name):
            return f"file or URL {name!r} as a table", "only warehouse tables may be read"
        return f"table {name}", "name warehouse tables as PROJECT.TABLE"
    if project.lower() in SYSTEM_SCHEMAS or name.lower().startswith(SYSTEM_TABLE_PREFIXES):
        return f"system catalog {project}.{name}", "only warehouse tables may be read"
    if not (CODE.matches(project) and IDENTIFIER.matches(name)):
        return f"table {project}.{name!r}", "not a warehouse table name"
    if readable is not None and project not in readable:
        return f"table {project}.{name}", f"the owner may not read project {project}"
    return None


def _ctes_in_scope(node: exp.Expr) -> set[str]:
    """CTE names a table reference at `node` resolves to, as DuckDB resolves them.

    A CTE sees only the CTEs defined before it in its WITH (itself too when RECURSIVE); the
    body of a query sees all of its WITH; outer queries' WITHs are visible inside subqueries.
    A name that resolves to no CTE is looked up in the catalog, so it must not pass as one.
    """
    names: set[str] = set()
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.With) and isinstance(child, exp.CTE):
            ctes = list(parent.expressions)
            index = next(i for i, cte in enumerate(ctes) if cte is child)
            visible = ctes[: index + 1] if parent.args.get("recursive") else ctes[:index]
            names |= {_cte_name(cte) for cte in visible}
        else:
            with_ = parent.args.get("with_") or parent.args.get("with")
            if isinstance(with_, exp.With) and child is not with_:
                names |= {_cte_name(cte) for cte in with_.expressions}
        child, parent = parent, parent.parent
    names.discard("")
    return names


def _cte_name(cte: exp.Expr) -> str:
    """A CTE's name as DuckDB matches it; names that are not plain ASCII never match."""
    name = str(cte.alias_or_name)
    return name.lower() if _PLAIN.fullmatch(name) else ""


def _offset(node: exp.Expr) -> int:
    """Where a node starts in the parsed text: the first position within it, else its parent's."""
    starts = [
        start
        for candidate in node.walk()
        if candidate.meta and isinstance(start := candidate.meta.get("start"), int)
    ]
    if starts:
        return min(starts)
    parent = node.parent
    return _offset(parent) if parent is not None else 0


def audience_sql_problems(sql: str, readable: Readable) -> list[str]:
    """Every reason a SQL audience may not run for an owner who reads `readable` (save and run
    time alike): its shape first (one SELECT of one column), then the allow-list."""
    try:
        query = queries.parse_select(sql)
    except InvalidInput as exc:
        return [p.message for p in exc.problems]
    marks = queries.marked(sql)
    source = Source(marks.text, sql, marks.origin)
    return [str(refusal) for refusal in refusals(query, readable, source)]


def checked_query(sql: str, readable: Readable) -> exp.Query:
    """Ad-hoc SQL as a tree the allow-list accepts (to be rendered and run), else InvalidInput
    naming every refusal."""
    query = queries.parse_statement(sql)
    found = refusals(query, readable, Source(sql, sql))
    if found:
        raise InvalidInput(Problem("sql", "", str(refusal)) for refusal in found)
    return query
