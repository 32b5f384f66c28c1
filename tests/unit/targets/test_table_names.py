"""The table name one-click creation proposes when a task names none (issue 10, item 11)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagport.domain.catalog import DataSourceType
from tagport.domain.naming import IDENTIFIER, TASK_NAME
from tagport.targets import target_class
from tagport.targets.ddl import propose_table_name
from tests.budget import examples

LIMITS = {
    "oracle before 12.2": 30,
    "postgresql family": 63,
    "mysql": 64,
    "oracle 12.2+ and the project": 128,
}
TASK_NAMES = st.from_regex(TASK_NAME.pattern, fullmatch=True)


@pytest.mark.parametrize("limit", LIMITS.values(), ids=list(LIMITS))
@settings(max_examples=examples(50), deadline=None)
@given(task=TASK_NAMES)
def test_a_proposal_is_a_plain_identifier_within_the_limit(task: str, limit: int) -> None:
    name = propose_table_name(task, "big_spenders", limit)
    assert IDENTIFIER.matches(name) and len(name) <= limit
    assert name == name.lower() and name[0].isalpha()
    assert propose_table_name(task, "big_spenders", limit) == name  # deterministic


def test_each_dialect_uses_its_own_identifier_limit() -> None:
    task = "vip_members_of_hangzhou_who_bought_in_the_last_thirty_days_for_the_crm_push"
    assert len(task) == 75
    expected = {
        DataSourceType.POSTGRESQL: 63,
        DataSourceType.OPENGAUSS: 63,
        DataSourceType.GREENPLUM: 63,
        DataSourceType.ADB_PG: 63,
        DataSourceType.MYSQL: 64,
        DataSourceType.ORACLE: 128,
        DataSourceType.PROJECT: 128,
    }
    for kind, limit in expected.items():
        assert target_class(kind).capabilities.identifier_max_length == limit
        name = propose_table_name(task, "big_spenders", limit)
        assert len(name) == min(limit, len(task)), kind
    assert propose_table_name(task, "x", 30) == propose_table_name(task, "x", 30)
    assert len(propose_table_name(task, "x", 30)) == 30


@pytest.mark.parametrize(
    ("task", "proposal"),
    [
        ("Hz_VIP_daily", "hz_vip_daily"),
        ("高价值用户", "big_spenders"),  # only Chinese: the audience code
        ("2026_推送_crm", "t_2026_crm"),
        ("_x__y_", "x_y"),
    ],
)
def test_the_task_name_becomes_the_table_name(task: str, proposal: str) -> None:
    assert propose_table_name(task, "big_spenders", 63) == proposal
