"""SQLAlchemy 2.0 models: the cost fact table and the bot's state.

Money columns are `Money` (exact), timestamps `UTCDateTime` (aware UTC), dates are plain `Date`
(a charge day or a period start, always meant in UTC).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import Money, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The dimensions of `cost_daily`, in the order reports list them. Each has an index with the date.
DIMENSIONS = (
    "provider",
    "billing_account",
    "sub_account",
    "service",
    "service_category",
    "region",
    "charge_category",
    "team",
    "environment",
    "cost_center",
)

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        Decimal: Money(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class IngestionRun(Base):
    """One load of one (source, billing account, billing period, currency) from one set of files.

    A load that failed before its scope was known (unreadable file, bad row) is one row with
    status `failed`, the error, and no scope; the next run of the same files tries again.
    """

    __tablename__ = "ingestion_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str | None] = mapped_column(String(64))
    billing_account: Mapped[str | None] = mapped_column(String(128))
    billing_period_start: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str | None] = mapped_column(String(3))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="running")
    location: Mapped[str | None] = mapped_column(Text)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    raw_billed_cost: Mapped[Decimal | None]
    raw_effective_cost: Mapped[Decimal | None]
    raw_list_cost: Mapped[Decimal | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]  # when the newest file of the load arrived (for freshness)

    __table_args__ = (
        Index("ix_ingestion_runs_scope", "source", "billing_account", "billing_period_start", "status"),
        Index("ix_ingestion_runs_fingerprint", "fingerprint"),
    )


class CostDaily(Base):
    """The fact table: one row per charge day x dimension set, rolled up from line items.

    On PostgreSQL it is range-partitioned by month on `usage_date` (see storage.partitions).
    """

    __tablename__ = "cost_daily"

    usage_date: Mapped[date] = mapped_column(Date, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    billing_period_start: Mapped[date] = mapped_column(Date)
    provider: Mapped[str] = mapped_column(String(64))
    billing_account: Mapped[str] = mapped_column(String(128))
    sub_account: Mapped[str | None] = mapped_column(String(128))
    service: Mapped[str | None] = mapped_column(String(200))
    service_category: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(64))
    charge_category: Mapped[str | None] = mapped_column(String(40))
    team: Mapped[str | None] = mapped_column(String(128))
    environment: Mapped[str | None] = mapped_column(String(128))
    cost_center: Mapped[str | None] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    billed_cost: Mapped[Decimal]
    effective_cost: Mapped[Decimal]
    list_cost: Mapped[Decimal | None]
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_cost_daily_usage_date", "usage_date"),
        Index("ix_cost_daily_scope", "source", "billing_account", "billing_period_start"),
        *(Index(f"ix_cost_daily_{dim}_usage_date", dim, "usage_date") for dim in DIMENSIONS),
        {"postgresql_partition_by": "RANGE (usage_date)"},
    )


HOURLY_DIMENSIONS = ("provider", "billing_account", "service", "team")


class CostHourly(Base):
    """Hourly cost of the recent weeks, for exports that charge by the hour (hourly detection).

    Fewer dimensions than `cost_daily`, and only the last weeks of each load are kept
    (`storage.costs.HOURLY_RETENTION_DAYS`): it serves detection, not reporting.
    """

    __tablename__ = "cost_hourly"

    usage_hour: Mapped[datetime] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    billing_period_start: Mapped[date] = mapped_column(Date)
    provider: Mapped[str] = mapped_column(String(64))
    billing_account: Mapped[str] = mapped_column(String(128))
    service: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    billed_cost: Mapped[Decimal]

    __table_args__ = (
        Index("ix_cost_hourly_usage_hour", "usage_hour"),
        Index("ix_cost_hourly_scope", "source", "billing_account", "billing_period_start"),
    )


class CostResource(Base):
    """Cost per billing period and resource, for line items with a ResourceId (tag governance:
    the top untagged resources). Replaced with its (source, billing account, billing period) like
    `cost_daily`; one row per run x billing period x resource x dimension set x tag set.
    """

    __tablename__ = "cost_resources"

    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    billing_period_start: Mapped[date] = mapped_column(Date)
    provider: Mapped[str] = mapped_column(String(64))
    billing_account: Mapped[str] = mapped_column(String(128))
    sub_account: Mapped[str | None] = mapped_column(String(128))
    service: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(Text)  # ARNs and Azure ids run long
    team: Mapped[str | None] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    billed_cost: Mapped[Decimal]
    effective_cost: Mapped[Decimal]
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_cost_resources_scope", "source", "billing_account", "billing_period_start"),
        Index("ix_cost_resources_billing_period_start", "billing_period_start"),
    )


class Anomaly(Base):
    __tablename__ = "anomalies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[dict[str, Any]]
    usage_date: Mapped[date] = mapped_column(Date)  # the day it started (part of the fingerprint)
    last_date: Mapped[date | None] = mapped_column(Date)  # the latest anomalous day seen
    # Hourly anomalies: the first and last anomalous hour (UTC) of its latest day.
    first_hour: Mapped[int | None] = mapped_column(SmallInteger)
    last_hour: Mapped[int | None] = mapped_column(SmallInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16), default="spike", server_default="spike")  # spike/step/new
    confidence: Mapped[str] = mapped_column(String(8), default="high", server_default="high")
    actual: Mapped[Decimal]
    expected: Mapped[Decimal]
    lower: Mapped[Decimal]
    upper: Mapped[Decimal]
    impact: Mapped[Decimal]
    pct: Mapped[float | None]
    severity: Mapped[str] = mapped_column(String(16))
    root_cause: Mapped[list[Any]] = mapped_column(JSON, default=list)
    group_fingerprint: Mapped[str | None] = mapped_column(String(64))  # the event's representative
    status: Mapped[str] = mapped_column(String(20), default="open")
    status_by: Mapped[str | None] = mapped_column(String(64))
    status_reason: Mapped[str | None] = mapped_column(Text)
    snoozed_until: Mapped[datetime | None]
    expected_until: Mapped[date | None] = mapped_column(Date)  # "expected": the scope is quiet until then
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # What the Slack thread was last told (so a re-run posts only news).
    notified_date: Mapped[date | None] = mapped_column(Date)
    notified_impact: Mapped[Decimal | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_anomalies_status_usage_date", "status", "usage_date"),
        Index("ix_anomalies_scope_lookup", "currency", "last_date"),
    )


class Budget(Base):
    __tablename__ = "budgets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    period: Mapped[str] = mapped_column(String(16), default="monthly")
    thresholds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("budgets.id", ondelete="SET NULL"))
    rollover: Mapped[bool] = mapped_column(default=False)
    rollover_cap: Mapped[Decimal | None]  # most carried into a period (default: the amount)
    owner: Mapped[str | None] = mapped_column(String(64))
    owners: Mapped[list[Any]] = mapped_column(JSON, default=list)  # Slack users / user groups
    approvers: Mapped[list[Any]] = mapped_column(JSON, default=list)  # of increases (default admins)
    escalation: Mapped[str | None] = mapped_column(String(64))
    forecast_alert: Mapped[bool] = mapped_column(default=True)
    managed_by: Mapped[str] = mapped_column(String(16), default="store")  # "config": the file rules
    channel: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BudgetAlert(Base):
    """A threshold crossed once per budget, period, threshold and kind (actual or forecast)."""

    __tablename__ = "budget_alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    budget_id: Mapped[int] = mapped_column(BigId, ForeignKey("budgets.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    threshold_pct: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(20), default="open")
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the evaluation alerted on
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)  # 1 contact, 2 admins
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("budget_id", "period_start", "threshold_pct", "kind"),)


class BudgetEvaluation(Base):
    """Where a budget stood on a day, with the exchange rates used: one row per budget and day,
    the latest evaluation of that day."""

    __tablename__ = "budget_evaluations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    budget_id: Mapped[int] = mapped_column(BigId, ForeignKey("budgets.id", ondelete="CASCADE"))
    as_of: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]  # in force, rollover included
    spent: Mapped[Decimal]
    forecast: Mapped[Decimal | None]
    rates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # currency -> rate, since
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("budget_id", "as_of"),)


class BudgetAmendment(Base):
    """A change of a budget's amount, kept as history (an approved increase, an edit)."""

    __tablename__ = "budget_amendments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    budget_id: Mapped[int] = mapped_column(BigId, ForeignKey("budgets.id", ondelete="CASCADE"))
    amount_before: Mapped[Decimal]
    amount_after: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    action_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("actions.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Action(Base):
    """An approval request: a remediation plan (dry run first, executed only after an approval) or a
    budget increase. `proposed` -> `approved` | `rejected` | `expired` | `superseded`; an approved
    plan then goes `executing` -> `done` | `partial` | `failed`."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    playbook: Mapped[str] = mapped_column(String(100))
    target: Mapped[dict[str, Any]]
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    estimated_savings: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    requested_by: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    executed_at: Mapped[datetime | None]  # when execution finished
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # playbook + changes: one open plan each
    expires_at: Mapped[datetime | None]  # a proposal not decided by then can no longer be approved
    lease_until: Mapped[datetime | None]  # an execution not heard of by then has died: it is resumed
    started_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_actions_status", "status"),)


class ActionStep(Base):
    """One API call of a remediation plan: run once, in `seq` order, its outcome kept. A step left
    `running` by a crash is verified on resume, and made again only if its effect is not there."""

    __tablename__ = "action_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(BigId, ForeignKey("actions.id", ondelete="CASCADE"))
    seq: Mapped[int]
    change: Mapped[int]  # index of its change (resource) in the plan
    resource_id: Mapped[str] = mapped_column(Text)
    api: Mapped[str] = mapped_column(String(100))
    call: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # running done failed dropped skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("action_id", "seq"),)


class JiraLink(Base):
    """The one Jira issue of an anomaly fingerprint, linked both ways with its Slack thread."""

    __tablename__ = "jira_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    issue_key: Mapped[str] = mapped_column(String(64), unique=True)
    issue_url: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    synced_at: Mapped[datetime | None]


class OutboxItem(Base):
    """An outbound effect (Slack post, Jira create...) waiting to be delivered exactly once."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)


class UserRole(Base):
    __tablename__ = "users_roles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(40))
    granted_by: Mapped[str | None] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "role"),)


class JobRun(Base):
    """One run of a job (ingest, detect, ...): when, how long, and how it ended."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, ok, failed, interrupted
    runner: Mapped[str | None] = mapped_column(String(128))  # host:pid of the process that ran it
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_job_runs_job_started_at", "job", "started_at"),)
