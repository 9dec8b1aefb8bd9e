"""hourly costs and hourly anomalies

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cost_hourly",
        sa.Column("usage_hour", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("billing_period_start", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("billing_account", sa.String(length=128), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=True),
        sa.Column("team", sa.String(length=128), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billed_cost", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ingestion_runs.id"],
            name=op.f("fk_cost_hourly_run_id_ingestion_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("usage_hour", "run_id", "seq", name=op.f("pk_cost_hourly")),
    )
    with op.batch_alter_table("cost_hourly", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cost_hourly_scope", ["source", "billing_account", "billing_period_start"], unique=False
        )
        batch_op.create_index("ix_cost_hourly_usage_hour", ["usage_hour"], unique=False)

    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_hour", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("last_hour", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.drop_column("last_hour")
        batch_op.drop_column("first_hour")

    with op.batch_alter_table("cost_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_hourly_usage_hour")
        batch_op.drop_index("ix_cost_hourly_scope")

    op.drop_table("cost_hourly")
