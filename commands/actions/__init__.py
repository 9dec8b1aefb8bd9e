"""Button clicks (block actions). Each acks at once; its handler runs lazily, after the ack."""

from __future__ import annotations

from typing import Any

from commands import ids
from commands.actions import anomaly, approval, budget_alert
from commands.actions.budget import handle_budget_edit, handle_budget_new, handle_budget_show
from commands.replies import acknowledge

ACTIONS = {
    ids.BUDGET_NEW: handle_budget_new,
    ids.BUDGET_EDIT: handle_budget_edit,
    ids.BUDGET_SHOW: handle_budget_show,
    ids.ANOMALY_ACK: anomaly.handle_anomaly_ack,
    ids.ANOMALY_SNOOZE: anomaly.handle_anomaly_snooze,
    ids.ANOMALY_EXPECTED: anomaly.handle_anomaly_expected,
    ids.ANOMALY_FALSE_POSITIVE: anomaly.handle_anomaly_false_positive,
    ids.ANOMALY_JIRA: anomaly.handle_anomaly_jira,
    ids.ANOMALY_THREAD: anomaly.handle_anomaly_thread,
    ids.BUDGET_ALERT_ACK: budget_alert.handle_budget_alert_ack,
    ids.BUDGET_ALERT_SNOOZE: budget_alert.handle_budget_alert_snooze,
    ids.BUDGET_INCREASE: budget_alert.handle_budget_increase,
    ids.APPROVAL_APPROVE: approval.handle_approval_approve,
    ids.APPROVAL_REJECT: approval.handle_approval_reject,
}


def register(app: Any) -> None:
    for action_id, handler in ACTIONS.items():
        app.action(action_id)(ack=acknowledge, lazy=[handler])
