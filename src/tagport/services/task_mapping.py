"""A task's field mapping: fill it by same name from the target table, or purge it.

The console's two mapping buttons: same-name mapping writes one explicit `source -> column` line
per exported field that has a column of the same name (case-insensitive); purging drops the
explicit lines, so the draft maps by same name again when it runs.
"""

from __future__ import annotations

from tagport.config import Settings
from tagport.domain.tasks import FieldMapping, OfflineServiceSpec
from tagport.errors import InvalidInput
from tagport.services.catalog import upsert
from tagport.services.datasources import find_datasource
from tagport.services.permissions import Actor
from tagport.services.publication import authorize_task, find_task
from tagport.services.targets import TargetAccess, task_id_field
from tagport.store.db import Database


def same_name_mapping(db: Database, settings: Settings, actor: Actor, name: str) -> None:
    """Map every exported field to the target column of the same name, explicitly."""
    with db.uow() as uow:
        session = uow.session
        task = find_task(session, name)
        # Before the target is reached: who may not edit the task learns nothing of its table.
        authorize_task(session, actor, task, "map the fields of")
        spec = OfflineServiceSpec.model_validate(task.draft)
        if spec.target.table is None:
            raise InvalidInput.one(f"task {name}", "target.table", "not set: nothing to map to")
        ds = find_datasource(session, spec.target.datasource)
        table = TargetAccess(settings).describe(session, ds, spec.target.schema_, spec.target.table)
        columns = {c.lower(): c for c in table.column_names}
        mapping = [
            FieldMapping(source=field, target=columns[field.lower()])
            for field in spec.source_fields(task_id_field(session, spec))
            if field.lower() in columns
        ]
        if not mapping:
            raise InvalidInput.one(
                f"task {name}", "mapping", f"no exported field has a column in {table.name}"
            )
        upsert(session, actor, spec.model_copy(update={"mapping": mapping}))
        uow.commit()


def purge_mapping(db: Database, actor: Actor, name: str) -> None:
    """Drop the explicit mapping: the task maps by same name again."""
    with db.uow() as uow:
        task = find_task(uow.session, name)
        authorize_task(uow.session, actor, task, "purge the mapping of")
        spec = OfflineServiceSpec.model_validate(task.draft)
        upsert(uow.session, actor, spec.model_copy(update={"mapping": "same_name"}))
        uow.commit()
