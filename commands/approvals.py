"""Approval requests as Block Kit: a remediation plan (and, with the budgets issue, a budget
increase) waiting for someone with the right role, with Approve / Reject while it waits."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from commands import budget_alerts
from commands.messages import amount
from finops.remediation.model import Call
from storage.models import Action
from templates import render

DECISIONS = {
    "proposed": ":hourglass_flowing_sand: *Waiting for approval*",
    "approved": ":white_check_mark: *Approved*",
    "rejected": ":no_entry: *Rejected*",
    "expired": ":hourglass: *Expired* without an approval; nothing was changed",
    "superseded": ":arrows_counterclockwise: *Superseded*; nothing was changed",
}
EXECUTION = {
    "executing": ":gear: *Executing*: results in the thread",
    "done": ":white_check_mark: *Executed*",
    "partial": ":warning: *Partly executed*: see the thread for what was and was not done",
    "failed": ":x: *Execution failed*: nothing was changed; see the thread",
}
SHOWN_CHANGES = 10


def subject(action: Action) -> str:
    return f"action:{action.id}"


def _status(action: Action) -> str:
    if action.status in EXECUTION:
        approved = f" · approved by <@{action.decided_by}>" if action.decided_by else ""
        return EXECUTION[action.status] + approved
    line = DECISIONS.get(action.status, f"*{action.status}*")
    if action.status == "proposed" and action.expires_at:
        line += f" (until {action.expires_at:%Y-%m-%d %H:%M} UTC)"
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
    return _plan_message(action)


def change_line(change: dict[str, Any], currency: str) -> str:
    """`ec2:StopInstances` on i-0abc (us-east-1): saves $70.08/month; CPU max 1.2%…"""
    calls = " then ".join(f"`{Call.from_json(c).api}`" for c in change["calls"])
    saving = change.get("saving_monthly")
    saves = f"saves {amount(Decimal(saving), currency)}/month" if saving is not None else "saving not priced"
    facts = "; ".join(f"{k} {v}" for k, v in (change.get("facts") or {}).items())
    return f"{calls} on `{change['resource_id']}` ({change['region']}): {saves}" + (
        f"; {facts}" if facts else ""
    )


def _plan_message(action: Action) -> dict[str, Any]:
    plan, currency = action.plan, action.currency or "USD"
    changes = plan["changes"]
    risks = sorted({c["risk"] for c in changes}, key=["low", "medium", "high"].index)
    saving = amount(Decimal(plan["saving_monthly"]), currency) + " a month"
    if plan.get("unpriced"):
        saving += f" (+{plan['unpriced']} not priced)"
    lines = [change_line(c, currency) for c in changes[:SHOWN_CHANGES]]
    if len(changes) > SHOWN_CHANGES:
        lines.append(f"…and {len(changes) - SHOWN_CHANGES} more: `finops-bot remediate show {action.id}`")
    notes = sorted({c["risk_note"] for c in changes})
    return render(
        "slack/approval.json.j2",
        title=f"Remediation plan #{action.id}: {plan['title']} ({len(changes)} changes)"[:150],
        facts=[
            f"*Saving*\n{saving}",
            f"*Risk*\n{'/'.join(risks)}: {' '.join(notes)}"[:1900],
            f"*Requested by*\n{_who(action.requested_by)}",
            f"*Where*\n{action.target.get('regions', '')} · dry run passed for every call",
        ],
        steps_title="Changes (each call proven with a dry run)",
        steps=lines,
        status=_status(action),
        waiting=action.status == "proposed",
        value=subject(action),
        version=_version(action),
    )


def _who(requester: str) -> str:
    return f"<@{requester}>" if requester[:1] in ("U", "W") and requester.isalnum() else f"`{requester}`"


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
        waiting=action.status == "proposed",
        value=subject(action),
        version=_version(action),
    )


def reject_modal(value: str, title: str) -> dict[str, Any]:
    return render("slack/approval_reject.json.j2", metadata=json.dumps({"subject": value}), title=title)
