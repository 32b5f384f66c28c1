"""Audience rules: the tree of conditions a rule-based audience group is defined by.

This module checks a rule's shape (operators, value arity); whether tags exist, belong to the
entity and accept the value is checked against the catalog by `services.audiences`.
"""

from __future__ import annotations

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
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def walk(rule: Rule, path: str = "rule") -> list[tuple[str, Condition | AudienceRef]]:
    """Every leaf of `rule` with its path (`rule.all[1].any[0]`), for messages that point at it."""
    if isinstance(rule, AllOf):
        return [leaf for i, r in enumerate(rule.all) for leaf in walk(r, f"{path}.all[{i}]")]
    if isinstance(rule, AnyOf):
        return [leaf for i, r in enumerate(rule.any) for leaf in walk(r, f"{path}.any[{i}]")]
    if isinstance(rule, Not):
        return walk(rule.not_, f"{path}.not")
    return [(path, rule)]


_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


def parse_rule(data: Any) -> Rule:
    """A rule from its stored or declared form."""
    return _RULE.validate_python(data)


def dump_rule(rule: Rule) -> Any:
    return _RULE.dump_python(rule, mode="json", by_alias=True, exclude_none=True)
