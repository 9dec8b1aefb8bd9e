"""Budget alerts as Block Kit: the alert message (rebuilt from the stored alert each time it is
posted or updated, so it shows who did what and only the buttons that still apply), the news in
its thread, and the snooze and Request increase modals."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from commands import ids
from commands.messages import amount, day
from storage import outbox
from storage.budgets import BudgetAnswer
from storage.models import Budget, BudgetAlert
from templates import render

STATES = {
    "open": (":rotating_light:", "Open"),
    "acknowledged": (":eyes:", "Acknowledged"),
    "snoozed": (":zzz:", "Snoozed"),
}
BUTTONS = {
    "open": (ids.BUDGET_ALERT_ACK, ids.BUDGET_ALERT_SNOOZE, ids.BUDGET_INCREASE),
    "snoozed": (ids.BUDGET_ALERT_ACK, ids.BUDGET_INCREASE),
    "acknowledged": (ids.BUDGET_INCREASE,),
}
LABELS = {
    ids.BUDGET_ALERT_ACK: "Acknowledge",
    ids.BUDGET_ALERT_SNOOZE: "Snooze",
    ids.BUDGET_INCREASE: "Request increase",
}


def mention(who: str) -> str:
    """A Slack user (U/W...) or user group (S...) id as a mention."""
    return f"<!subteam^{who}>" if who.startswith("S") else f"<@{who}>"


def root_key(alert_id: int) -> str:
    return f"budget-alert:{alert_id}"


def value(alert_id: int) -> str:
    return f"budget-alert:{alert_id}"


def alert_id(text: str) -> int | None:
    kind, _, number = text.partition(":")
    return int(number) if kind == "budget-alert" and number.isdigit() else None


def _money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def snapshot(answer: BudgetAnswer, top: list[tuple[str, Decimal]]) -> dict[str, Any]:
    """What an alert shows, as it stood when it fired (kept with the alert)."""
    s, b = answer.status, answer.budget
    return {
        "as_of": s.as_of.isoformat(),
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "period": b.period,
        "currency": b.currency,
        "amount": str(s.amount),
        "carried": str(s.carried),
        "spent": str(s.spent),
        "pct_spent": str(s.pct_spent),
        "forecast": None if s.forecast is None else str(s.forecast),
        "pct_forecast": None if s.pct_forecast is None else str(s.pct_forecast),
        "days_left": s.days_left,
        "burn_per_day": str(s.burn_per_day),
        "top": [[name, str(cost)] for name, cost in top],
        "daily": [[d.isoformat(), str(c)] for d, c in answer.daily],
        "rates": answer.rates_note,
        "parent": answer.parent,
    }


def headline(alert: BudgetAlert, budget: Budget) -> str:
    d = alert.details
    money = amount(Decimal(d["amount"]), budget.currency)
    if alert.kind == "forecast":
        forecast = amount(Decimal(d["forecast"]), budget.currency)
        return f"Budget {budget.name}: forecast {forecast} will exceed {money} ({d['pct_forecast']}%)"[:150]
    spent = amount(Decimal(d["spent"]), budget.currency)
    return f"Budget {budget.name}: {alert.threshold_pct}% reached, {spent} of {money}"[:150]


def daily(alert: BudgetAlert) -> list[tuple[date, Decimal]]:
    return [(date.fromisoformat(d), Decimal(c)) for d, c in alert.details.get("daily", [])]


def status_line(alert: BudgetAlert) -> str:
    emoji, label = STATES.get(alert.status, (":grey_question:", alert.status))
    line = f"{emoji} *{label}*"
    if alert.status == "acknowledged" and alert.acknowledged_by:
        when = f" at {alert.acknowledged_at:%Y-%m-%d %H:%M} UTC" if alert.acknowledged_at else ""
        line += f" by <@{alert.acknowledged_by}>{when}"
    if alert.status == "snoozed" and alert.snoozed_until:
        line += f" until {alert.snoozed_until:%Y-%m-%d %H:%M} UTC"
    if alert.escalation_level:
        line += " · escalated to " + (
            "the escalation contact" if alert.escalation_level == 1 else "the admins"
        )
    return line


def alert_message(alert: BudgetAlert, budget: Budget, chart_file: str | None = None) -> dict[str, Any]:
    d, currency = alert.details, budget.currency
    forecast = _money(d.get("forecast"))
    facts = [
        f"*Spent*\n{amount(Decimal(d['spent']), currency)} ({d['pct_spent']}%)",
        f"*Budget*\n{amount(Decimal(d['amount']), currency)} {d['period']}",
        f"*Forecast*\n{amount(forecast, currency)} ({d['pct_forecast']}%)"
        if forecast is not None
        else "*Forecast*\nnot enough data yet",
        f"*Days left*\n{d['days_left']} (to {day(date.fromisoformat(d['end']))})",
        f"*Burn*\n{amount(Decimal(d['burn_per_day']), currency)} a day",
    ]
    if Decimal(d.get("carried") or 0):
        facts.append(f"*Rolled over*\n{amount(Decimal(d['carried']), currency)} from last period")
    if d.get("parent"):
        facts.append(f"*Part of*\n{d['parent']}")
    if budget.owners:
        facts.append("*Owners*\n" + " ".join(mention(w) for w in budget.owners))
    notes = [f"Data through {day(date.fromisoformat(d['as_of']))}"]
    if d.get("rates"):
        notes.append(d["rates"])
    buttons = BUTTONS.get(alert.status, ())
    return render(
        "slack/budget_alert.json.j2",
        headline=headline(alert, budget),
        facts=facts,
        top=[f"• {name}: {amount(Decimal(cost), currency)}" for name, cost in d.get("top", [])],
        chart_file=chart_file,
        note=" · ".join(notes),
        status=status_line(alert),
        buttons=[
            {
                "action_id": b,
                "text": LABELS[b],
                "value": value(alert.id),
                "style": "primary" if b == ids.BUDGET_ALERT_ACK else None,
            }
            for b in buttons
        ],
        version=_version(alert),
    )


def _version(alert: BudgetAlert) -> str:
    """A fresh block id per state, so an update replaces the blocks."""
    stamps = [int(t.timestamp()) if t else 0 for t in (alert.acknowledged_at, alert.snoozed_until)]
    return f"{alert.status}-{alert.escalation_level}-{stamps[0]}-{stamps[1]}"


async def tell(session: Any, alert_id: int, what: str, text: str | None) -> None:
    """Enqueue news of an alert: the root message's update and, with `text`, a thread reply;
    once for `what`."""
    payload: dict[str, Any] = {"alert_id": alert_id, "text": text}
    await outbox.enqueue(session, f"budget-alert:{alert_id}:{what}", "slack.budget.update", payload)


def snooze_modal(alert: BudgetAlert, budget: Budget) -> dict[str, Any]:
    return render(
        "slack/snooze.json.j2",
        metadata=json.dumps({"alert_id": alert.id}),
        headline=headline(alert, budget),
        callback_id=ids.BUDGET_ALERT_SNOOZE_MODAL,
        title="Snooze budget alert",
    )


def increase_modal(budget: Budget, alert: int | None, channel: str | None) -> dict[str, Any]:
    return render(
        "slack/budget_increase.json.j2",
        metadata=json.dumps({"budget": budget.name, "alert_id": alert, "channel": channel}),
        headline=f"*{budget.name}*: {amount(budget.amount, budget.currency)} {budget.period}. "
        "The budget's approvers decide; you cannot approve your own request.",
        currency=budget.currency,
        current=format(budget.amount.normalize(), "f"),
    )
