"""How many cases a test tries: all of them in `make test`, fewer in `make test-fast`.

`TAGPORT_FAST=1` (set by `make test-fast`) divides each property test's budget by four, and
pairs independent parameters instead of crossing them: the same checks on fewer cases, for a
quick loop while editing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")

FAST = bool(os.environ.get("TAGPORT_FAST"))


def examples(full: int) -> int:
    """`full` examples, or a quarter of them (at least 5) under TAGPORT_FAST."""
    return max(5, full // 4) if FAST else full


def crossed(first: Sequence[A], second: Sequence[B]) -> list[tuple[A, B]]:
    """Every pair of two independent parameters, or under TAGPORT_FAST each value of the
    longer once, the shorter's values taking turns: each value still tried, not each pair."""
    if not FAST:
        return [(a, b) for a in first for b in second]
    count = max(len(first), len(second))
    return [(first[i % len(first)], second[i % len(second)]) for i in range(count)]
