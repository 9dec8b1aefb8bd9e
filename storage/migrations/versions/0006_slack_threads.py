"""slack threads: what an anomaly's thread was last told; where an approval request was posted

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as batch:
        batch.add_column(sa.Column("notified_date", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("notified_impact", storage.types.Money(precision=20, scale=6), nullable=True)
        )
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("slack_channel", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("slack_ts", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("slack_ts")
        batch.drop_column("slack_channel")
    with op.batch_alter_table("anomalies") as batch:
        batch.drop_column("notified_impact")
        batch.drop_column("notified_date")
