"""an index on instances (service_id, id): a task's latest instance in one index probe

The task list shows each task's latest instance; with only (service_id, bizdate) indexed,
PostgreSQL read and sorted every instance of each task on the page (100 per task in the
benchmark's 1,000,000).

Revision ID: 0005
Revises: 0004

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_instances_service_id_id", "instances", ["service_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_instances_service_id_id", table_name="instances")
