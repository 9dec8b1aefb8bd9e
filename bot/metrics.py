"""Prometheus metrics of the running app (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
