"""What people ask, answered the same way for Slack and the CLI: parse, query, compute.

Handlers render the answers; nothing here knows about Slack or the terminal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from finops import costquery, forecast
from finops.budgets import BudgetStatus, evaluate, period_bounds
from finops.errors import UserError
from storage import budgets, reports
from storage import status as store_status
from storage.db import unit_of_work
from storage.models import Budget


@dataclass(frozen=True)
class CostAnswer:
    report: reports.CostReport
    forecasts: dict[str, forecast.Forecast] = field(default_factory=dict)  # per currency

    @property
    def query(self) -> costquery.CostQuery:
        """The query as answered: cut to the latest day with data."""
        return self.report.query


def _forecasts(report: reports.CostReport) -> dict[str, forecast.Forecast]:
    found = {}
    until = report.data_until
    for currency, points in report.history.items():
        kept = [cost for day, cost in points if until is None or day <= until]
        if kept:
            made = forecast.forecast(np.array([float(c) for c in kept]), points[0][0], "month")
            if made is not None:
                found[currency] = made
    return found


async def cost(engine: AsyncEngine, text: str, today: date) -> CostAnswer:
    """The answer to a `/cost` query (raises `QueryError` for one that does not parse)."""
    query = costquery.parse(text, today)
    async with unit_of_work(engine) as session:
        report = await reports.cost_report(session, query)
    found = await asyncio.to_thread(_forecasts, report) if query.forecast else {}
    return CostAnswer(report, found)


@dataclass(frozen=True)
class BudgetAnswer:
    budget: Budget
    status: BudgetStatus
    daily: list[tuple[date, Decimal]]  # the period's days so far (for the burn chart)


async def _answer(engine: AsyncEngine, budget: Budget, today: date) -> BudgetAnswer:
    start, _ = period_bounds(today, budget.period)
    async with unit_of_work(engine) as session:
        spend = await budgets.daily_spend(session, budget, start, today)
    if not spend or spend[-1][0] < start:
        spend = [(today, Decimal(0))]
    status = await asyncio.to_thread(evaluate, budget.amount, budget.period, spend, budget.thresholds)
    return BudgetAnswer(budget, status, [(d, c) for d, c in spend if d >= status.start])


async def budget_list(engine: AsyncEngine, today: date) -> list[BudgetAnswer]:
    async with unit_of_work(engine) as session:
        found = await budgets.list_budgets(session)
    return [await _answer(engine, budget, today) for budget in found]


async def budget(engine: AsyncEngine, name: str, today: date) -> BudgetAnswer:
    """One budget's status; `UserError` naming the budgets there are when `name` is not one."""
    async with unit_of_work(engine) as session:
        found = await budgets.find(session, name)
        names = [b.name for b in await budgets.list_budgets(session)] if found is None else []
    if found is None:
        there = f"the budgets are: {', '.join(names)}" if names else "there are no budgets yet"
        raise UserError(f"There is no budget called {name!r}; {there}.")
    return await _answer(engine, found, today)


async def status(engine: AsyncEngine) -> store_status.Status:
    async with unit_of_work(engine) as session:
        return await store_status.status(session)
