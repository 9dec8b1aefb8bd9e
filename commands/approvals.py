"""Approval requests as Block Kit: a remediation plan (and, with the budgets issue, a budget
increase) waiting for someone with the right role, with Approve / Reject while it waits."""

from __future__ import annotations

import json
from typing import Any

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


def approval_message(action: Action) -> dict[str, Any]:
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
        target=target,
        savings=savings,
        steps=[str(step)[:200] for step in steps[:10]],
        requested_by=action.requested_by,
        status=_status(action),
        waiting=action.status == "planned",
        value=subject(action),
        version=f"{action.status}-{action.decided_at.timestamp() if action.decided_at else 0:.0f}",
    )


def reject_modal(value: str, title: str) -> dict[str, Any]:
    return render("slack/approval_reject.json.j2", metadata=json.dumps({"subject": value}), title=title)
