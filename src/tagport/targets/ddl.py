"""Checking a user-edited CREATE TABLE script before it runs.

Accepted: exactly one CREATE TABLE (with a column list) in the chosen schema, plus COMMENT ON
statements for that same table. sqlglot parses the statement; clauses it cannot parse but that
the dialect's own generator writes (Greenplum `DISTRIBUTED BY`, MySQL `PARTITION BY LIST
COLUMNS`, Oracle `PARTITION BY LIST … AUTOMATIC`) are matched by a strict pattern first.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from tagport.domain.naming import IDENTIFIER
from tagport.errors import InvalidInput

if TYPE_CHECKING:
    from tagport.targets.sql import Dialect

_IDENT = r'(?:"[^"]+"|`[^`]+`|[A-Za-z_][A-Za-z0-9_$]*)'
_PART_DEF = rf"PARTITION\s+{_IDENT}\s+VALUES\s*(?:IN\s*)?\(\s*'[^']*'\s*\)"
TAILS: dict[str, re.Pattern[str]] = {
    "distributed": re.compile(
        rf"\s+DISTRIBUTED\s+(?:BY\s*\(\s*{_IDENT}(?:\s*,\s*{_IDENT})*\s*\)|RANDOMLY|REPLICATED)\s*$",
        re.I,
    ),
    "list_partitions": re.compile(
        rf"\s+PARTITION\s+BY\s+LIST\s*(?:COLUMNS\s*)?\(\s*{_IDENT}\s*\)\s*(?:AUTOMATIC\s*)?"
        rf"\(\s*{_PART_DEF}(?:\s*,\s*{_PART_DEF})*\s*\)\s*$",
        re.I,
    ),
}


def split_statements(sql: str, dialect: str = "postgres") -> list[str]:
    """Split a script on top-level semicolons (ones inside strings or quotes do not count)."""
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except TokenError as exc:
        raise InvalidInput.one("sql", "statement", f"cannot be read: {exc}") from None
    parts, start = [], 0
    for token in tokens:
        if token.token_type is TokenType.SEMICOLON:
            parts.append(sql[start : token.start])
            start = token.end + 1
    parts.append(sql[start:])
    return [p.strip() for p in parts if p.strip()]


def _bad(message: str) -> InvalidInput:
    return InvalidInput.one("sql", "statement", message)


def _name(ident: exp.Expression | None, dialect: Dialect) -> str | None:
    if not isinstance(ident, exp.Identifier):
        return None
    name = str(ident.this)
    if ident.quoted:
        return name
    # Unquoted identifiers fold: to upper case in Oracle, lower case in the PostgreSQL family.
    if dialect.sqlglot_dialect == "oracle":
        return name.upper()
    return name.lower() if dialect.sqlglot_dialect in ("postgres", "duckdb") else name


def _parse_one(text: str, dialect: Dialect) -> exp.Expr:
    try:
        parsed = sqlglot.parse(
            text, read=dialect.sqlglot_dialect, error_level=sqlglot.ErrorLevel.RAISE
        )
    except (ParseError, TokenError) as exc:
        raise _bad(f"does not parse as {dialect.sqlglot_dialect} SQL: {exc}") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise _bad("expected one statement")
    return parsed[0]


def validate_create(dialect: Dialect, sql: str, schema: str | None) -> str:
    """Return the table a script creates, or raise InvalidInput naming what is wrong."""
    statements = split_statements(sql, dialect.sqlglot_dialect)
    creates = [s for s in statements if re.match(r"\s*CREATE\b", s, re.I)]
    if len(creates) != 1:
        raise _bad(f"must contain exactly one CREATE TABLE, found {len(creates)} CREATE statements")
    head = creates[0]
    for tail in TAILS.values():
        head = tail.sub("", head, count=1)
    create = _parse_one(head, dialect)
    if not isinstance(create, exp.Create) or str(create.args.get("kind", "")).upper() != "TABLE":
        raise _bad("must be a CREATE TABLE statement")
    if create.expression is not None:
        raise _bad("CREATE TABLE … AS SELECT is not accepted; list the columns")
    schema_node = create.this
    if not isinstance(schema_node, exp.Schema) or not isinstance(schema_node.this, exp.Table):
        raise _bad("CREATE TABLE needs a column list")
    table_node = schema_node.this
    table = _name(table_node.args.get("this"), dialect)
    if table is None or not IDENTIFIER.matches(table):
        raise _bad(f"table name {table!r}: {IDENTIFIER.explanation}")
    db = _name(table_node.args.get("db"), dialect)
    if table_node.args.get("catalog") is not None:
        raise _bad("the table name may carry a schema, not a catalog")
    if schema is not None and db is not None and db != schema:
        raise _bad(f"the table must be created in schema {schema!r}, not {db!r}")
    if schema is not None and db is None and dialect.capabilities.schemas:
        raise _bad(f"qualify the table with its schema: {schema}.{table}")
    for other in statements:
        if other is creates[0]:
            continue
        node = _parse_one(other, dialect)
        target = node.this if isinstance(node, exp.Comment) else None
        if not isinstance(target, exp.Expression):
            raise _bad("only COMMENT ON statements may accompany the CREATE TABLE")
        commented = target.find(exp.Table) if not isinstance(target, exp.Table) else target
        if isinstance(target, exp.Column):
            commented_name = _name(target.args.get("table"), dialect)
        else:
            commented_name = _name(commented.args.get("this"), dialect) if commented else None
        if commented_name != table:
            raise _bad(f"COMMENT ON must concern table {table!r}")
    return table
