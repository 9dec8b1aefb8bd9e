"""Budget maths: where a budget stands in its period (spent, burn, forecast, thresholds), which
alerts are due, rollover, allocation under a parent, and exchange rates.

Pure functions over daily spend and plain values; storage and Slack are elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

import numpy as np

from finops import forecast
from finops.anomaly.detect import money
from finops.currency import CENT

BudgetPeriod = Literal["monthly", "quarterly", "yearly"]
PERIODS: dict[str, forecast.Period] = {"monthly": "month", "quarterly": "quarter", "yearly": "year"}
DEFAULT_THRESHOLDS = (50, 80, 100)
FORECAST_THRESHOLD = 100  # the forecast alert: the period's forecast crosses the amount
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class BudgetStatus:
    start: date
    end: date
    as_of: date  # the latest day with data counted
    amount: Decimal  # in force this period (rollover included)
    spent: Decimal
    pct_spent: Decimal
    forecast: Decimal | None  # for the whole period
    pct_forecast: Decimal | None
    burn_per_day: Decimal  # average so far
    left_per_day: Decimal | None  # what may still be spent per day to stay within the amount
    days_left: int
    thresholds_crossed: tuple[int, ...]
    carried: Decimal = Decimal(0)  # rolled over from the previous period (part of `amount`)

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


def previous_period(day: date, period: str) -> tuple[date, date]:
    """The budget period before the one holding `day`."""
    start, _ = period_bounds(day, period)
    return period_bounds(start - timedelta(days=1), period)


def months(period: str) -> int:
    return forecast.MONTHS[PERIODS[period]]


def evaluate(
    amount: Decimal,
    period: str,
    daily: Sequence[tuple[date, Decimal]],
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
    carried: Decimal = Decimal(0),
) -> BudgetStatus:
    """Where a budget of `amount` (plus `carried` from the last period) stands after `daily`
    (consecutive days of spend, ending on the latest day with data; earlier days than the period
    only feed the forecast)."""
    as_of = daily[-1][0]
    start, end = period_bounds(as_of, period)
    total = amount + carried
    spent = sum((cost for day, cost in daily if day >= start), Decimal(0))
    made = forecast.forecast(np.array([float(c) for _, c in daily]), daily[0][0], PERIODS[period])
    days_in = (as_of - start).days + 1
    left = (end - as_of).days
    remaining = total - spent
    return BudgetStatus(
        start=start,
        end=end,
        as_of=as_of,
        amount=total,
        spent=spent,
        pct_spent=pct(spent, total),
        forecast=made.total if made else None,
        pct_forecast=pct(made.total, total) if made else None,
        burn_per_day=money(float(spent) / days_in),
        left_per_day=money(float(remaining) / left) if left and remaining > 0 else None,
        days_left=left,
        thresholds_crossed=tuple(t for t in sorted(thresholds) if spent >= total * t / HUNDRED),
        carried=carried,
    )


def carried_over(amount: Decimal, previous_spent: Decimal, cap: Decimal | None) -> Decimal:
    """What rolls into the next period: the part of last period's `amount` left unspent, at most
    `cap` (default: the amount itself). What was carried into last period does not carry again."""
    unused = max(amount - previous_spent, Decimal(0))
    return min(unused, amount if cap is None else cap)


Alert = tuple[str, int]  # (kind: "actual" | "forecast", threshold %)


def alerts_due(
    status: BudgetStatus, forecast_alert: bool, sent: Iterable[Alert]
) -> tuple[list[Alert], list[Alert]]:
    """Which alerts the status calls for that were not `sent` this period: (to post, to record
    without a post). Of the actual thresholds crossed at once only the highest is posted; the
    forecast alert is posted only while the actual spend is still under the amount."""
    done = set(sent)
    new = [("actual", t) for t in status.thresholds_crossed if ("actual", t) not in done]
    post, record = new[-1:], new[:-1]
    if (
        forecast_alert
        and status.forecast is not None
        and status.forecast >= status.amount
        and ("forecast", FORECAST_THRESHOLD) not in done
    ):
        if status.spent >= status.amount:
            record.append(("forecast", FORECAST_THRESHOLD))  # the actual alert says more
        else:
            post.insert(0, ("forecast", FORECAST_THRESHOLD))
    return post, record


@dataclass(frozen=True)
class Allocation:
    parent_amount: Decimal  # per the parent's period
    allocated: Decimal  # to the other children, per the parent's period
    child: Decimal  # the child's amount per the parent's period

    @property
    def remaining(self) -> Decimal:
        return self.parent_amount - self.allocated

    @property
    def over(self) -> bool:
        return self.child > self.remaining


def per_period(amount: Decimal, period: str, to_period: str) -> Decimal:
    """`amount` a `period` expressed per `to_period` (a monthly 100 is a quarterly 300)."""
    return amount * months(to_period) / months(period)


def allocation(
    parent: tuple[Decimal, str],
    siblings: Iterable[tuple[Decimal, str]],
    child: tuple[Decimal, str],
) -> Allocation:
    """How a child's (amount, period) fits in what its parent has left after its other children
    (amounts in the parent's currency)."""
    amount, period = parent
    return Allocation(
        parent_amount=amount,
        allocated=sum((per_period(a, p, period) for a, p in siblings), Decimal(0)),
        child=per_period(child[0], child[1], period),
    )


@dataclass(frozen=True)
class Rate:
    currency: str
    to: str
    since: date
    rate: Decimal


@dataclass
class Rates:
    """A dated table of exchange rates: the rate on a day is the latest one given since then;
    either direction of a pair may be given (the other is its inverse)."""

    table: Sequence[Rate] = ()
    used: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # currency -> rates used
    missing: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount not converted

    def rate(self, currency: str, to: str, day: date) -> tuple[Decimal, date] | None:
        if currency == to:
            return Decimal(1), date.min
        best: tuple[Decimal, date] | None = None
        for r in self.table:
            if r.since > day:
                continue
            if (r.currency, r.to) == (currency, to):
                found = (r.rate, r.since)
            elif (r.currency, r.to) == (to, currency):
                found = (Decimal(1) / r.rate, r.since)
            else:
                continue
            if best is None or found[1] > best[1]:
                best = found
        return best

    def convert(self, value: Decimal, currency: str, to: str, day: date) -> Decimal | None:
        """`value` in `to`, at the rate in force on `day` (recorded in `used`); None (and the
        value kept in `missing`) when there is no rate."""
        if currency == to:
            return value
        found = self.rate(currency, to, day)
        if found is None:
            self.missing[currency] = self.missing.get(currency, Decimal(0)) + value
            return None
        rate, since = found
        entry = {"to": to, "rate": format(rate.normalize(), "f"), "since": since.isoformat()}
        known = self.used.setdefault(currency, [])
        if entry not in known:
            known.append(entry)
            known.sort(key=lambda e: e["since"])
        return value * rate


def in_currency(
    series: dict[str, list[tuple[date, Decimal]]], currency: str, rates: Rates
) -> list[tuple[date, Decimal]]:
    """Daily spend per currency as one series in `currency`, each day at that day's rate."""
    days: dict[date, Decimal] = {}
    for code, points in series.items():
        for day, cost in points:
            converted = rates.convert(cost, code, currency, day)
            days[day] = days.get(day, Decimal(0)) + (converted if converted is not None else Decimal(0))
    return sorted(days.items())


def _shown(rate: Decimal) -> str:
    """A rate for people: six decimals at most (an inverse rate has many more)."""
    return format(rate.quantize(Decimal("0.000001")).normalize(), "f")


def rates_note(
    used: dict[str, list[dict[str, str]]], missing: dict[str, Decimal], currency: str
) -> str | None:
    """What a report says about conversions: the rates used and what had none."""
    parts = [
        f"{code} converted to {currency} at "
        + ", ".join(f"{_shown(Decimal(r['rate']))} (since {r['since']})" for r in rates)
        for code, rates in sorted(used.items())
    ]
    parts += [
        f"{value.quantize(CENT):,} {code} not counted: no {code}→{currency} rate in the config"
        for code, value in sorted(missing.items())
    ]
    return "; ".join(parts) or None


@dataclass(frozen=True)
class Variance:
    name: str
    cost_center: str | None
    currency: str
    budget: Decimal
    actual: Decimal

    @property
    def variance(self) -> Decimal:
        """Under budget is positive."""
        return self.budget - self.actual

    @property
    def variance_pct(self) -> Decimal | None:
        return pct(self.variance, self.budget) if self.budget else None
