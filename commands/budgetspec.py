"""A budget as people give it (the Slack modal, `finops-bot budget set`, the config file), read
into a `BudgetSpec` with the same rules and the same messages everywhere."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import BudgetConfig, Settings
from finops import costquery
from finops.budgets import PERIODS
from finops.currency import is_currency
from storage import budgets
from storage.budgets import BudgetSpec
from storage.db import unit_of_work
from storage.models import Budget
from storage.reports import TAG

MAX_AMOUNT = Decimal("1e12")


def scope_of(words: Sequence[str], today: date) -> dict[str, list[str]]:
    """`key=value[,value]` pairs as a scope: the `/cost` dimension names (and their aliases), or
    `tag:KEY=value` for any tag. `ValueError` with what to write instead."""
    if any("=" not in word or "!=" in word for word in words):
        raise ValueError("use key=value pairs only, e.g. team=payments provider=aws tag:app=checkout")
    scope: dict[str, list[str]] = {}
    known = [w for w in words if not w.lower().startswith(TAG)]
    for word in words:
        if word.lower().startswith(TAG):
            key, _, values = word[len(TAG) :].partition("=")
            if not key or not values:
                raise ValueError(f"{word!r}: write tag:KEY=value, e.g. tag:app=checkout")
            scope.setdefault(TAG + key, []).extend(v for v in values.split(",") if v)
    query = costquery.parse(" ".join(shlex.quote(w) for w in known), today) if known else None
    for one in query.filters if query else ():
        scope.setdefault(one.dimension, []).extend(one.values)
    return scope


def scope_text(scope: dict[str, list[str]]) -> str:
    return " ".join(f"{k}={','.join(v)}" for k, v in sorted(scope.items()))


def validate(
    *,
    name: str,
    amount: str,
    currency: str = "USD",
    period: str = "monthly",
    scope: str | Sequence[str] = "",
    thresholds: str = "50, 80, 100",
    today: date,
    parent: str | None = None,
    rollover: bool | None = None,
    rollover_cap: str | None = None,
    channel: str | None = None,
    keep: BudgetSpec | None = None,
) -> tuple[BudgetSpec | None, dict[str, str]]:
    """The budget these fields describe, or the errors by field (to show beside an input, or on
    stderr). `keep`: the stored budget's spec, for what these fields do not say."""
    errors: dict[str, str] = {}
    name = name.strip()
    if not name or len(name) > 200:
        errors["name"] = "Give the budget a name (200 characters at most)."
    try:
        value = Decimal(amount.strip().replace(",", ""))
        if not value.is_finite() or value <= 0 or value >= MAX_AMOUNT:
            raise InvalidOperation
    except InvalidOperation:
        errors["amount"] = "Enter an amount above 0, e.g. 25000 or 1250.50."
    code = currency.strip().upper()
    if not is_currency(code):
        errors["currency"] = "Enter a three-letter ISO 4217 currency code, e.g. USD or EUR."
    if period not in PERIODS:
        errors["period"] = f"Choose one of: {', '.join(PERIODS)}."
    try:
        words = shlex.split(scope) if isinstance(scope, str) else list(scope)
        found = scope_of(words, today)
    except ValueError as exc:
        errors["scope"] = f"Cannot read the scope: {exc}"[:150]
    except costquery.QueryError as exc:
        errors["scope"] = str(exc)[:150]
    try:
        levels = tuple(sorted({int(t) for t in thresholds.replace(",", " ").replace("%", " ").split()}))
        if not levels or not all(0 < t <= 1000 for t in levels):
            raise ValueError
    except ValueError:
        errors["thresholds"] = "Enter percentages between 1 and 1000, e.g. 50, 80, 100."
    cap = None
    if rollover_cap:
        try:
            cap = Decimal(rollover_cap)
            if not cap.is_finite() or cap < 0:
                raise InvalidOperation
        except InvalidOperation:
            errors["rollover_cap"] = "Enter the most to carry over, e.g. 5000 (0 or more)."
    if parent is not None and parent.strip().lower() == name.lower():
        errors["parent"] = "A budget cannot be its own parent."
    if errors:
        return None, errors
    base = keep or BudgetSpec(name, value)
    return (
        BudgetSpec(
            name=name,
            amount=value,
            currency=code,
            period=period,
            scope=found,
            thresholds=levels,
            channel=channel if channel is not None else base.channel,
            parent=(parent.strip() or None) if parent is not None else base.parent,
            rollover=rollover if rollover is not None else base.rollover,
            rollover_cap=cap if rollover_cap else base.rollover_cap,
            owners=base.owners,
            approvers=base.approvers,
            escalation=base.escalation,
            forecast_alert=base.forecast_alert,
        ),
        {},
    )


def from_config(config: BudgetConfig) -> BudgetSpec:
    return BudgetSpec(
        name=config.name,
        amount=config.amount,
        currency=config.currency,
        period=config.period,
        scope={k: [v] if isinstance(v, str) else list(v) for k, v in config.scope.items()},
        thresholds=tuple(config.thresholds),
        channel=config.channel,
        parent=config.parent,
        rollover=config.rollover,
        rollover_cap=config.rollover_cap,
        owners=tuple(config.owners),
        approvers=tuple(config.approvers),
        escalation=config.escalation,
        forecast_alert=config.forecast_alert,
    )


async def sync(engine: AsyncEngine, settings: Settings) -> dict[str, list[str]]:
    """Bring the stored budgets in line with the ones the config declares."""
    async with unit_of_work(engine) as session:
        return await budgets.sync_config(session, [from_config(c) for c in settings.budgets])


def spec_of(budget: Budget, parent: str | None) -> BudgetSpec:
    """A stored budget as a spec (to change part of it)."""
    return BudgetSpec(
        name=budget.name,
        amount=budget.amount,
        currency=budget.currency,
        period=budget.period,
        scope={k: list(v) for k, v in budget.scope.items()},
        thresholds=tuple(budget.thresholds),
        channel=budget.channel,
        parent=parent,
        rollover=budget.rollover,
        rollover_cap=budget.rollover_cap,
        owners=tuple(budget.owners),
        approvers=tuple(budget.approvers),
        escalation=budget.escalation,
        forecast_alert=budget.forecast_alert,
    )
