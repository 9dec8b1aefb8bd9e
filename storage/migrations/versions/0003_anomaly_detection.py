"""anomaly detection: last day, kind, confidence, grouping, expected-until

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="spike", nullable=False))
        batch_op.add_column(
            sa.Column("confidence", sa.String(length=8), server_default="high", nullable=False)
        )
        batch_op.add_column(sa.Column("group_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("expected_until", sa.Date(), nullable=True))
        batch_op.create_index("ix_anomalies_scope_lookup", ["currency", "last_date"])


def downgrade() -> None:
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.drop_index("ix_anomalies_scope_lookup")
        batch_op.drop_column("expected_until")
        batch_op.drop_column("group_fingerprint")
        batch_op.drop_column("confidence")
        batch_op.drop_column("kind")
        batch_op.drop_column("last_date")
