"""Approval requests as Block Kit: a remediation plan (and, with the budgets issue, a budget
increase) waiting for someone with the right role, with Approve / Reject while it waits."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from commands import budget_alerts
from commands.messages import amount
from storage.models import Action
from templates import render

DECISIONS = {
    "planned": ":hourglass_flowing_sand: *Waiting for approval*",
    "approved": ":white_check_mark: *Approved*",
    "rejected": ":no_entry: *Rejected*",
}


def subject(action: Action) -> str:
    return f"action:{action.id}"


def _status(action: Action) -> str:
    line = DECISIONS.get(action.status, f"*{action.status}*")
    if action.decided_by:
        when = f" at {action.decided_at:%Y-%m-%d %H:%M} UTC" if action.decided_at else ""
        line += f" by <@{action.decided_by}>{when}"
    if action.decision_reason:
        line += f': "{action.decision_reason[:300]}"'
    return line


INCREASE = "budget.increase"  # the playbook name of a budget increase request


def approval_message(action: Action) -> dict[str, Any]:
    if action.playbook == INCREASE:
        return _increase_message(action)
    target = " · ".join(f"{k}={v}" for k, v in action.target.items())
    savings = (
        f"{amount(action.estimated_savings, action.currency or 'USD')} a month"
        if action.estimated_savings is not None
        else "not estimated"
    )
    steps = action.plan.get("steps") or []
    return render(
        "slack/approval.json.j2",
        title=f"Approval needed: {action.playbook} on {target}"[:150],
        facts=[
            f"*Target*\n{target}",
            f"*Estimated savings*\n{savings}",
            f"*Requested by*\n<@{action.requested_by}>",
        ],
        steps_title="Dry-run plan",
        steps=[str(step)[:200] for step in steps[:10]],
        status=_status(action),
        waiting=action.status == "planned",
        value=subject(action),
        version=_version(action),
    )


def _version(action: Action) -> str:
    return f"{action.status}-{action.decided_at.timestamp() if action.decided_at else 0:.0f}"


def _increase_message(action: Action) -> dict[str, Any]:
    p = action.params
    before, after = Decimal(p["from"]), Decimal(p["to"])
    approvers = " ".join(budget_alerts.mention(w) for w in p.get("approvers") or []) or "the admins"
    return render(
        "slack/approval.json.j2",
        title=f"Budget increase requested: {action.target['budget']}"[:150],
        facts=[
            f"*Budget*\n{action.target['budget']} ({p['period']})",
            f"*Amount*\n{amount(before, p['currency'])} → {amount(after, p['currency'])} "
            f"(+{amount(after - before, p['currency'])})",
            f"*Requested by*\n<@{action.requested_by}>",
            f"*Approvers*\n{approvers}",
        ],
        steps_title="Reason",
        steps=[str(p.get("reason") or "")[:1000]],
        status=_status(action),
        waiting=action.status == "planned",
        value=subject(action),
        version=_version(action),
    )


def reject_modal(value: str, title: str) -> dict[str, Any]:
    return render("slack/approval_reject.json.j2", metadata=json.dumps({"subject": value}), title=title)
