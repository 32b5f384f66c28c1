"""Which offline services use an object, so deleting or changing it can be refused by name."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagport.domain.tasks import OfflineServiceSpec
from tagport.store import tables as t


def tasks_using(session: Session, uses: Callable[[OfflineServiceSpec], bool]) -> list[str]:
    """`offline service NAME` for each task whose draft or published version `uses` it."""
    found = []
    for task in session.scalars(select(t.OfflineService).order_by(t.OfflineService.name)):
        versions = [task.draft] + ([task.published] if task.published else [])
        if any(uses(OfflineServiceSpec.model_validate(v)) for v in versions):
            found.append(f"offline service {task.name}")
    return found
