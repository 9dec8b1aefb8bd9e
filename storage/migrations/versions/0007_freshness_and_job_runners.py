"""freshness and job runners: when a load's newest file arrived; which replica ran a job

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ingestion_runs") as batch:
        batch.add_column(sa.Column("arrived_at", storage.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(sa.Column("runner", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("runner")
    with op.batch_alter_table("ingestion_runs") as batch:
        batch.drop_column("arrived_at")
