"""Budgets in the store: list, find, save (with its audit row) and their daily spend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from finops.budgets import DEFAULT_THRESHOLDS
from finops.costquery import Filter
from storage import audit
from storage.models import Budget, CostDaily
from storage.reports import daily_totals, from_first_cost

HISTORY_DAYS = 120  # daily spend read before the period, for the forecast


@dataclass(frozen=True)
class BudgetSpec:
    name: str
    amount: Decimal
    currency: str = "USD"
    period: str = "monthly"
    scope: dict[str, list[str]] = field(default_factory=dict)  # dimension -> values (any of)
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    channel: str | None = None


def filters(scope: dict[str, Any]) -> list[Filter]:
    return [Filter(dimension, tuple(values)) for dimension, values in sorted(scope.items())]


async def list_budgets(session: AsyncSession) -> list[Budget]:
    return list(await session.scalars(select(Budget).order_by(func.lower(Budget.name))))


async def find(session: AsyncSession, name: str) -> Budget | None:
    budget: Budget | None = await session.scalar(
        select(Budget).where(func.lower(Budget.name) == name.strip().lower())
    )
    return budget


async def save(
    session: AsyncSession, spec: BudgetSpec, *, actor: str, channel: str, original: str | None = None
) -> tuple[Budget, bool]:
    """Create the budget, or update the one named `original` (or `spec.name`); audited. Returns it
    and whether it is new."""
    budget = await find(session, original or spec.name)
    created = budget is None
    if budget is None:
        budget = Budget(name=spec.name)
        session.add(budget)
    before = None if created else _described(budget)
    budget.name = spec.name
    budget.amount = spec.amount
    budget.currency = spec.currency
    budget.period = spec.period
    budget.scope = {k: list(v) for k, v in spec.scope.items()}
    budget.thresholds = list(spec.thresholds)
    budget.channel = spec.channel
    budget.owner = budget.owner or actor
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        channel=channel,
        action="budget.create" if created else "budget.update",
        subject_type="budget",
        subject_id=str(budget.id),
        details={"before": before, "after": _described(budget)},
    )
    return budget, created


def _described(budget: Budget) -> dict[str, Any]:
    return {
        "name": budget.name,
        "amount": str(budget.amount),
        "currency": budget.currency,
        "period": budget.period,
        "scope": budget.scope,
        "thresholds": budget.thresholds,
    }


async def daily_spend(
    session: AsyncSession, budget: Budget, start: date, as_of: date
) -> list[tuple[date, Decimal]]:
    """Daily spend in the budget's scope and currency, from HISTORY_DAYS before `start` to the
    latest day with data up to `as_of` (empty when there is none in the period)."""
    scope = filters(budget.scope)
    last = await session.scalar(select(func.max(CostDaily.usage_date)).where(CostDaily.usage_date <= as_of))
    if last is None or last < start:
        return []
    series = await daily_totals(session, scope, start - timedelta(days=HISTORY_DAYS), last)
    return from_first_cost(series.get(budget.currency, []), start)
