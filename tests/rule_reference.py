"""The rule language's reference: sample tags over three sources, Hypothesis strategies for
rules over them, and a plain-Python evaluator of a rule on one member's values, which the
compiled SQL (integration) and the rule analyses (unit) are checked against."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSource, TagSpec
from tagport.domain.rules import (
    AllOf,
    AnyOf,
    AudienceRef,
    Condition,
    Not,
    Op,
    RelativeDays,
    Rule,
    coerce_value,
)
from tagport.warehouse.base import AudienceScope, TagRef

BIZDATE = date(2024, 3, 10)
IDS = range(1, 13)

# tag code -> (source table, column, value type, values data and rules draw from)
TAGS: dict[str, tuple[str, str, str, list[Any]]] = {
    "word": ("p.a", "c_word", "string", ["", "a", "ab", "b", "ba"]),
    "num": ("p.a", "c_num", "long", [-2, 0, 1, 5]),
    "flag": ("p.a", "c_flag", "boolean", [True, False]),
    "spend": (
        "p.b",
        "c_spend",
        "decimal(10,2)",
        [Decimal("-1.50"), Decimal("0.00"), Decimal("2.25")],
    ),
    "ratio": ("p.b", "c_ratio", "double", [-1.5, 0.0, 2.25]),
    "day": ("p.b", "c_day", "date", [date(2024, 3, 1), date(2024, 3, 9), date(2024, 3, 10)]),
    "at": ("p.c", "c_at", "datetime", [datetime(2024, 3, 9, 0, 0), datetime(2024, 3, 9, 12, 30)]),
}
TABLES = ["p.a", "p.b", "p.c"]
"""Three sources: the third joins on the ID of either of the first two (an ID absent from the
first source is one member, not one per source holding it)."""
IMPORTED = [2, 3, 5, 7, 11]

ENTITY = EntitySpec(code="user", name="User", project="p", id_field="user_id", id_type="bigint")
SPECS = {
    code: TagSpec(
        code=code,
        name=code,
        entity="user",
        value_type=vtype,
        source=TagSource(table=table, key="uid", column=column),
    )
    for code, (table, column, vtype, _) in TAGS.items()
}
SEED = AudienceGroupSpec(code="seed", name="s", entity="user", owner="x", import_="seed.txt")
SCOPE = AudienceScope(ENTITY, {c: TagRef(s) for c, s in SPECS.items()}, {"seed": SEED})


def rule_value(tag: str, raw: Any) -> Any:
    """A data value spelled as a rule value (dates as text, decimals as strings)."""
    if isinstance(raw, datetime):
        return raw.isoformat(sep=" ")
    if isinstance(raw, date):
        return raw.isoformat()
    if isinstance(raw, Decimal):
        return str(raw)
    return raw


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    tag = draw(st.sampled_from(sorted(TAGS)))
    _, _, vtype, domain = TAGS[tag]
    ops = [Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL, Op.NOT_NULL]
    if vtype == "string":
        ops += [Op.CONTAINS, Op.STARTS_WITH]
    elif vtype != "boolean":
        ops += [Op.GT, Op.GE, Op.LT, Op.LE, Op.BETWEEN]
    op = draw(st.sampled_from(ops))
    one = st.sampled_from(domain).map(lambda v: rule_value(tag, v))
    if vtype in ("date", "datetime"):
        one = st.one_of(one, st.integers(-10, 1).map(lambda d: RelativeDays(relative_days=d)))
    if op in (Op.IS_NULL, Op.NOT_NULL):
        return Condition(tag=tag, op=op)
    if op in (Op.IN, Op.NOT_IN):
        return Condition(tag=tag, op=op, value=draw(st.lists(one, min_size=1, max_size=3)))
    if op is Op.BETWEEN:
        return Condition(tag=tag, op=op, value=[draw(one), draw(one)])
    return Condition(tag=tag, op=op, value=draw(one))


def rules() -> st.SearchStrategy[Rule]:
    leaves = st.one_of(conditions(), st.just(AudienceRef(audience="seed")))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda r: AllOf(all=r)),
            st.lists(inner, min_size=1, max_size=3).map(lambda r: AnyOf(any=r)),
            inner.map(lambda r: Not(not_=r)),
        ),
        max_leaves=6,
    )


def holds(rule: Rule, values: dict[str, Any], uid: int) -> bool:
    """The reference evaluator: plain Python, two-valued (a NULL satisfies only is_null)."""
    if isinstance(rule, AllOf):
        return all(holds(r, values, uid) for r in rule.all)
    if isinstance(rule, AnyOf):
        return any(holds(r, values, uid) for r in rule.any)
    if isinstance(rule, Not):
        return not holds(rule.not_, values, uid)
    if isinstance(rule, AudienceRef):
        return uid in IMPORTED
    value = values.get(rule.tag)
    if rule.op is Op.IS_NULL:
        return value is None
    if rule.op is Op.NOT_NULL:
        return value is not None
    if value is None:
        return False
    vtype = SPECS[rule.tag].type
    raw = rule.value if isinstance(rule.value, list) else [rule.value]
    wanted = [coerce_value(vtype, v, BIZDATE) for v in raw if v is not None]
    compare: dict[Op, Callable[[Any, Any], bool]] = {
        Op.EQ: lambda a, b: a == b,
        Op.NE: lambda a, b: a != b,
        Op.GT: lambda a, b: a > b,
        Op.GE: lambda a, b: a >= b,
        Op.LT: lambda a, b: a < b,
        Op.LE: lambda a, b: a <= b,
        Op.CONTAINS: lambda a, b: b in a,
        Op.STARTS_WITH: lambda a, b: a.startswith(b),
    }
    if rule.op in compare:
        return compare[rule.op](value, wanted[0])
    if rule.op is Op.IN:
        return value in wanted
    if rule.op is Op.NOT_IN:
        return value not in wanted
    return bool(wanted[0] <= value <= wanted[1])


def member_values() -> st.SearchStrategy[dict[str, Any]]:
    """One member's value of each tag (NULL among them), as `holds` reads them."""
    return st.fixed_dictionaries(
        {
            code: st.one_of(st.none(), st.sampled_from(domain))
            for code, (_, _, _, domain) in TAGS.items()
        }
    )
