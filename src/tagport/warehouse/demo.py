"""A seeded, reproducible demo: the `user` entity, 8 tags over 2 source tables, 3 audiences.

Values are drawn with numpy from believable distributions (ages around 35, spend log-normal,
a fifth of users VIP …), in chunks so building 10M users keeps memory flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tagport.domain.catalog import (
    AudienceGroupSpec,
    EntitySpec,
    LookupTableSpec,
    ProjectSpec,
    ProjectType,
    Spec,
    TagSource,
    TagSpec,
)
from tagport.domain.dates import PartitionFormat
from tagport.domain.rules import parse_rule
from tagport.warehouse.base import AudienceScope, TagRef, Warehouse

PROJECT = "tag_prod"
PROFILE = f"{PROJECT}.user_profile"
ORDERS = f"{PROJECT}.user_orders"
CHUNK = 1_000_000
SEED_IDS = 5_000

GENDERS = {"F": "Female", "M": "Male", "U": "Unknown"}
CITIES = {
    "571": "Hangzhou",
    "21": "Shanghai",
    "10": "Beijing",
    "755": "Shenzhen",
    "20": "Guangzhou",
    "28": "Chengdu",
}
_CITY_WEIGHTS = [0.22, 0.24, 0.2, 0.14, 0.12, 0.08]


def demo_catalog(import_file: Path, owner: str) -> list[Spec]:
    """The demo's catalog objects, in the order `apply` wants them."""

    def tag(
        code: str, name: str, value_type: str, table: str, column: str, lookup: str | None = None
    ) -> TagSpec:
        source = TagSource(table=table, key="user_id", column=column)
        return TagSpec(
            code=code, name=name, entity="user", value_type=value_type, source=source, lookup=lookup
        )

    return [
        ProjectSpec(name=PROJECT, type=ProjectType.TAG, members=[owner], write_through=True),
        EntitySpec(code="user", name="User", project=PROJECT, id_field="user_id", id_type="bigint"),
        LookupTableSpec(code="gender_codes", name="Gender", codes=GENDERS),
        LookupTableSpec(code="city_codes", name="City", codes=CITIES),
        tag("gender", "Gender", "string", PROFILE, "gender", "gender_codes"),
        tag("city", "City", "string", PROFILE, "city_code", "city_codes"),
        tag("age", "Age", "long", PROFILE, "age"),
        tag("member_level", "Member level", "long", PROFILE, "member_level"),
        tag("is_vip", "VIP", "boolean", PROFILE, "is_vip"),
        tag("signup_time", "Signup time", "datetime", PROFILE, "signup_time"),
        tag("total_spend", "Total spend", "decimal(18,2)", ORDERS, "total_spend"),
        tag("last_order_date", "Last order date", "date", ORDERS, "last_order_date"),
        AudienceGroupSpec(
            code="active_women_hz_sh",
            name="Active women in Hangzhou or Shanghai, level 2+",
            entity="user",
            owner=owner,
            rule=parse_rule(
                {
                    "all": [
                        {"tag": "gender", "op": "=", "value": "F"},
                        {
                            "any": [
                                {"tag": "city", "op": "=", "value": "571"},
                                {"tag": "city", "op": "=", "value": "21"},
                            ]
                        },
                        {"not": {"tag": "member_level", "op": "<", "value": 2}},
                        {
                            "tag": "last_order_date",
                            "op": ">=",
                            "value": {"relative_days": -30},
                        },
                    ]
                }
            ),
        ),
        AudienceGroupSpec(
            code="crm_seed_users",
            name="Seed users from the CRM",
            entity="user",
            owner=owner,
            update="manual",
            import_=str(import_file),
        ),
        AudienceGroupSpec(
            code="big_spenders",
            name="Big spenders",
            entity="user",
            owner=owner,
            sql="SELECT user_id FROM tag_prod.user_orders "
            "WHERE ds = '${bizdate}' AND total_spend > 5000",
        ),
    ]


def everyone(owner: str = "demo") -> AudienceGroupSpec:
    """A rule audience of every demo user (no gender is `nobody`): what the benchmarks and the
    memory-limit tests export in full."""
    rule = parse_rule({"not": {"tag": "gender", "op": "=", "value": "nobody"}})
    return AudienceGroupSpec(
        code="everyone", name="Everyone", entity="user", owner=owner, rule=rule
    )


