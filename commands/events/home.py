"""App Home: for the person opening it, their role, this month's spend against last month's,
the open anomalies, the budgets at risk and data freshness (published on open)."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import alerts, queries
from commands.context import deps
from commands.messages import budget_line, home_view, spend_line
from storage import anomalies
from storage.db import unit_of_work


async def handle_app_home_opened(event: dict[str, Any], client: AsyncWebClient, context: Any) -> None:
    if event.get("tab", "home") != "home":
        return
    d = deps(context)
    user = event["user"]
    role = await d.roles.role_of(user)
    if role is None:  # no role: no costs either
        view = home_view(None, await queries.status(d.engine), d.now())
    else:
        async with unit_of_work(d.engine) as session:
            events = await anomalies.open_events(session)
        at_risk = [
            a
            for a in await queries.budget_list(d.engine, d.settings, d.today())
            if a.status.state != "on track"
        ]
        view = home_view(
            role,
            await queries.status(d.engine),
            d.now(),
            spend=spend_line(await queries.cost(d.engine, "mtd", d.today())),
            anomalies=[f"{alerts.STATES[a.status][0]} {alerts.headline(a)}" for a in events],
            budgets=[budget_line(a) for a in at_risk[:10]],
        )
    await client.views_publish(user_id=user, view=view)  # idempotent: a retry publishes the same view
