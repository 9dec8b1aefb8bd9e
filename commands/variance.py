"""Budget against actual for a calendar month, quarter or year: per budget (a variance report) or
per cost center (chargeback). Plain functions over the store, for `finops-bot budget report` and
Slack alike; they return `Variance` rows and say which exchange rates they used."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from finops.budgets import Rate, Rates, Variance, per_period, period_bounds, rates_note
from finops.currency import cents
from finops.errors import UserError
from storage import budgets
from storage.db import unit_of_work
from storage.models import Budget, CostDaily
from storage.reports import NONE_LABELS

By = Literal["budget", "cost-center"]
UNTAGGED = NONE_LABELS["cost_center"]
COST_CENTER = "cost_center"


@dataclass(frozen=True)
class ReportPeriod:
    label: str  # as asked, normalised: 2026-10, 2026-Q4 or 2026
    start: date
    end: date
    granularity: str  # the budget period it is one of: monthly, quarterly or yearly


def report_period(text: str) -> ReportPeriod:
    """`YYYY-MM`, `YYYY-Qn` or `YYYY` as a report period; `UserError` saying how to write one."""
    given = text.strip().upper()
    if found := re.fullmatch(r"(\d{4})-(\d{1,2})", given):
        year, month = int(found[1]), int(found[2])
        if 1 <= month <= 12:
            return _period(f"{year}-{month:02d}", date(year, month, 1), "monthly")
    elif found := re.fullmatch(r"(\d{4})-?Q([1-4])", given):
        year, quarter = int(found[1]), int(found[2])
        return _period(f"{year}-Q{quarter}", date(year, 3 * quarter - 2, 1), "quarterly")
    elif re.fullmatch(r"\d{4}", given):
        return _period(given, date(int(given), 1, 1), "yearly")
    raise UserError(
        f"{text!r} is not a report period; use YYYY-MM (e.g. 2026-10), YYYY-Qn (2026-Q4) or YYYY (2026)."
    )


def _period(label: str, day: date, granularity: str) -> ReportPeriod:
    start, end = period_bounds(day, granularity)
    return ReportPeriod(label, start, end, granularity)


@dataclass(frozen=True)
class VarianceReport:
    period: ReportPeriod
    by: By
    rows: list[Variance]  # money in cents
    notes: list[str]  # the exchange rates used, and what could not be converted
    currency: str | None = None  # the one currency of a cost-center report


def sole_cost_center(scope: dict[str, list[str]]) -> str | None:
    """The cost center of a budget scoped to exactly one cost center, and nothing else."""
    if set(scope) == {COST_CENTER} and len(scope[COST_CENTER]) == 1:
        return scope[COST_CENTER][0]
    return None


async def budget_amount(session: AsyncSession, budget: Budget, period: ReportPeriod, rates: Rates) -> Decimal:
    """The budget for the report period, in the budget's currency: the amount in force at the
    period's end, per the report's length (a monthly budget counts 3 times in a quarter, a
    yearly one 1/12 in a month), plus what rolled over into it when the budget's period is the
    report's."""
    history = await budgets.amendments(session, budget.id)
    amount = budgets.amount_at(budget, history, datetime.combine(period.end, time.max, tzinfo=UTC))
    total = per_period(amount, budget.period, period.granularity)
    if budget.period == period.granularity:
        total += await budgets.carried(session, budget, period.start, rates)
    return total


async def budget_variance(engine: AsyncEngine, period: ReportPeriod, table: Sequence[Rate]) -> VarianceReport:
    """Each budget against what its scope cost in the period, in the budget's currency."""
    converters: dict[str, Rates] = {}
    rows = []
    async with unit_of_work(engine) as session:
        for budget in await budgets.list_budgets(session):
            rates = converters.setdefault(budget.currency, Rates(table))
            amount = await budget_amount(session, budget, period, rates)
            actual = await budgets.period_spent(session, budget, period.start, period.end, rates)
            rows.append(
                Variance(
                    budget.name, sole_cost_center(budget.scope), budget.currency, cents(amount), cents(actual)
                )
            )
    notes = [rates_note(r.used, r.missing, currency) for currency, r in sorted(converters.items())]
    return VarianceReport(period, "budget", rows, [note for note in notes if note])


async def cost_center_spend(
    session: AsyncSession, period: ReportPeriod, currency: str, rates: Rates
) -> dict[str, tuple[str, Decimal]]:
    """What each cost center cost in the period, in `currency` (each day at its rate): by the
    cost center in lower case, its label and amount; untagged spend as "(untagged)"."""
    statement = (
        select(
            CostDaily.cost_center, CostDaily.currency, CostDaily.usage_date, func.sum(CostDaily.billed_cost)
        )
        .where(CostDaily.usage_date.between(period.start, period.end))
        .group_by(CostDaily.cost_center, CostDaily.currency, CostDaily.usage_date)
        .order_by(CostDaily.cost_center, CostDaily.currency, CostDaily.usage_date)
    )
    spend: dict[str, tuple[str, Decimal]] = {}
    for center, code, day, cost in (await session.execute(statement)).tuples():
        label = center or UNTAGGED
        converted = rates.convert(cost, code, currency, day)
        key = label.lower()
        before = spend.get(key, (label, Decimal(0)))
        spend[key] = (before[0], before[1] + (converted if converted is not None else Decimal(0)))
    return spend


async def cost_center_variance(
    engine: AsyncEngine, period: ReportPeriod, table: Sequence[Rate], currency: str = "USD"
) -> VarianceReport:
    """Chargeback: each cost center's spend in the period, in `currency`, against the budgets
    scoped to exactly that cost center (summed, converted at the period end's rate)."""
    spent_rates, budget_rates = Rates(table), Rates(table)
    async with unit_of_work(engine) as session:
        spend = await cost_center_spend(session, period, currency, spent_rates)
        planned: dict[str, tuple[str, Decimal, list[str]]] = {}
        for budget in await budgets.list_budgets(session):
            center = sole_cost_center(budget.scope)
            if center is None:
                continue
            amount = await budget_amount(session, budget, period, Rates(table))
            converted = budget_rates.convert(amount, budget.currency, currency, period.end)
            label, total, names = planned.get(center.lower(), (center, Decimal(0), []))
            planned[center.lower()] = (
                label,
                total + (converted if converted is not None else Decimal(0)),
                [*names, budget.name],
            )
    rows = []
    for key in sorted(spend.keys() | planned.keys(), key=lambda k: (k == UNTAGGED, k)):
        label, amount, names = planned.get(key, ("", Decimal(0), []))
        label, actual = spend[key] if key in spend else (label, Decimal(0))
        rows.append(Variance(", ".join(names), label, currency, cents(amount), cents(actual)))
    notes = [rates_note(spent_rates.used, spent_rates.missing, currency)]
    budget_note = rates_note(budget_rates.used, budget_rates.missing, currency)
    notes.append(f"budget amounts: {budget_note}" if budget_note else None)
    return VarianceReport(period, "cost-center", rows, [note for note in notes if note], currency)