def demo_scope(owner: str = "demo") -> AudienceScope:
    """The demo catalog as the warehouse's queries see it (the entity, every tag with its lookup
    table's codes, the audience groups): for benchmarks and tests that query the demo data."""
    specs = demo_catalog(Path("seed_users.csv"), owner)
    entity = next(s for s in specs if isinstance(s, EntitySpec))
    codes = {s.code: s.codes for s in specs if isinstance(s, LookupTableSpec)}
    tags = {
        s.code: TagRef(s, codes[s.lookup] if s.lookup else None)
        for s in specs
        if isinstance(s, TagSpec)
    }
    audiences = {s.code: s for s in specs if isinstance(s, AudienceGroupSpec)}
    return AudienceScope(entity, tags, audiences)


def _profile(rng: np.random.Generator, ids: np.ndarray, day: date) -> pa.RecordBatch:
    n = len(ids)
    gender = np.array(list(GENDERS))[rng.choice(3, n, p=[0.51, 0.46, 0.03])]
    city = np.array(list(CITIES))[rng.choice(len(CITIES), n, p=_CITY_WEIGHTS)]
    age = np.clip(rng.normal(35, 11, n), 16, 90).astype(np.int64)
    level = rng.choice(6, n, p=[0.3, 0.25, 0.2, 0.13, 0.08, 0.04]).astype(np.int64)
    vip = rng.random(n) < 0.2
    epoch = datetime.combine(day, time()) - timedelta(days=5 * 365)
    seconds = rng.integers(0, 5 * 365 * 86400, n)
    signup = np.datetime64(epoch, "us") + seconds.astype("timedelta64[s]")
    age_missing = rng.random(n) < 0.02
    return pa.RecordBatch.from_pydict(
        {
            "user_id": pa.array(ids, pa.int64()),
            "gender": pa.array(gender, pa.string()),
            "city_code": pa.array(city, pa.string()),
            "age": pa.array(age, pa.int64(), mask=age_missing),
            "member_level": pa.array(level, pa.int64()),
            "is_vip": pa.array(vip, pa.bool_()),
            "signup_time": pa.array(signup, pa.timestamp("us")),
            "ds": pa.array(np.full(n, PartitionFormat.YYYYMMDD.render(day)), pa.string()),
        }
    )


def _orders(rng: np.random.Generator, ids: np.ndarray, day: date) -> pa.RecordBatch:
    buyers = ids[rng.random(len(ids)) < 0.7]
    n = len(buyers)
    cents = np.round(rng.lognormal(7.0, 1.2, n) * 100).astype(np.int64)
    whole = pa.array(cents, pa.int64()).cast(pa.decimal128(19, 0))
    spend = pc.multiply(whole, pa.scalar(Decimal("0.01"))).cast(pa.decimal128(18, 2))
    ago = rng.integers(0, 365, n)
    last = np.datetime64(day, "D") - ago.astype("timedelta64[D]")
    return pa.RecordBatch.from_pydict(
        {
            "user_id": pa.array(buyers, pa.int64()),
            "total_spend": spend,
            "last_order_date": pa.array(last, pa.date32()),
            "order_count": pa.array(rng.integers(1, 60, n), pa.int64()),
            "ds": pa.array(np.full(n, PartitionFormat.YYYYMMDD.render(day)), pa.string()),
        }
    )


def _chunks(rows: int) -> Iterator[np.ndarray]:
    for start in range(0, rows, CHUNK):
        yield np.arange(start + 1, min(start + CHUNK, rows) + 1, dtype=np.int64)


def demo_table(table: str, rows: int, days: list[date], seed: int) -> pa.RecordBatchReader:
    """One demo source table for every day in `days`, as a stream of batches."""
    make = _profile if table == PROFILE else _orders

    def batches() -> Iterator[pa.RecordBatch]:
        for d, day in enumerate(days):
            rng = np.random.default_rng([seed, d, 0 if table == PROFILE else 1])
            for ids in _chunks(rows):
                yield make(rng, ids, day)

    first = make(np.random.default_rng(0), np.arange(1, 2, dtype=np.int64), days[0])
    return pa.RecordBatchReader.from_batches(first.schema, batches())


def seed_ids(rows: int, seed: int) -> list[int]:
    """The demo import audience: a reproducible sample of user IDs, a few repeated."""
    rng = np.random.default_rng([seed, 99])
    picked = rng.integers(1, rows + 1, min(SEED_IDS, rows))
    return [int(i) for i in picked]


@dataclass(frozen=True)
class DemoData:
    rows: int
    days: list[date]
    tables: dict[str, int]


def build_demo_data(
    warehouse: Warehouse, rows: int, days: list[date], seed: int = 20240101
) -> DemoData:
    """Write both demo source tables (replacing them) for every day; return the rows written."""
    written = {
        table: warehouse.write_batches(table, demo_table(table, rows, days, seed), replace=True)
        for table in (PROFILE, ORDERS)
    }
    return DemoData(rows, days, written)
