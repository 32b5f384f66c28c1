"""The table designs whose DDL is snapshot-tested (and executed on PostgreSQL and MariaDB)."""

from __future__ import annotations

from tagport.domain.dates import PartitionFormat
from tagport.domain.values import IdType, ValueKind, ValueType
from tagport.targets.base import ColumnDesign, PartitionDesign, TableDesign

VALUE_TYPES = [
    ValueType(kind) if kind is not ValueKind.DECIMAL else ValueType(kind, 20, 6)
    for kind in ValueKind
]


def every_type(id_type: IdType, partitioned: bool, name: str = "audience_export") -> TableDesign:
    """One column per tag value type, the entity ID as key, optionally a partition field."""
    columns = [ColumnDesign("entity_id", id_type, "entity ID", is_key=True)]
    columns += [
        ColumnDesign(f"tag_{t.kind.value}", t, f"tag of type {t} ('quoted')") for t in VALUE_TYPES
    ]
    partition = PartitionDesign("ds", PartitionFormat.YYYYMMDD) if partitioned else None
    return TableDesign(name, tuple(columns), "audience export: every type", partition)
