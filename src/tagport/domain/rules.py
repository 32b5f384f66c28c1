"""Audience rules: the tree of conditions a rule-based audience group is defined by.

This module checks a rule's shape (operators, value arity); whether tags exist, belong to the
entity and accept the value is checked against the catalog by `services.audiences`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    Tag,
    TypeAdapter,
    model_validator,
)

from tagport.domain.naming import CODE
from tagport.domain.values import ValueKind, ValueType, parse_code


class Op(StrEnum):
    EQ = "="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    IN = "in"
    NOT_IN = "not_in"
    BETWEEN = "between"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"


LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
NO_VALUE_OPS = frozenset({Op.IS_NULL, Op.NOT_NULL})
ORDERED_OPS = frozenset({Op.GT, Op.GE, Op.LT, Op.LE, Op.BETWEEN})
STRING_OPS = frozenset({Op.CONTAINS, Op.STARTS_WITH})


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class RelativeDays(_Node):
    """A date relative to the bizdate: `{relative_days: -30}` is bizdate - 30 days."""

    relative_days: StrictInt


Scalar = str | bool | int | float | RelativeDays


class Condition(_Node):
    tag: Annotated[str, Field(description="tag code")]
    op: Op
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _arity(self) -> Condition:
        CODE.check(self.tag)
        if self.op in NO_VALUE_OPS:
            if self.value is not None:
                raise ValueError(f"operator {self.op.value} takes no value")
        elif self.op in LIST_OPS:
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"operator {self.op.value} needs a non-empty list of values")
        elif self.op is Op.BETWEEN:
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("operator between needs a list [low, high]")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"operator {self.op.value} needs a single value")
        return self


class AudienceRef(_Node):
    """Membership of another audience group of the same entity."""

    audience: str

    @model_validator(mode="after")
    def _code(self) -> AudienceRef:
        CODE.check(self.audience)
        return self


class AllOf(_Node):
    all: list[Rule] = Field(min_length=1)


class AnyOf(_Node):
    any: list[Rule] = Field(min_length=1)


class Not(_Node):
    not_: Rule = Field(alias="not")


def _node_kind(value: Any) -> str | None:
    """Pick the node type by its key, so errors speak of one shape rather than all five."""
    if isinstance(value, BaseModel):
        return type(value).__name__
    if not isinstance(value, dict):
        return None
    for key, kind in (
        ("all", "AllOf"),
        ("any", "AnyOf"),
        ("not", "Not"),
        ("audience", "AudienceRef"),
    ):
        if key in value:
            return kind
    return "Condition" if value.keys() & {"tag", "op", "value"} else None


Rule = Annotated[
    Annotated[AllOf, Tag("AllOf")]
    | Annotated[AnyOf, Tag("AnyOf")]
    | Annotated[Not, Tag("Not")]
    | Annotated[AudienceRef, Tag("AudienceRef")]
    | Annotated[Condition, Tag("Condition")],
    Discriminator(
        _node_kind,
        custom_error_type="rule_shape",
        custom_error_message="a rule node is one of {all: [...]}, {any: [...]}, {not: {...}}, "
        "{tag, op, value} or {audience: CODE}",
    ),
]


def walk(rule: Rule, path: str = "rule") -> list[tuple[str, Condition | AudienceRef]]:
    """Every leaf of `rule` with its path (`rule.all[1].any[0]`), for messages that point at it."""
    if isinstance(rule, AllOf):
        return [leaf for i, r in enumerate(rule.all) for leaf in walk(r, f"{path}.all[{i}]")]
    if isinstance(rule, AnyOf):
        return [leaf for i, r in enumerate(rule.any) for leaf in walk(r, f"{path}.any[{i}]")]
    if isinstance(rule, Not):
        return walk(rule.not_, f"{path}.not")
    return [(path, rule)]


# Models and this adapter build their validators on first use (`defer_build`), not at import:
# building every schema of the domain cost the CLI ~0.1 s before it read an argument.
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule, config=ConfigDict(defer_build=True))


def parse_rule(data: Any) -> Rule:
    """A rule from its stored or declared form."""
    return _RULE.validate_python(data)


def dump_rule(rule: Rule) -> Any:
    return _RULE.dump_python(rule, mode="json", by_alias=True, exclude_none=True)


# --- Save-time checks of conditions against their tag's value type ------------------------------

_NUMERIC_KINDS = frozenset({ValueKind.LONG, ValueKind.DOUBLE, ValueKind.DECIMAL})
_TEMPORAL_KINDS = frozenset({ValueKind.DATE, ValueKind.DATETIME})

_BASIC_OPS = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL, Op.NOT_NULL})

OPS_BY_KIND: dict[ValueKind, frozenset[Op]] = {
    ValueKind.STRING: _BASIC_OPS | STRING_OPS,
    ValueKind.BOOLEAN: _BASIC_OPS,
    **dict.fromkeys(_NUMERIC_KINDS | _TEMPORAL_KINDS, _BASIC_OPS | ORDERED_OPS),
}
"""Operators each value type accepts: ordering only for numbers and dates, text ops for strings."""

RuleValue = str | bool | int | float | Decimal | date | datetime
"""A condition value once coerced to its tag's type (what the SQL compiler renders)."""


