"""remediation: plan expiry, execution lease, steps

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("expires_at", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("lease_until", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("started_at", storage.types.UTCDateTime(), nullable=True))
    op.execute("UPDATE actions SET status = 'proposed' WHERE status = 'planned'")
    op.create_table(
        "action_steps",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("action_id", BIG_ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("change", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("api", sa.String(length=100), nullable=False),
        sa.Column("call", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("finished_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_action_steps_action_id_actions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_steps")),
        sa.UniqueConstraint("action_id", "seq", name=op.f("uq_action_steps_action_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("action_steps")
    op.execute("UPDATE actions SET status = 'planned' WHERE status = 'proposed'")
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("started_at")
        batch.drop_column("lease_until")
        batch.drop_column("expires_at")
        batch.drop_column("fingerprint")
