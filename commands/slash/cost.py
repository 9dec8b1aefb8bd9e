"""`/cost QUERY`: costs by period, dimension and filter; the same grammar as `finops-bot cost`."""

from __future__ import annotations

import functools
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import queries
from commands.context import deps
from commands.messages import cost_help, cost_message
from commands.replies import answering, send, upload_chart
from finops import charts, costquery

DEFAULT_QUERY = "this month by service"


async def cost_chart(client: AsyncWebClient, answer: queries.CostAnswer) -> str | None:
    report = answer.report
    if not report.totals or answer.query.period.days < 2:
        return None
    currency = max(report.totals, key=lambda c: report.totals[c])
    points = [
        (d, c) for d, c in report.daily[currency] if report.data_until is None or d <= report.data_until
    ]
    render = functools.partial(
        charts.daily_spend, points, title=f"Daily cost, {answer.query.period.label}", currency=currency
    )
    return await upload_chart(client, render, "cost")


@answering
async def handle_cost(command: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any) -> None:
    d = deps(context)
    await d.roles.require(command["user_id"], "cost.read")
    text = (command.get("text") or "").strip()
    if costquery.is_help(text):
        await respond(**cost_help())
        return
    answer = await queries.cost(d.engine, text or DEFAULT_QUERY, d.today())
    await send(respond, cost_message(answer, await cost_chart(client, answer)))
