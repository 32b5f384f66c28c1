"""A mixed export used by the tests that load exports into targets: three sources over
overlapping members (one with every row twice, another day's rows that must never count), a rule
audience, every tag type and a code name."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from tagport.domain.catalog import AudienceGroupSpec, EntitySpec, TagSource, TagSpec
from tagport.domain.rules import parse_rule
from tagport.domain.tasks import Output, TagOutput
from tagport.warehouse.base import AudienceScope, ExportColumn, ExportPlan, TagRef, Warehouse
from tests.integration.targets.data import TAGS, export_table

BIZDATE = date(2024, 5, 2)
DS = "20240502"
USERS = 20_000
SOURCES = {"p.profile": ["city", "age", "vip", "birthday"], "p.activity": ["score", "balance"]}
"""Source table -> the tags it holds; `last_seen` comes from a third source of its own."""
CODES = {"Hangzhou": "HZ", "杭州": "杭州市", 'Shang"hai': "SH", "": "(empty)"}


def sources(users: int = USERS) -> dict[str, pa.Table]:
    """Three sources over overlapping members, every row of p.profile twice, and another
    day's rows that must never count."""
    data = export_table(users, seed=11)
    ids = data.column("user_id")
    tables = {}
    for table, columns in {**SOURCES, "p.seen": ["last_seen"]}.items():
        part = data.select(["user_id", *columns]).rename_columns(["uid", *columns])
        if table == "p.activity":
            part = part.filter(pc.equal(pc.bit_wise_and(ids, 1), 0))
        elif table == "p.seen":
            part = part.slice(users // 3)
        elif table == "p.profile":
            part = pa.concat_tables([part, part])
        days = [DS] * part.num_rows
        today = part.append_column("ds", pa.array(days))
        other = part.slice(0, 100).append_column("ds", pa.array(["20240501"] * 100))
        tables[table] = pa.concat_tables([today, other])
    return tables


def plan() -> ExportPlan:
    tables = {tag: table for table, tags in SOURCES.items() for tag in tags} | {
        "last_seen": "p.seen"
    }
    specs = {
        name: TagSpec(
            code=name,
            name=name,
            entity="user",
            value_type=vtype,
            source=TagSource(table=tables[name], key="uid", column=name),
            lookup="cities" if name == "city" else None,
        )
        for name, vtype in TAGS
        if name != "city_codename"
    }
    scope = AudienceScope(
        EntitySpec(code="user", name="U", project="p", id_field="user_id", id_type="bigint"),
        {code: TagRef(spec, CODES if code == "city" else None) for code, spec in specs.items()},
    )
    rule = {
        "any": [
            {
                "all": [
                    {"tag": "vip", "op": "=", "value": True},
                    {"tag": "age", "op": "<", "value": 40},
                ]
            },
            {"tag": "score", "op": ">", "value": 0.9},
            {"tag": "last_seen", "op": "is_null"},
        ]
    }
    audience = AudienceGroupSpec(
        code="mixed", name="M", entity="user", owner="o", rule=parse_rule(rule)
    )
    outputs = [TagOutput(tag="city", outputs=[Output.VALUE, Output.CODENAME])]
    outputs += [TagOutput(tag=name) for name in specs if name != "city"]
    columns = [ExportColumn("user_id", "user_id")] + [ExportColumn(n, n) for n, _ in TAGS]
    return ExportPlan(audience, scope, BIZDATE, outputs, columns, ["user_id"])


def fill(house: Warehouse, users: int = USERS) -> None:
    """Write the sources into `house`."""
    for name, table in sources(users).items():
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(4096))
        house.write_batches(name, reader, replace=True)
