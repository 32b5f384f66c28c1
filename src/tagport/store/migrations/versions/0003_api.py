"""passwords, service accounts, web sessions, audit log, heartbeats, idempotency keys,
token revocation

Revision ID: 0003
Revises: 0002

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMNs, as in 0002: batch mode would copy and drop tables others refer to.
    op.add_column(
        "users",
        sa.Column("is_service_account", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("users", sa.Column("password_hash", sa.String(255), nullable=True))
    op.add_column("api_tokens", sa.Column("created_by", sa.String(64), nullable=True))
    op.add_column("api_tokens", sa.Column("revoked_at", NOW, nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_web_sessions_user_id_users", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
        sa.Column("expires_at", NOW, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", NOW, nullable=False, index=True),
        sa.Column("actor", sa.String(64), nullable=False, index=True),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
    )
    op.create_index("ix_audit_log_kind_key", "audit_log", ["kind", "key"])
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False, unique=True),
        sa.Column("at", NOW, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_idempotency_keys_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_index(
        "uq_idempotency_keys_user_key", "idempotency_keys", ["user_id", "key"], unique=True
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("heartbeats")
    op.drop_table("audit_log")
    op.drop_table("web_sessions")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("created_by")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("password_hash")
        batch_op.drop_column("is_service_account")
