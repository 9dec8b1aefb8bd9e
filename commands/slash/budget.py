"""`/budget`: list, show NAME, new, edit NAME, delete NAME, help (the same code as
`finops-bot budget`; the budgets logic is in finops.budgets and storage.budgets)."""

from __future__ import annotations

import functools
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import queries
from commands.context import Deps, deps
from commands.messages import budget_help, budget_list_message, budget_message
from commands.replies import answering, send, upload_chart
from commands.roles import allows
from commands.views.budget import open_budget_modal
from finops import charts
from finops.errors import UserError
from storage import budgets
from storage.db import unit_of_work


async def show_budget(d: Deps, client: AsyncWebClient, respond: Any, user: str, name: str) -> None:
    role = await d.roles.require(user, "budget.read")
    answer = await queries.budget(d.engine, d.settings, name, d.today())
    render = functools.partial(
        charts.daily_spend,
        answer.daily,
        title=f"{answer.budget.name}: spend to date",
        currency=answer.budget.currency,
        limit=answer.budget.amount,
        cumulative=True,
    )
    chart = await upload_chart(client, render, "budget") if len(answer.daily) > 1 else None
    await send(respond, budget_message(answer, allows(role, "budget.edit"), chart))


async def list_budgets(d: Deps, respond: Any, user: str) -> None:
    role = await d.roles.require(user, "budget.read")
    answers = await queries.budget_list(d.engine, d.settings, d.today())
    await respond(**budget_list_message(answers, allows(role, "budget.edit")))


@answering
async def handle_budget(command: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any) -> None:
    d = deps(context)
    user = command["user_id"]
    verb, _, rest = (command.get("text") or "").strip().partition(" ")
    verb, rest = verb.lower(), rest.strip()
    if verb in ("", "list", "ls"):
        await list_budgets(d, respond, user)
    elif verb in ("help", "?", "-h", "--help"):
        await respond(**budget_help())
    elif verb == "show" and rest:
        await show_budget(d, client, respond, user, rest)
    elif verb in ("new", "create"):
        await open_budget_modal(
            d,
            client,
            trigger_id=command["trigger_id"],
            user=user,
            channel=command.get("channel_id"),
            name=None,
        )
    elif verb == "edit" and rest:
        await open_budget_modal(
            d,
            client,
            trigger_id=command["trigger_id"],
            user=user,
            channel=command.get("channel_id"),
            name=rest,
        )
    elif verb in ("delete", "rm") and rest:
        await d.roles.require(user, "budget.edit")
        async with unit_of_work(d.engine) as session:
            gone = await budgets.delete(session, rest, actor=user, channel="slack")
        await respond(text=f"Budget *{gone.name}* deleted.", response_type="ephemeral")
    elif verb in ("show", "edit", "delete", "rm"):
        raise UserError(f"Say which budget: `/budget {verb} NAME` (`/budget list` shows them).")
    else:
        raise UserError(
            f"`/budget {command.get('text', '').strip()}` is not something I know. "
            "Try `/budget list`, `/budget show NAME`, `/budget new`, `/budget delete NAME` or `/budget help`."
        )
