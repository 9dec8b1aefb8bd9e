"""failed ingestion runs have no scope

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ingestion_runs", schema=None) as batch_op:
        batch_op.alter_column("provider", existing_type=sa.VARCHAR(length=64), nullable=True)
        batch_op.alter_column("billing_account", existing_type=sa.VARCHAR(length=128), nullable=True)
        batch_op.alter_column("billing_period_start", existing_type=sa.DATE(), nullable=True)
        batch_op.alter_column("currency", existing_type=sa.VARCHAR(length=3), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("ingestion_runs", schema=None) as batch_op:
        batch_op.alter_column("currency", existing_type=sa.VARCHAR(length=3), nullable=False)
        batch_op.alter_column("billing_period_start", existing_type=sa.DATE(), nullable=False)
        batch_op.alter_column("billing_account", existing_type=sa.VARCHAR(length=128), nullable=False)
        batch_op.alter_column("provider", existing_type=sa.VARCHAR(length=64), nullable=False)
