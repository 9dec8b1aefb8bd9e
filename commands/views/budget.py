"""The budget modal: open it (new or prefilled), and save what is submitted."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import budgetspec, ids
from commands.context import Deps, deps
from commands.messages import budget_modal
from commands.roles import PermissionDenied
from finops.budgets import Rates
from finops.errors import UserError
from storage import budgets
from storage.budgets import BudgetSpec
from storage.db import unit_of_work
from storage.models import Budget


async def open_budget_modal(
    d: Deps, client: AsyncWebClient, *, trigger_id: str, user: str, channel: str | None, name: str | None
) -> None:
    """Open the modal, prefilled from budget `name` when given (`UserError` if there is none)."""
    await d.roles.require(user, "budget.edit")
    metadata = json.dumps({"original": name, "channel": channel})
    if name is None:
        view = budget_modal(metadata)
    else:
        async with unit_of_work(d.engine) as session:
            found = await budgets.find(session, name)
        if found is None:
            raise UserError(f"There is no budget called {name!r}; `/budget list` shows them.")
        budgets.refuse_config(found, "edited")
        view = budget_modal(
            json.dumps({"original": found.name, "channel": channel}),
            original=found.name,
            name=found.name,
            amount=format(found.amount.normalize(), "f"),
            currency=found.currency,
            period=found.period,
            scope=budgetspec.scope_text(found.scope),
            thresholds=", ".join(str(t) for t in found.thresholds),
        )
    await client.views_open(trigger_id=trigger_id, view=view)


def _value(values: dict[str, Any], block: str) -> str:
    element = values.get(block, {}).get("value", {})
    if "selected_option" in element:
        return str((element["selected_option"] or {}).get("value") or "")
    return str(element.get("value") or "").strip()


def parse_form(
    values: dict[str, Any], today: date, keep: BudgetSpec | None = None
) -> tuple[BudgetSpec | None, dict[str, str]]:
    """The budget the modal describes, or the errors to show beside its inputs."""
    return budgetspec.validate(
        name=_value(values, "name"),
        amount=_value(values, "amount"),
        currency=_value(values, "currency"),
        period=_value(values, "period") or "monthly",
        scope=_value(values, "scope"),
        thresholds=_value(values, "thresholds"),
        today=today,
        keep=keep,
    )


async def handle_budget_submission(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: Any
) -> None:
    """Validate in the ack (errors show beside the inputs), then save with its audit row; a
    budget above what its parent has left is saved with a warning."""
    d = deps(context)
    user = body["user"]["id"]
    metadata = json.loads(view.get("private_metadata") or "{}")
    original = metadata.get("original")
    try:
        await d.roles.require(user, "budget.edit")
    except PermissionDenied as denied:
        await ack(response_action="errors", errors={"name": str(denied)[:150]})
        return
    async with unit_of_work(d.engine) as session:
        stored = await budgets.find(session, original) if original else None
        parent = await session.get(Budget, stored.parent_id) if stored and stored.parent_id else None
        keep = budgetspec.spec_of(stored, parent.name if parent else None) if stored else None
        spec, errors = parse_form(view["state"]["values"], d.today(), keep)
        if spec is None:
            await ack(response_action="errors", errors=errors)
            return
        clash = await budgets.find(session, spec.name)
        if clash is not None and clash.name.lower() != (original or "").lower():
            await ack(
                response_action="errors", errors={"name": f"There is already a budget called {clash.name}."}
            )
            return
        try:
            budget, created = await budgets.save(
                session, spec, actor=user, channel="slack", original=original
            )
        except UserError as refused:  # a config budget
            await ack(response_action="errors", errors={"name": str(refused)[:150]})
            return
        fit = await budgets.allocation_of(session, spec, Rates(d.settings.rate_table()), d.today(), original)
        warning = budgets.over_allocation(fit, spec)
    await ack()
    channel = metadata.get("channel")
    if channel:
        verb = "created" if created else "updated"
        text = f"Budget *{budget.name}* {verb}: {budget.amount:,} {budget.currency} {budget.period}."
        if warning:
            text += f"\n:warning: {warning}"
        await client.chat_postEphemeral(channel=channel, user=user, text=text)


def register(app: Any) -> None:
    app.view(ids.BUDGET_MODAL)(handle_budget_submission)
