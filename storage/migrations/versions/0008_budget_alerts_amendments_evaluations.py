"""budgets: owners, approvers, escalation, config-managed; alert acknowledgement and escalation;
evaluations with their exchange rates; amendments

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("budgets") as batch:
        batch.add_column(sa.Column("rollover_cap", storage.types.Money(precision=20, scale=6), nullable=True))
        batch.add_column(sa.Column("owners", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("approvers", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("escalation", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("forecast_alert", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(
            sa.Column("managed_by", sa.String(length=16), nullable=False, server_default="store")
        )
    with op.batch_alter_table("budget_alerts") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("acknowledged_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("snoozed_until", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "budget_evaluations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("budget_id", BIG_ID, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("spent", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("forecast", storage.types.Money(precision=20, scale=6), nullable=True),
        sa.Column("rates", sa.JSON(), nullable=False),
        sa.Column("evaluated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"],
            ["budgets.id"],
            name=op.f("fk_budget_evaluations_budget_id_budgets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_evaluations")),
        sa.UniqueConstraint("budget_id", "as_of", name=op.f("uq_budget_evaluations_budget_id_as_of")),
    )
    op.create_table(
        "budget_amendments",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("budget_id", BIG_ID, nullable=False),
        sa.Column("amount_before", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("amount_after", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("action_id", BIG_ID, nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"],
            ["budgets.id"],
            name=op.f("fk_budget_amendments_budget_id_budgets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_budget_amendments_action_id_actions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_amendments")),
    )


def downgrade() -> None:
    op.drop_table("budget_amendments")
    op.drop_table("budget_evaluations")
    with op.batch_alter_table("budget_alerts") as batch:
        for name in ("escalation_level", "snoozed_until", "acknowledged_at", "acknowledged_by", "details"):
            batch.drop_column(name)
    with op.batch_alter_table("budgets") as batch:
        for name in ("managed_by", "forecast_alert", "escalation", "approvers", "owners", "rollover_cap"):
            batch.drop_column(name)