def coerce_value(value_type: ValueType, value: Scalar, bizdate: date | None = None) -> RuleValue:
    """`value` as a Python value of the tag's type, or ValueError saying why it is not one.

    A relative date resolves against `bizdate` (today's placeholder when checking at save time).
    The reason names the tag's type: "'12' is not a whole number for a long tag".
    """
    kind, of = value_type.kind, f"for a {value_type} tag"
    if isinstance(value, RelativeDays):
        if kind not in _TEMPORAL_KINDS:
            raise ValueError(f"relative_days is only for date and datetime tags, not {of}")
        day = (bizdate or date.today()) + timedelta(days=value.relative_days)
        return day if kind is ValueKind.DATE else datetime.combine(day, time())
    if kind is ValueKind.STRING:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string: quote it {of}")
        return value
    if kind is ValueKind.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false {of}")
        return value
    if kind is ValueKind.LONG:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not a whole number {of}")
        return value
    if kind in _NUMERIC_KINDS:
        return _number(value_type, value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date {of}; write yyyy-MM-dd or {{relative_days: N}}")
    try:
        if kind is ValueKind.DATE:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError:
        spelled = "yyyy-MM-dd" if kind is ValueKind.DATE else "yyyy-MM-dd[ HH:mm:ss]"
        raise ValueError(f"{value!r} is not a {kind.value} {of}; write {spelled}") from None


def _number(value_type: ValueType, value: Scalar) -> RuleValue:
    of = f"for a {value_type} tag"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number {of}")
    if value_type.kind is ValueKind.DOUBLE:
        if isinstance(value, str):
            raise ValueError(f"{value!r} is not a number {of} (write numbers unquoted)")
        return float(value)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number {of}") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number {of}")
    return number


def condition_problems(
    condition: Condition, value_type: ValueType, codes: Collection[str] | None = None
) -> list[str]:
    """What is wrong with `condition` on a tag of `value_type` (with lookup `codes`, if any)."""
    if condition.op not in OPS_BY_KIND[value_type.kind]:
        allowed = ", ".join(op.value for op in Op if op in OPS_BY_KIND[value_type.kind])
        return [f"operator {condition.op.value} is not valid for a {value_type} tag; use {allowed}"]
    values: list[Scalar] = []
    if isinstance(condition.value, list):
        values = list(condition.value)
    elif condition.value is not None:
        values = [condition.value]
    known = None if codes is None else {_normal_code(value_type, c) for c in codes}
    problems: list[str] = []
    for value in values:
        try:
            coerce_value(value_type, value)
        except ValueError as exc:
            problems.append(f"value {exc}")
            continue
        in_lookup = known is None or _normal_code(value_type, value) in known
        if condition.op in _BASIC_OPS and not in_lookup:
            problems.append(f"code {value!r} is not in the tag's lookup table")
    return problems


def _normal_code(value_type: ValueType, value: Scalar) -> str | None:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        return parse_code(value_type.kind, text)
    except ValueError:
        return None


def rule_problems(
    rule: Rule, tags: Mapping[str, tuple[ValueType, Collection[str] | None]]
) -> list[tuple[str, str]]:
    """(path, message) for every condition of `rule` that its tag's type or lookup refuses.

    `tags` maps tag codes to their value type and lookup codes; tags missing from it are
    reported by the caller (it knows whether they do not exist or belong to another entity).
    """
    found: list[tuple[str, str]] = []
    for where, leaf in walk(rule):
        if isinstance(leaf, Condition) and leaf.tag in tags:
            value_type, codes = tags[leaf.tag]
            found.extend(
                (where, message) for message in condition_problems(leaf, value_type, codes)
            )
    return found
