"""Budget maths: where a budget stands in its period (spent, burn, forecast, thresholds).

Pure functions over daily spend; the budgets issue adds alerts, hierarchies and rollover on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

import numpy as np

from finops import forecast
from finops.anomaly.detect import money

BudgetPeriod = Literal["monthly", "quarterly"]
PERIODS: dict[str, forecast.Period] = {"monthly": "month", "quarterly": "quarter"}
DEFAULT_THRESHOLDS = (50, 80, 100)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class BudgetStatus:
    start: date
    end: date
    as_of: date  # the latest day with data counted
    amount: Decimal
    spent: Decimal
    pct_spent: Decimal
    forecast: Decimal | None  # for the whole period
    pct_forecast: Decimal | None
    burn_per_day: Decimal  # average so far
    left_per_day: Decimal | None  # what may still be spent per day to stay within the amount
    days_left: int
    thresholds_crossed: tuple[int, ...]

    @property
    def state(self) -> str:
        """`over` (spent more than the amount), `at risk` (forecast over it) or `on track`."""
        if self.spent > self.amount:
            return "over"
        if self.forecast is not None and self.forecast > self.amount:
            return "at risk"
        return "on track"


def pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * HUNDRED).quantize(Decimal("0.1")) if whole else Decimal(0)


def period_bounds(day: date, period: str) -> tuple[date, date]:
    """The first and last day of the budget period holding `day`."""
    return forecast.bounds(day, PERIODS[period])


def evaluate(
    amount: Decimal,
    period: str,
    daily: Sequence[tuple[date, Decimal]],
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
) -> BudgetStatus:
    """Where a budget of `amount` stands after `daily` (consecutive days of spend, ending on the
    latest day with data; earlier days than the period only feed the forecast)."""
    as_of = daily[-1][0]
    start, end = period_bounds(as_of, period)
    spent = sum((cost for day, cost in daily if day >= start), Decimal(0))
    made = forecast.forecast(np.array([float(c) for _, c in daily]), daily[0][0], PERIODS[period])
    days_in = (as_of - start).days + 1
    left = (end - as_of).days
    remaining = amount - spent
    return BudgetStatus(
        start=start,
        end=end,
        as_of=as_of,
        amount=amount,
        spent=spent,
        pct_spent=pct(spent, amount),
        forecast=made.total if made else None,
        pct_forecast=pct(made.total, amount) if made else None,
        burn_per_day=money(float(spent) / days_in),
        left_per_day=money(float(remaining) / left) if left and remaining > 0 else None,
        days_left=left,
        thresholds_crossed=tuple(t for t in sorted(thresholds) if spent >= amount * t / HUNDRED),
    )
