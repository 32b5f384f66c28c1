"""Checking a user-edited CREATE TABLE script, and turning it into what tagport will run.

The script is read with the target's own dialect and walked against an allow-list: one CREATE
TABLE with typed columns, NOT NULL, literal defaults (and CURRENT_TIMESTAMP), the primary key,
the partition (and Greenplum distribution) clause one-click creation generates, and comments
(COMMENT ON that table and its columns, or MySQL's inline COMMENT). Everything else is refused
with a message naming it. The result is a `TableDdl`, which the dialect renders again: the text
the user typed never reaches the database, so a comment or quote that the server reads
differently from sqlglot cannot smuggle a statement (issue 17, findings 2, 4 and 8).

Clauses sqlglot cannot parse but the dialects' generators write (Greenplum `DISTRIBUTED BY`,
MySQL/openGauss/Oracle `PARTITION BY LIST … (PARTITION …)`) are matched by strict patterns at
the end of the statement first; only the column names are taken from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from tagport.domain.naming import IDENTIFIER
from tagport.errors import InvalidInput
from tagport.targets.base import ColumnDdl, TableDdl

if TYPE_CHECKING:
    from tagport.targets.sql import Dialect

_IDENT = r'(?:"[^"]+"|`[^`]+`|[A-Za-z_][A-Za-z0-9_$]*)'
_PART_DEF = rf"PARTITION\s+{_IDENT}\s+VALUES\s*(?:IN\s*)?\(\s*'[^']*'\s*\)"
_DISTRIBUTED = re.compile(
    rf"\s+DISTRIBUTED\s+BY\s*\(\s*({_IDENT}(?:\s*,\s*{_IDENT})*)\s*\)\s*$", re.I
)
_LIST_PARTITIONS = re.compile(
    rf"\s+PARTITION\s+BY\s+LIST\s*(?:COLUMNS\s*)?\(\s*({_IDENT})\s*\)\s*(?:AUTOMATIC\s*)?"
    rf"\(\s*{_PART_DEF}(?:\s*,\s*{_PART_DEF})*\s*\)\s*$",
    re.I,
)

# Words naming what an edited statement may not contain, for the message (by sqlglot node).
_CONSTRUCTS: dict[str, str] = {
    "LikeProperty": "LIKE",
    "InheritsProperty": "INHERITS",
    "PartitionedOfProperty": "PARTITION OF",
    "Reference": "REFERENCES (foreign keys)",
    "ForeignKey": "FOREIGN KEY … REFERENCES",
    "CheckColumnConstraint": "CHECK constraints",
    "ComputedColumnConstraint": "generated columns",
    "GeneratedAsIdentityColumnConstraint": "generated (identity) columns",
    "GeneratedAsRowColumnConstraint": "generated columns",
    "TemporaryProperty": "TEMPORARY tables",
    "UnloggedProperty": "UNLOGGED tables",
    "TableSpaceProperty": "TABLESPACE",
    "EngineProperty": "ENGINE options",
    "Property": "storage options (WITH …)",
    "WithDataProperty": "storage options (WITH …)",
    "StorageProperty": "storage options",
    "CharacterSetProperty": "table CHARACTER SET options",
    "CollateProperty": "table COLLATE options",
    "CollateColumnConstraint": "column COLLATE",
    "CharacterSetColumnConstraint": "column CHARACTER SET",
    "UniqueColumnConstraint": "UNIQUE constraints",
    "Constraint": "named constraints",
    "AutoIncrementColumnConstraint": "AUTO_INCREMENT",
    "OnUpdateColumnConstraint": "ON UPDATE",
    "IndexColumnConstraint": "indexes",
    "SortKeyProperty": "sort keys",
    "DistKeyProperty": "distribution keys",
    "AutoIncrementProperty": "AUTO_INCREMENT options",
}
_CREATE_FLAGS = {
    "exists": "IF NOT EXISTS",
    "expression": "AS SELECT (list the columns instead)",
    "replace": "OR REPLACE",
    "unique": "UNIQUE",
    "clone": "CLONE",
}
# Words that name a refused construct when sqlglot cannot parse the statement at all.
_WORDS = {
    "DIRECTORY": "DATA DIRECTORY / INDEX DIRECTORY options",
    "ENGINE": "ENGINE options",
    "TABLESPACE": "TABLESPACE",
    "INHERITS": "INHERITS",
    "REFERENCES": "REFERENCES (foreign keys)",
    "CHECK": "CHECK constraints",
    "GENERATED": "generated columns",
    "UNLOGGED": "UNLOGGED tables",
    "STORAGE": "storage options",
}
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")
_COLLATION = re.compile(r"[A-Za-z0-9_.@-]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _bad(message: str) -> InvalidInput:
    return InvalidInput.one("sql", "statement", message)


def _refused(construct: str) -> InvalidInput:
    return _bad(f"{construct} is not accepted in one-click table creation")


def _construct(node: exp.Expression, dialect: Dialect) -> str:
    name = _CONSTRUCTS.get(type(node).__name__)
    if name is not None:
        return name
    text = node.sql(dialect=dialect.sqlglot_dialect)
    return f"{text[:60]!r}" if text else type(node).__name__


def split_statements(sql: str, dialect: str = "postgres") -> list[str]:
    """Split a script on top-level semicolons (ones inside strings, quotes or comments do not
    count); MySQL executable comments `/*! … */` are refused, not ignored."""
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except TokenError as exc:
        raise _bad(f"cannot be read: {(str(exc).splitlines() or [''])[0]}") from None
    if dialect == "mysql" and any(
        c.lstrip().startswith(("!", "M!")) for t in tokens for c in t.comments
    ):
        raise _refused("MySQL executable comments /*! … */")
    parts, start = [], 0
    for token in tokens:
        if token.token_type is TokenType.SEMICOLON:
            parts.append(sql[start : token.start])
            start = token.end + 1
    parts.append(sql[start:])
    return [p.strip() for p in parts if p.strip()]


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


def _ident_text(text: str, dialect: Dialect) -> str:
    """A name matched by one of the tail patterns, unquoted and folded like the dialect does."""
    if text[0] in '"`':
        return text[1:-1]
    return _name(exp.to_identifier(text), dialect) or text


def _parse_one(text: str, dialect: Dialect) -> exp.Expr:
    try:
        parsed = sqlglot.parse(
            text, read=dialect.sqlglot_dialect, error_level=sqlglot.ErrorLevel.RAISE
        )
    except (ParseError, TokenError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise _bad(f"does not parse as {dialect.sqlglot_dialect} SQL: {first}") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise _bad("expected one statement")
    node = parsed[0]
    if isinstance(node, exp.Command):
        # sqlglot gave up on a clause: name it when a word gives it away.
        words = {t.text.upper() for t in sqlglot.tokenize(text, read=dialect.sqlglot_dialect)}
        for word, construct in _WORDS.items():
            if word in words:
                raise _refused(construct)
        raise _bad(f"does not parse as {dialect.sqlglot_dialect} SQL: {text[:60]!r}")
    return node


@dataclass
class _Table:
    """What the walk has collected so far."""

    name: str
    columns: list[ColumnDdl] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    comment: str | None = None
    partition_column: str | None = None
    distributed_by: tuple[str, ...] = ()

    def column(self, name: str, where: str) -> int:
        for i, column in enumerate(self.columns):
            if column.name == name:
                return i
        raise _bad(f"{where} names {name!r}, which is not a column of {self.name}")


def check_create(dialect: Dialect, sql: str, schema: str | None) -> TableDdl:
    """The table a user-edited script creates, checked; InvalidInput names what is refused.

    `schema`: where the table must be created (MySQL: the connection's database).
    """
    statements = split_statements(sql, dialect.sqlglot_dialect)
    creates = [s for s in statements if re.match(r"\s*CREATE\b", s, re.I)]
    if len(creates) != 1:
        raise _bad(f"must contain exactly one CREATE TABLE, found {len(creates)} CREATE statements")
    head, tails = _strip_tails(creates[0], dialect)
    table = _walk_create(_parse_one(head, dialect), dialect, schema)
    table.partition_column = tails.partition_column or table.partition_column
    table.distributed_by = tails.distributed_by
    for other in statements:
        if other is not creates[0]:
            _walk_comment(_parse_one(other, dialect), dialect, schema, table)
    return _finish(table, dialect)


def _strip_tails(statement: str, dialect: Dialect) -> tuple[str, _Table]:
    """Remove the generated clauses sqlglot cannot parse; keep the columns they name."""
    found = _Table("")
    match = _DISTRIBUTED.search(statement)
    if match:
        if not dialect.capabilities.distributed_by:
            raise _refused("DISTRIBUTED BY")
        names = re.findall(_IDENT, match.group(1))
        found.distributed_by = tuple(_ident_text(n, dialect) for n in names)
        statement = statement[: match.start()]
    match = _LIST_PARTITIONS.search(statement)
    if match:
        if not dialect.capabilities.partitioned_tables:
            raise _refused("partitioning (this target is never partitioned)")
        found.partition_column = _ident_text(match.group(1), dialect)
        statement = statement[: match.start()]
    return statement, found


def _walk_create(node: exp.Expr, dialect: Dialect, schema: str | None) -> _Table:
    if not isinstance(node, exp.Create) or str(node.args.get("kind", "")).upper() != "TABLE":
        raise _bad("must be a CREATE TABLE statement")
    for key, construct in _CREATE_FLAGS.items():
        if node.args.get(key):
            raise _refused(construct)
    for key, value in node.args.items():
        if key not in ("this", "kind", "properties", *_CREATE_FLAGS) and value:
            raise _refused(key.upper())
    properties = node.args.get("properties")
    props = list(properties.expressions) if isinstance(properties, exp.Properties) else []
    for prop in props:  # refused properties first: `CREATE TABLE t LIKE u` has no column list
        if not isinstance(prop, (exp.SchemaCommentProperty, exp.PartitionedByProperty)):
            raise _refused(_construct(prop, dialect))
    body = node.this
    if not isinstance(body, exp.Schema) or not isinstance(body.this, exp.Table):
        raise _bad("CREATE TABLE needs a column list")
    table = _Table(_table_name(body.this, dialect, schema))
    for prop in props:
        _walk_property(prop, dialect, table)
    for item in body.expressions:
        if isinstance(item, exp.ColumnDef):
            table.columns.append(_walk_column(item, dialect, table))
        elif isinstance(item, exp.PrimaryKey):
            _set_key(table, _key_names(item, dialect))
        else:
            raise _refused(_construct(item, dialect))
    return table


def _table_name(node: exp.Table, dialect: Dialect, schema: str | None) -> str:
    name = _name(node.args.get("this"), dialect)
    if name is None or not IDENTIFIER.matches(name):
        raise _bad(f"table name {name!r}: {IDENTIFIER.explanation}")
    if node.args.get("catalog") is not None:
        raise _bad("the table name may carry a schema, not a catalog")
    db = _name(node.args.get("db"), dialect)
    if db is not None and schema is None:
        raise _bad(f"the task sets no schema: leave out {db!r} (the default schema is used)")
    if db is not None and db != schema:
        raise _bad(f"the table must be created in schema {schema!r}, not {db!r}")
    return name


def _walk_property(prop: exp.Expression, dialect: Dialect, table: _Table) -> None:
    if isinstance(prop, exp.SchemaCommentProperty) and dialect.inline_comments:
        table.comment = _string(prop.this, "the table COMMENT")
        return
    if isinstance(prop, exp.PartitionedByProperty) and dialect.capabilities.partitioned_tables:
        spec = prop.this
        if isinstance(spec, exp.List) and len(spec.expressions) == 1:
            column = spec.expressions[0]
            if isinstance(column, exp.Column) and not column.table:
                table.partition_column = _name(column.this, dialect)
                return
    if isinstance(prop, exp.PartitionedByProperty):
        why = (
            "" if dialect.capabilities.partitioned_tables else " (this target is never partitioned)"
        )
        raise _refused(f"partitioning other than the generated PARTITION BY LIST (column){why}")
    raise _refused(_construct(prop, dialect))


def _walk_column(node: exp.ColumnDef, dialect: Dialect, table: _Table) -> ColumnDdl:
    name = _name(node.this, dialect)
    if name is None:
        raise _bad(f"column {node.this.sql()!r}: a column needs a plain name")
    for key, value in node.args.items():
        if key not in ("this", "kind", "constraints") and value:
            raise _refused(f"column {name}: {key.upper()}")
    kind = node.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise _bad(f"column {name} needs a type")
    column = ColumnDdl(name, _type_sql(kind, dialect, name))
    for constraint in node.args.get("constraints") or []:
        rule = constraint.args.get("kind") if isinstance(constraint, exp.ColumnConstraint) else None
        if isinstance(constraint, exp.ColumnConstraint) and constraint.this is not None:
            raise _refused("named constraints")
        if isinstance(rule, exp.NotNullColumnConstraint):
            column = replace(column, not_null=not rule.args.get("allow_null"))
        elif isinstance(rule, exp.DefaultColumnConstraint):
            column = replace(column, default=_default_sql(rule.this, dialect, name))
        elif isinstance(rule, exp.PrimaryKeyColumnConstraint) and _plain_index(rule):
            _set_key(table, (name,))
        elif isinstance(rule, (exp.CharacterSetColumnConstraint, exp.CollateColumnConstraint)):
            column = replace(column, type=column.type + _text_option_sql(rule, dialect, name))
        elif isinstance(rule, exp.CommentColumnConstraint) and dialect.inline_comments:
            column = replace(column, comment=_string(rule.this, f"the COMMENT of column {name}"))
        else:
            what = _construct(rule, dialect) if rule is not None else repr(constraint.sql())
            raise _refused(f"column {name}: {what}")
    return column


def _plain_index(node: exp.Expression) -> bool:
    """A PRIMARY KEY without index options (USING INDEX TABLESPACE, WITH (…) …)."""
    include = node.args.get("include")
    options = include.args.values() if isinstance(include, exp.IndexParameters) else ()
    others = [v for k, v in node.args.items() if k not in ("include", "expressions", "this")]
    return not any(options) and not any(others)


def _key_names(node: exp.PrimaryKey, dialect: Dialect) -> tuple[str, ...]:
    if not _plain_index(node):
        raise _refused("PRIMARY KEY options")
    names = []
    for item in node.expressions:
        ident = item.this if isinstance(item, (exp.Column, exp.Ordered)) else item
        if isinstance(ident, exp.Column):
            ident = ident.this
        name = _name(ident, dialect)
        if name is None:
            raise _refused(f"PRIMARY KEY on {item.sql()!r}")
        names.append(name)
    return tuple(names)


def _set_key(table: _Table, key: tuple[str, ...]) -> None:
    if table.primary_key:
        raise _bad("the table has more than one PRIMARY KEY")
    table.primary_key = key


def _type_sql(kind: exp.DataType, dialect: Dialect, column: str) -> str:
    """The column type rendered by sqlglot from the checked node: a built-in type whose
    parameters are plain numbers."""
    if kind.this is exp.DataType.Type.USERDEFINED or kind.args.get("nested"):
        raise _refused(f"column {column}: type {kind.sql(dialect=dialect.sqlglot_dialect)!r}")
    for param in kind.expressions:
        number = param.this if isinstance(param, exp.DataTypeParam) else None
        extra = [v for k, v in param.args.items() if k != "this" and v]
        if not isinstance(number, exp.Literal) or number.is_string or extra:
            raise _refused(f"column {column}: type parameter {param.sql()!r}")
    if dialect.sqlglot_dialect == "oracle" and kind.this is exp.DataType.Type.DOUBLE:
        return "BINARY_DOUBLE"  # sqlglot reads it as DOUBLE and would write DOUBLE PRECISION
    return kind.sql(dialect=dialect.sqlglot_dialect)


def _text_option_sql(rule: exp.Expression, dialect: Dialect, column: str) -> str:
    """A column's CHARACTER SET (MySQL) or COLLATE (MySQL, PostgreSQL family), re-rendered
    from a validated name: they change how text compares, nothing else."""
    target = rule.this
    ident = target.this if isinstance(target, exp.Column) else target
    name = str(ident.this) if isinstance(ident, (exp.Identifier, exp.Var)) else ""
    charset = isinstance(rule, exp.CharacterSetColumnConstraint)
    if dialect.sqlglot_dialect == "mysql" and _PLAIN_NAME.fullmatch(name):
        return f" {'CHARACTER SET' if charset else 'COLLATE'} {name}"
    if dialect.sqlglot_dialect == "postgres" and not charset and _COLLATION.fullmatch(name):
        return f' COLLATE "{name}"'
    raise _refused(f"column {column}: {_construct(rule, dialect)} {name!r}")


def _default_sql(node: exp.Expression, dialect: Dialect, column: str) -> str:
    """A literal default rendered by tagport: a string, a number, NULL, TRUE/FALSE or
    CURRENT_TIMESTAMP. Anything else would be evaluated by the data source account."""
    while isinstance(node, exp.Paren):
        node = node.this
    sign = ""
    if isinstance(node, exp.Neg):
        sign, node = "-", node.this
    if isinstance(node, exp.Literal):
        if node.is_string and not sign:
            return dialect.literal(str(node.this))
        if not node.is_string and _NUMBER.fullmatch(str(node.this)):
            return sign + str(node.this)
    if isinstance(node, exp.Null) and not sign:
        return "NULL"
    if isinstance(node, exp.Boolean) and not sign:
        return "TRUE" if node.this else "FALSE"
    if isinstance(node, exp.CurrentTimestamp) and not sign:
        precision = node.this
        if precision is None:
            return "CURRENT_TIMESTAMP"
        if isinstance(precision, exp.Literal) and str(precision.this).isdigit():
            return f"CURRENT_TIMESTAMP({precision.this})"
    shown = node.sql(dialect=dialect.sqlglot_dialect)[:60]
    raise _refused(
        f"column {column}: DEFAULT {shown!r} (an expression; only literals and "
        "CURRENT_TIMESTAMP are)"
    )


def _string(node: exp.Expression | None, what: str) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    raise _bad(f"{what} must be a string literal")


def _walk_comment(node: exp.Expr, dialect: Dialect, schema: str | None, table: _Table) -> None:
    if not isinstance(node, exp.Comment) or dialect.inline_comments:
        only = "inline COMMENT '…'" if dialect.inline_comments else "COMMENT ON statements"
        raise _bad(f"only {only} may accompany the CREATE TABLE")
    if node.args.get("exists") or node.args.get("materialized"):
        raise _refused("COMMENT options")
    target, kind = node.this, str(node.args.get("kind", "")).upper()
    text = _string(node.expression, "a COMMENT ON text")
    if kind == "TABLE" and isinstance(target, exp.Table):
        _same_table(target.args.get("this"), target.args.get("db"), dialect, schema, table)
        table.comment = text
    elif kind == "COLUMN" and isinstance(target, exp.Column):
        _same_table(target.args.get("table"), target.args.get("db"), dialect, schema, table)
        name = _name(target.this, dialect) or ""
        i = table.column(name, "COMMENT ON COLUMN")
        table.columns[i] = replace(table.columns[i], comment=text)
    else:
        raise _bad(f"COMMENT ON must concern table {table.name!r} or its columns")


def _same_table(
    name: exp.Expression | None,
    db: exp.Expression | None,
    dialect: Dialect,
    schema: str | None,
    table: _Table,
) -> None:
    qualifier = _name(db, dialect)
    if _name(name, dialect) != table.name or qualifier not in (None, schema):
        raise _bad(f"COMMENT ON must concern table {table.name!r} or its columns")


def _finish(table: _Table, dialect: Dialect) -> TableDdl:
    """Check the names the clauses refer to, and freeze the table."""
    if not table.columns:
        raise _bad("CREATE TABLE needs at least one column")
    names = [c.name for c in table.columns]
    if len({n.lower() for n in names}) != len(names):
        raise _bad("each column may be listed once")
    for name in names:
        dialect.quote(name)  # validates it as a plain identifier within the length limit
    dialect.quote(table.name)
    for name in table.primary_key:
        table.column(name, "PRIMARY KEY")
    for name in table.distributed_by:
        table.column(name, "DISTRIBUTED BY")
    if table.partition_column is not None:
        table.column(table.partition_column, "PARTITION BY")
    return TableDdl(
        table.name,
        tuple(table.columns),
        table.primary_key,
        table.comment,
        table.partition_column,
        table.distributed_by,
    )


def propose_table_name(task: str, fallback: str, limit: int) -> str:
    """A table name for a task whose target table is not set (issue 10, item 11): the task
    name as a lower-case plain identifier (a task named only in Chinese falls back to
    `fallback`, e.g. the audience code), cut to the dialect's identifier limit."""
    from tagport.targets.sql import shorten  # sql imports this module

    name = ""
    for base in (task, fallback):
        name = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", base.lower())).strip("_")
        if name:
            break
    if not name[:1].isalpha():
        name = f"t_{name}".rstrip("_")
    return name if len(name) <= limit else shorten(name, "", limit)
