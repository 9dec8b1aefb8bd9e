"""The FinOps domain: FOCUS schema, normalisation, sample data. No Slack, no ORM sessions."""
