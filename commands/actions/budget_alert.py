"""Buttons on budget alerts: Acknowledge (stops the escalation), Snooze (a modal; escalation
waits until it is over) and Request increase (a modal, then an approval request).

Each click checks the role, changes the alert once (a double click finds it changed and says
so), writes the audit row and enqueues the alert's update and a thread reply together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import budget_alerts
from commands.actions.anomaly import clicked
from commands.context import Deps, deps
from commands.replies import answering, tell_clicker
from finops.errors import UserError
from storage import audit, budgets
from storage.db import unit_of_work
from storage.models import Budget, BudgetAlert

MOVES = {
    "acknowledged": (("open", "snoozed"), "acknowledged this"),
    "snoozed": (("open", "snoozed"), "snoozed this"),
}


def _alert_id(value: str) -> int:
    found = budget_alerts.alert_id(value)
    if found is None:
        raise UserError("This budget alert is not one I know; nothing changed.")
    return found


async def move(
    d: Deps, user: str, value: str, status: str, *, reason: str | None = None, until: datetime | None = None
) -> str | None:
    """Acknowledge or snooze the alert (role checked, audited, Slack told); None when it moved,
    else what to tell the clicker."""
    await d.roles.require(user, "budget.act")
    number = _alert_id(value)
    allowed_from, said = MOVES[status]
    async with unit_of_work(d.engine) as session:
        moved = await budgets.move_alert(
            session, number, status, user, allowed_from=allowed_from, snoozed_until=until
        )
        alert = await session.get(BudgetAlert, number)
        if alert is None:
            raise UserError("This budget alert is no longer in the store; nothing changed.")
        if not moved:
            by = f" by <@{alert.acknowledged_by}>" if alert.acknowledged_by else ""
            return f"Nothing changed: it is {alert.status}{by} already."
        row = await audit.record(
            session,
            actor=user,
            channel="slack",
            action=f"budget_alert.{status}",
            subject_type="budget_alert",
            subject_id=str(number),
            details={"reason": reason, "until": until.isoformat() if until else None},
        )
        text = f"<@{user}> {said}" + (f" until {until:%Y-%m-%d %H:%M} UTC" if until else "")
        text += f': "{reason}"' if reason else "."
        await budget_alerts.tell(session, number, f"{status}:{row.id}", text)
    await d.deliver()
    return None


@answering
async def handle_budget_alert_ack(body: dict[str, Any], respond: Any, context: Any) -> None:
    user, value = clicked(body)
    await tell_clicker(respond, await move(deps(context), user, value, "acknowledged"))


async def _alert(d: Deps, value: str) -> tuple[BudgetAlert, Budget]:
    async with unit_of_work(d.engine) as session:
        alert = await session.get(BudgetAlert, _alert_id(value))
        budget = await session.get(Budget, alert.budget_id) if alert else None
    if alert is None or budget is None:
        raise UserError("This budget alert is no longer in the store.")
    return alert, budget


@answering
async def handle_budget_alert_snooze(
    body: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any
) -> None:
    d = deps(context)
    user, value = clicked(body)
    await d.roles.require(user, "budget.act")
    alert, budget = await _alert(d, value)
    await client.views_open(trigger_id=body["trigger_id"], view=budget_alerts.snooze_modal(alert, budget))


@answering
async def handle_budget_increase(
    body: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any
) -> None:
    d = deps(context)
    user, value = clicked(body)
    await d.roles.require(user, "budget.act")
    alert, budget = await _alert(d, value)
    budgets.refuse_config(budget, "increased from Slack")
    channel = (body.get("channel") or {}).get("id")
    view = budget_alerts.increase_modal(budget, alert.id, channel)
    await client.views_open(trigger_id=body["trigger_id"], view=view)
