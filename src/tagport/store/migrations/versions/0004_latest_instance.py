"""an index on instances (service_id, id): a task's latest instance in one index probe

The task list shows each task's latest instance; with only (service_id, bizdate) indexed,
PostgreSQL read and sorted every instance of each task on the page (100 per task in the
benchmark's 1,000,000).

Revision ID: 0004
Revises: 0003

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_instances_service_id_id", "instances", ["service_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_instances_service_id_id", table_name="instances")
