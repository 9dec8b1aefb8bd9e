"""The budget modal: open it (new or prefilled), and save what is submitted."""

from __future__ import annotations

import json
import shlex
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import ids
from commands.context import Deps, deps
from commands.messages import budget_modal
from commands.roles import PermissionDenied
from finops import costquery
from finops.budgets import PERIODS
from finops.errors import UserError
from storage import budgets
from storage.budgets import BudgetSpec
from storage.db import unit_of_work


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
        view = budget_modal(
            json.dumps({"original": found.name, "channel": channel}),
            original=found.name,
            name=found.name,
            amount=format(found.amount.normalize(), "f"),
            currency=found.currency,
            period=found.period,
            scope=" ".join(f"{k}={','.join(v)}" for k, v in sorted(found.scope.items())),
            thresholds=", ".join(str(t) for t in found.thresholds),
        )
    await client.views_open(trigger_id=trigger_id, view=view)


def _value(values: dict[str, Any], block: str) -> str:
    element = values.get(block, {}).get("value", {})
    if "selected_option" in element:
        return str((element["selected_option"] or {}).get("value") or "")
    return str(element.get("value") or "").strip()


def _scope(text: str, today: date) -> dict[str, list[str]]:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot read it ({exc}); use key=value pairs, e.g. team=payments") from None
    if any("=" not in word or "!=" in word for word in words):
        raise ValueError("use key=value pairs only, e.g. team=payments provider=aws")
    query = costquery.parse(text, today) if words else None
    scope: dict[str, list[str]] = {}
    for one in query.filters if query else ():
        scope.setdefault(one.dimension, []).extend(one.values)
    return scope


def parse_form(values: dict[str, Any], today: date) -> tuple[BudgetSpec | None, dict[str, str]]:
    """The budget the modal describes, or the errors to show beside its inputs."""
    errors: dict[str, str] = {}
    name = _value(values, "name")
    if not name:
        errors["name"] = "Give the budget a name."
    try:
        amount = Decimal(_value(values, "amount"))
        if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e12"):
            raise InvalidOperation
    except InvalidOperation:
        errors["amount"] = "Enter an amount above 0, e.g. 25000 or 1250.50."
    currency = _value(values, "currency").upper()
    if not (len(currency) == 3 and currency.isalpha()):
        errors["currency"] = "Enter a three-letter currency code, e.g. USD or EUR."
    period = _value(values, "period") or "monthly"
    if period not in PERIODS:
        errors["period"] = f"Choose one of: {', '.join(PERIODS)}."
    try:
        scope = _scope(_value(values, "scope"), today)
    except (ValueError, costquery.QueryError) as exc:
        errors["scope"] = str(exc)[:150]
    try:
        thresholds = tuple(sorted({int(t) for t in _value(values, "thresholds").replace(",", " ").split()}))
        if not thresholds or not all(0 < t <= 1000 for t in thresholds):
            raise ValueError
    except ValueError:
        errors["thresholds"] = "Enter percentages between 1 and 1000, e.g. 50, 80, 100."
    if errors:
        return None, errors
    return BudgetSpec(name, amount, currency, period, scope, thresholds), {}


async def handle_budget_submission(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: Any
) -> None:
    """Validate in the ack (errors show beside the inputs), then save with its audit row."""
    d = deps(context)
    user = body["user"]["id"]
    spec, errors = parse_form(view["state"]["values"], d.today())
    if spec is None:
        await ack(response_action="errors", errors=errors)
        return
    metadata = json.loads(view.get("private_metadata") or "{}")
    try:
        await d.roles.require(user, "budget.edit")
    except PermissionDenied as denied:
        await ack(response_action="errors", errors={"name": str(denied)[:150]})
        return
    async with unit_of_work(d.engine) as session:
        clash = await budgets.find(session, spec.name)
        if clash is not None and clash.name.lower() != (metadata.get("original") or "").lower():
            await ack(
                response_action="errors", errors={"name": f"There is already a budget called {clash.name}."}
            )
            return
        budget, created = await budgets.save(
            session, spec, actor=user, channel="slack", original=metadata.get("original")
        )
    await ack()
    channel = metadata.get("channel")
    if channel:
        verb = "created" if created else "updated"
        text = f"Budget *{budget.name}* {verb}: {budget.amount:,} {budget.currency} {budget.period}."
        await client.chat_postEphemeral(channel=channel, user=user, text=text)


def register(app: Any) -> None:
    app.view(ids.BUDGET_MODAL)(handle_budget_submission)
