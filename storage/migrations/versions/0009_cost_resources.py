"""cost per billing period and resource (tag governance)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cost_resources",
        sa.Column("run_id", BIG_ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("billing_period_start", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("billing_account", sa.String(length=128), nullable=False),
        sa.Column("sub_account", sa.String(length=128), nullable=True),
        sa.Column("service", sa.String(length=200), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("team", sa.String(length=128), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billed_cost", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("effective_cost", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ingestion_runs.id"],
            name=op.f("fk_cost_resources_run_id_ingestion_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_cost_resources")),
    )
    with op.batch_alter_table("cost_resources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cost_resources_scope", ["source", "billing_account", "billing_period_start"], unique=False
        )
        batch_op.create_index(
            "ix_cost_resources_billing_period_start", ["billing_period_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cost_resources", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_resources_billing_period_start")
        batch_op.drop_index("ix_cost_resources_scope")

    op.drop_table("cost_resources")
