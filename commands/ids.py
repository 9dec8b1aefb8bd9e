"""Every Slack id the app answers to, in one place: slash commands, action ids, view callback
ids and events. The manifest test checks manifest.yml against what is registered."""

from __future__ import annotations

# Slash commands
COST = "/cost"
BUDGET = "/budget"
FINOPS = "/finops"

# Block actions (buttons)
BUDGET_NEW = "budget_new"
BUDGET_EDIT = "budget_edit"
BUDGET_SHOW = "budget_show"

# View submissions (modals)
BUDGET_MODAL = "budget_modal"

# Events
APP_HOME_OPENED = "app_home_opened"

# Anomaly alert buttons
ANOMALY_ACK = "anomaly_ack"
ANOMALY_SNOOZE = "anomaly_snooze"
ANOMALY_EXPECTED = "anomaly_expected"
ANOMALY_FALSE_POSITIVE = "anomaly_false_positive"
ANOMALY_JIRA = "anomaly_jira"
ANOMALY_THREAD = "anomaly_thread"
ANOMALY_SNOOZE_MODAL = "anomaly_snooze_modal"

# Approval requests (remediation plans; budget increases)
APPROVAL_APPROVE = "approval_approve"
APPROVAL_REJECT = "approval_reject"
APPROVAL_REJECT_MODAL = "approval_reject_modal"

# Budget alert buttons and modals
BUDGET_ALERT_ACK = "budget_alert_ack"
BUDGET_ALERT_SNOOZE = "budget_alert_snooze"
BUDGET_INCREASE = "budget_increase"
BUDGET_ALERT_SNOOZE_MODAL = "budget_alert_snooze_modal"
BUDGET_INCREASE_MODAL = "budget_increase_modal"
