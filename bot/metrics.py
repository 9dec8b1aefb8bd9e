"""Prometheus metrics of the running app (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SLACK_REQUESTS = Counter(
    "finops_slack_requests_total", "Requests from Slack, by kind and HTTP status", ["kind", "status"]
)
SLACK_ACK_SECONDS = Histogram(
    "finops_slack_ack_seconds",
    "Time from a Slack request arriving to its acknowledgement",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)
HANDLER_ERRORS = Counter("finops_handler_errors_total", "Slack handler errors answered with an apology")

# The scheduler and the pipeline.
JOB_SECONDS = Histogram(
    "finops_job_seconds",
    "Duration of scheduled job runs",
    ["job"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
JOB_FAILURES = Counter("finops_job_failures_total", "Scheduled job runs that failed", ["job"])
INGESTED_ROWS = Counter(
    "finops_ingested_rows_total", "Billing line items read by scheduled ingestion", ["source"]
)
SOURCE_FRESHNESS = Gauge(
    "finops_source_freshness_seconds",
    "Time from a source's newest file arriving to its data being queryable, at its latest load",
    ["source"],
)
SOURCE_DATA_AGE = Gauge(
    "finops_source_data_age_seconds",
    "Time since the end of the newest charge day a source has stored",
    ["source"],
)
SOURCE_LATE = Gauge("finops_source_late", "1 when a source is late beyond its limit", ["source"])
OUTBOX_DEPTH = Gauge("finops_outbox_depth", "Outbound effects waiting in the outbox, by status", ["status"])
ANOMALIES_OPEN = Gauge(
    "finops_anomalies_open", "Open anomalies (group representatives), by severity", ["severity"]
)
LEADER = Gauge("finops_leader", "1 on the replica that runs the scheduled jobs")

# Calls to the outside.
SLACK_CALL_SECONDS = Histogram(
    "finops_slack_call_seconds",
    "Slack Web API call latency",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
SLACK_CALL_ERRORS = Counter(
    "finops_slack_call_errors_total", "Slack Web API calls that failed", ["method", "error"]
)
SLACK_CALL_RETRIES = Counter(
    "finops_slack_call_retries_total",
    "Slack Web API attempts that failed and were tried again: rate limited, server error, connection lost",
    ["method", "reason"],
)
JIRA_CALL_SECONDS = Histogram(
    "finops_jira_call_seconds",
    "Jira REST call latency",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
JIRA_CALL_ERRORS = Counter("finops_jira_call_errors_total", "Jira calls that failed", ["method", "status"])
