"""What people ask, answered the same way for Slack and the CLI: parse, query, compute.

Handlers render the answers; nothing here knows about Slack or the terminal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from finops import costquery, forecast
from finops.policy import spec
from storage import budgets, reports, tagreport
from storage import status as store_status
from storage.budgets import BudgetAnswer
from storage.db import unit_of_work

__all__ = [
    "BudgetAnswer",
    "CostAnswer",
    "budget",
    "budget_list",
    "cost",
    "required_tags",
    "status",
    "tags",
]


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


async def budget_list(engine: AsyncEngine, settings: Settings, today: date) -> list[BudgetAnswer]:
    async with unit_of_work(engine) as session:
        return [
            await budgets.standing(session, budget, today, settings.rate_table())
            for budget in await budgets.list_budgets(session)
        ]


async def budget(engine: AsyncEngine, settings: Settings, name: str, today: date) -> BudgetAnswer:
    """One budget's status; `UserError` naming the budgets there are when `name` is not one."""
    async with unit_of_work(engine) as session:
        found = await budgets.named(session, name)
        return await budgets.standing(session, found, today, settings.rate_table())


async def status(engine: AsyncEngine) -> store_status.Status:
    async with unit_of_work(engine) as session:
        return await store_status.status(session)


def required_tags(settings: Settings, policy_file: Path | None = None) -> tagreport.Required:
    """The tag keys the policy requires (`policy_file`, else FINOPS_CONFIG's [policies], else
    ./finops-policy.yml); `UserError` saying how to declare them when there are none."""
    return tagreport.required(spec.resolve(policy_file, settings.policies, settings.config_file))


async def tags(
    engine: AsyncEngine,
    required: tagreport.Required,
    today: date,
    *,
    month: date | None = None,
    months: int = tagreport.DEFAULT_MONTHS,
    by: str = "team",
    top: int = tagreport.DEFAULT_TOP,
) -> tagreport.TagReport:
    """Tag compliance for `month` (default: the last full month with data), grouped `by`."""
    async with unit_of_work(engine) as session:
        return await tagreport.report(session, required, today, month=month, months=months, by=by, top=top)
