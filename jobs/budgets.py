"""The budgets job: after each ingestion and daily, the config's budgets are brought into the
store, every budget is evaluated (kept with the exchange rates used), and each threshold crossed
alerts once per period; alerts nobody acknowledges escalate.

An alert is a `budget_alerts` row (unique per budget, period, kind and threshold) and a Slack
message enqueued in the outbox in the same transaction: a re-run, a restart or a second replica
finds the row and posts nothing again.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.settings import Settings
from commands import budget_alerts, budgetspec
from finops.budgets import alerts_due
from jobs.notify import channel_for
from storage import budgets, jobruns, outbox
from storage.budgets import BudgetAnswer
from storage.db import unit_of_work
from storage.models import Budget, BudgetAlert


def channel_of(settings: Settings, budget: Budget) -> str:
    """The budget's own channel, else its team's, else the alert channel."""
    if budget.channel:
        return budget.channel
    teams = budget.scope.get("team") or []
    return channel_for(settings, {"team": teams[0]} if len(teams) == 1 else {})


def draft(answer: BudgetAnswer, kind: str, pct: int, state: str, details: dict[str, Any]) -> BudgetAlert:
    """An alert row of this period for `answer` (not added to any session)."""
    status = answer.status
    return BudgetAlert(
        budget_id=answer.budget.id,
        period_start=status.start,
        threshold_pct=pct,
        kind=kind,
        amount=status.spent if kind == "actual" else status.forecast,
        status=state,
        escalation_level=0,
        details=details,
    )


async def alert(session: AsyncSession, settings: Settings, answer: BudgetAnswer) -> list[BudgetAlert]:
    """Record the alerts `answer` calls for that this period has not had, and enqueue the posts."""
    budget, status = answer.budget, answer.status
    sent = [(a.kind, a.threshold_pct) for a in await budgets.alerts_of(session, budget.id, status.start)]
    post, record = alerts_due(status, budget.forecast_alert, sent)
    if not post and not record:
        return []
    top = await budgets.contributors(session, budget, status.start, status.as_of, answer.rates)
    details = budget_alerts.snapshot(answer, top)
    # Crossed together with a higher one, which is the one posted: recorded, not posted.
    session.add_all(draft(answer, kind, pct, "passed", details) for kind, pct in record)
    posted = [draft(answer, kind, pct, "open", details) for kind, pct in post]
    session.add_all(posted)
    await session.flush()
    for row in posted:
        payload = {"alert_id": row.id, "channel": channel_of(settings, budget)}
        await outbox.enqueue(session, budget_alerts.root_key(row.id), "slack.budget.root", payload)
    return posted


async def evaluate(engine: AsyncEngine, settings: Settings, today: date) -> dict[str, int]:
    """Every budget as of `today`: evaluated, recorded, alerted. How many are on track, at risk
    and over, and how many alerts were enqueued."""
    async with jobruns.recorded(engine, "budgets") as details:
        synced = await budgetspec.sync(engine, settings)
        states: Counter[str] = Counter()
        async with unit_of_work(engine) as session:
            found = await budgets.list_budgets(session)
            for budget in found:
                answer = await budgets.standing(session, budget, today, settings.rate_table())
                await budgets.record_evaluation(session, budget, answer.status, answer.rates)
                states[answer.status.state] += 1
                states["alerts"] += len(await alert(session, settings, answer))
        details.update(
            as_of=today.isoformat(), budgets=len(found), config={k: v for k, v in synced.items() if v}
        )
        details.update(states)
    return dict(states)


async def escalate(session: AsyncSession, settings: Settings, now: datetime) -> list[int]:
    """Alerts posted and not acknowledged: after `escalate_after_minutes` the budget's escalation
    contact is mentioned in the thread, after `admins_after_minutes` the admins (and the admin
    channel is told). A snooze holds the clock: it starts again when the snooze is over. Each
    level once. The alerts escalated."""
    rules = settings.budget_alerts
    rows = await session.scalars(
        select(BudgetAlert)
        .where(
            BudgetAlert.status.in_(("open", "snoozed")),
            BudgetAlert.slack_ts.is_not(None),
            BudgetAlert.escalation_level < 2,
        )
        .order_by(BudgetAlert.id)
    )
    escalated = []
    for row in list(rows):
        if row.snoozed_until is not None and row.snoozed_until > now:
            continue
        since = max(row.created_at, row.snoozed_until or row.created_at)
        budget = await session.get(Budget, row.budget_id)
        if budget is None:
            continue
        waited = now - since
        level = row.escalation_level
        if waited >= timedelta(minutes=rules.admins_after_minutes):
            target = 2
        elif waited >= timedelta(minutes=rules.escalate_after_minutes) and budget.escalation:
            target = 1
        else:
            continue
        if target <= level:
            continue
        hours = f"{waited.total_seconds() / 3600:.1f} h"
        if target == 1:
            who = [budget.escalation] if budget.escalation else []
        else:
            who = [*([budget.escalation] if budget.escalation and level < 1 else []), *settings.roles.admin]
        mentions = (
            " ".join(budget_alerts.mention(w) for w in who) or "admins (none are configured under [roles])"
        )
        text = f"{mentions}: nobody has acknowledged this budget alert in {hours}. Please take a look."
        row.escalation_level = target
        if row.status == "snoozed":
            row.status = "open"
        await budget_alerts.tell(session, row.id, f"escalated:{target}", text)
        if target == 2 and settings.channels.admin:
            payload: dict[str, Any] = {
                "channel": settings.channels.admin,
                "text": f"Budget alert not acknowledged in {hours}: {budget_alerts.headline(row, budget)}",
            }
            await outbox.enqueue(session, f"budget-alert:{row.id}:admin", "slack.post", payload)
        escalated.append(row.id)
    await session.flush()
    return escalated
