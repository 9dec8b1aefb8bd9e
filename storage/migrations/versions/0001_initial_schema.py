"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("playbook", sa.String(length=100), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("estimated_savings", storage.types.Money(precision=20, scale=6), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("executed_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
    )
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index("ix_actions_status", ["status"], unique=False)

    op.create_table(
        "anomalies",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("actual", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("expected", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("lower", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("upper", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("impact", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("pct", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("root_cause", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_by", sa.String(length=64), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("snoozed_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("first_seen_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomalies")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_anomalies_fingerprint")),
    )
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.create_index("ix_anomalies_status_usage_date", ["status", "usage_date"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_subject", ["subject_type", "subject_id"], unique=False)

    op.create_table(
        "budgets",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("amount", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("rollover", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["budgets.id"], name=op.f("fk_budgets_parent_id_budgets"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("name", name=op.f("uq_budgets_name")),
    )
    op.create_table(
        "ingestion_runs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("billing_account", sa.String(length=128), nullable=False),
        sa.Column("billing_period_start", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_stored", sa.BigInteger(), nullable=False),
        sa.Column("raw_billed_cost", storage.types.Money(precision=20, scale=6), nullable=True),
        sa.Column("raw_effective_cost", storage.types.Money(precision=20, scale=6), nullable=True),
        sa.Column("raw_list_cost", storage.types.Money(precision=20, scale=6), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_runs")),
    )
    with op.batch_alter_table("ingestion_runs", schema=None) as batch_op:
        batch_op.create_index("ix_ingestion_runs_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index(
            "ix_ingestion_runs_scope",
            ["source", "billing_account", "billing_period_start", "status"],
            unique=False,
        )

    op.create_table(
        "jira_links",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("issue_key", sa.String(length=64), nullable=False),
        sa.Column("issue_url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("synced_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jira_links")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_jira_links_fingerprint")),
        sa.UniqueConstraint("issue_key", name=op.f("uq_jira_links_issue_key")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status_next_attempt_at", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "users_roles",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=True),
        sa.Column("granted_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users_roles")),
        sa.UniqueConstraint("user_id", "role", name=op.f("uq_users_roles_user_id_role")),
    )
    op.create_table(
        "budget_alerts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("budget_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("threshold_pct", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budgets.id"], name=op.f("fk_budget_alerts_budget_id_budgets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_alerts")),
        sa.UniqueConstraint(
            "budget_id",
            "period_start",
            "threshold_pct",
            "kind",
            name=op.f("uq_budget_alerts_budget_id_period_start_threshold_pct_kind"),
        ),
    )
    op.create_table(
        "cost_daily",
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("billing_period_start", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("billing_account", sa.String(length=128), nullable=False),
        sa.Column("sub_account", sa.String(length=128), nullable=True),
        sa.Column("service", sa.String(length=200), nullable=True),
        sa.Column("service_category", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("charge_category", sa.String(length=40), nullable=True),
        sa.Column("team", sa.String(length=128), nullable=True),
        sa.Column("environment", sa.String(length=128), nullable=True),
        sa.Column("cost_center", sa.String(length=128), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billed_cost", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("effective_cost", storage.types.Money(precision=20, scale=6), nullable=False),
        sa.Column("list_cost", storage.types.Money(precision=20, scale=6), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ingestion_runs.id"],
            name=op.f("fk_cost_daily_run_id_ingestion_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("usage_date", "run_id", "seq", name=op.f("pk_cost_daily")),
        postgresql_partition_by="RANGE (usage_date)",
    )
    with op.batch_alter_table("cost_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cost_daily_billing_account_usage_date", ["billing_account", "usage_date"], unique=False
        )
        batch_op.create_index(
            "ix_cost_daily_charge_category_usage_date", ["charge_category", "usage_date"], unique=False
        )
        batch_op.create_index(
            "ix_cost_daily_cost_center_usage_date", ["cost_center", "usage_date"], unique=False
        )
        batch_op.create_index(
            "ix_cost_daily_environment_usage_date", ["environment", "usage_date"], unique=False
        )
        batch_op.create_index("ix_cost_daily_provider_usage_date", ["provider", "usage_date"], unique=False)
        batch_op.create_index("ix_cost_daily_region_usage_date", ["region", "usage_date"], unique=False)
        batch_op.create_index(
            "ix_cost_daily_scope", ["source", "billing_account", "billing_period_start"], unique=False
        )
        batch_op.create_index(
            "ix_cost_daily_service_category_usage_date", ["service_category", "usage_date"], unique=False
        )
        batch_op.create_index("ix_cost_daily_service_usage_date", ["service", "usage_date"], unique=False)
        batch_op.create_index(
            "ix_cost_daily_sub_account_usage_date", ["sub_account", "usage_date"], unique=False
        )
        batch_op.create_index("ix_cost_daily_team_usage_date", ["team", "usage_date"], unique=False)
        batch_op.create_index("ix_cost_daily_usage_date", ["usage_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cost_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_daily_usage_date")
        batch_op.drop_index("ix_cost_daily_team_usage_date")
        batch_op.drop_index("ix_cost_daily_sub_account_usage_date")
        batch_op.drop_index("ix_cost_daily_service_usage_date")
        batch_op.drop_index("ix_cost_daily_service_category_usage_date")
        batch_op.drop_index("ix_cost_daily_scope")
        batch_op.drop_index("ix_cost_daily_region_usage_date")
        batch_op.drop_index("ix_cost_daily_provider_usage_date")
        batch_op.drop_index("ix_cost_daily_environment_usage_date")
        batch_op.drop_index("ix_cost_daily_cost_center_usage_date")
        batch_op.drop_index("ix_cost_daily_charge_category_usage_date")
        batch_op.drop_index("ix_cost_daily_billing_account_usage_date")

    op.drop_table("cost_daily")
    op.drop_table("budget_alerts")
    op.drop_table("users_roles")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_next_attempt_at")

    op.drop_table("outbox")
    op.drop_table("jira_links")
    with op.batch_alter_table("ingestion_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_ingestion_runs_scope")
        batch_op.drop_index("ix_ingestion_runs_fingerprint")

    op.drop_table("ingestion_runs")
    op.drop_table("budgets")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject")

    op.drop_table("audit_log")
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.drop_index("ix_anomalies_status_usage_date")

    op.drop_table("anomalies")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index("ix_actions_status")

    op.drop_table("actions")
