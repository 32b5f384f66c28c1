"""How many examples a property test tries: all of them in `make test`, fewer in `make test-fast`.

`TAGPORT_FAST=1` (set by `make test-fast`) divides each budget by four: the same properties,
checked on fewer generated cases, for a quick loop while editing.
"""

from __future__ import annotations

import os


def examples(full: int) -> int:
    """`full` examples, or a quarter of them (at least 5) under TAGPORT_FAST."""
    return max(5, full // 4) if os.environ.get("TAGPORT_FAST") else full
