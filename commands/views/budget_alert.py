"""The budget alert modals: snooze (1 day, 1 week or until a date, with a reason), and Request
increase (new amount and reason; an approval request to the budget's approvers)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from commands import approvals, budget_alerts, ids
from commands.actions.budget_alert import move
from commands.budgetspec import MAX_AMOUNT
from commands.context import Deps, deps
from commands.messages import amount
from commands.views.anomaly import snoozed
from finops.errors import UserError
from jobs.budgets import channel_of
from storage import audit, budgets, outbox
from storage.db import unit_of_work
from storage.models import Action


async def handle_budget_snooze_submission(
    ack: Any, body: dict[str, Any], view: dict[str, Any], context: Any
) -> None:
    d, user = deps(context), body["user"]["id"]
    if (found := await snoozed(ack, d, user, view, "budget.act")) is not None:
        alert = json.loads(view.get("private_metadata") or "{}")["alert_id"]
        await move(d, user, budget_alerts.value(alert), "snoozed", reason=found[1], until=found[0])


def _text(values: dict[str, Any], block: str) -> str:
    return str(values.get(block, {}).get("value", {}).get("value") or "").strip()


def parse_increase(values: dict[str, Any], current: Decimal) -> tuple[Decimal | None, str, dict[str, str]]:
    """The new amount and the reason, or the errors to show beside the inputs."""
    errors: dict[str, str] = {}
    new: Decimal | None = None
    try:
        new = Decimal(_text(values, "amount").replace(",", ""))
        if not new.is_finite() or new >= MAX_AMOUNT:
            raise InvalidOperation
        if new <= current:
            errors["amount"] = f"Ask for more than today's {current.normalize():f}."
    except InvalidOperation:
        errors["amount"] = "Enter an amount, e.g. 30000 or 1250.50."
    reason = _text(values, "reason")
    if len(reason) < 3:
        errors["reason"] = "Say why the budget needs more (a few words at least)."
    return (None if errors else new), reason, errors


async def request_increase(
    d: Deps, user: str, name: str, to: Decimal, reason: str, alert: int | None
) -> None:
    """An approval request for the budget's approvers (in its channel), told in the alert's thread."""
    async with unit_of_work(d.engine) as session:
        budget = await budgets.named(session, name)
        budgets.refuse_config(budget, "increased from Slack")
        request = Action(
            playbook=approvals.INCREASE,
            target={"budget": budget.name},
            params={
                "budget_id": budget.id,
                "from": str(budget.amount),
                "to": str(to),
                "currency": budget.currency,
                "period": budget.period,
                "reason": reason,
                "approvers": list(budget.approvers),
                "alert_id": alert,
            },
            status="proposed",
            requested_by=user,
            currency=budget.currency,
        )
        session.add(request)
        await session.flush()
        await audit.record(
            session,
            actor=user,
            channel="slack",
            action="budget.increase_requested",
            subject_type="budget",
            subject_id=str(budget.id),
            details={"action_id": request.id, "to": str(to), "reason": reason},
        )
        payload = {"action_id": request.id, "channel": channel_of(d.settings, budget)}
        await outbox.enqueue(session, f"slack-approval:{request.id}", "slack.approval.root", payload)
        if alert:
            text = f'<@{user}> asked to raise the budget to {amount(to, budget.currency)}: "{reason}"'
            await budget_alerts.tell(session, alert, f"increase:{request.id}", text)
    await d.deliver()


async def handle_increase_submission(
    ack: Any, body: dict[str, Any], view: dict[str, Any], context: Any
) -> None:
    d = deps(context)
    user = body["user"]["id"]
    metadata = json.loads(view.get("private_metadata") or "{}")
    try:
        await d.roles.require(user, "budget.act")
        async with unit_of_work(d.engine) as session:
            budget = await budgets.named(session, metadata["budget"])
            current = budget.amount
    except UserError as refused:
        await ack(response_action="errors", errors={"amount": str(refused)[:150]})
        return
    to, reason, errors = parse_increase(view["state"]["values"], current)
    if to is None:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    await request_increase(d, user, metadata["budget"], to, reason, metadata.get("alert_id"))


def register(app: Any) -> None:
    app.view(ids.BUDGET_ALERT_SNOOZE_MODAL)(handle_budget_snooze_submission)
    app.view(ids.BUDGET_INCREASE_MODAL)(handle_increase_submission)
