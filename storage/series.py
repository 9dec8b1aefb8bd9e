"""Daily and hourly cost series summed in SQL: what detection and forecasts read."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from finops.anomaly.detect import Series
from finops.anomaly.hourly import HourlySeries
from storage.models import HOURLY_DIMENSIONS, CostDaily, CostHourly

HOUR = timedelta(hours=1)
HISTORY_DAYS = 120  # the baseline's 12 weeks, and a whole quarter for forecasts


def column(dimension: str) -> Any:
    return getattr(CostDaily, dimension)


async def latest_days(session: AsyncSession, as_of: date) -> dict[str, date]:
    """The latest day with data per provider, up to `as_of`."""
    rows = await session.execute(
        select(CostDaily.provider, func.max(CostDaily.usage_date))
        .where(CostDaily.usage_date <= as_of)
        .group_by(CostDaily.provider)
    )
    return {provider: last for provider, last in rows.tuples()}


async def daily_series(
    session: AsyncSession, dimensions: Sequence[str], as_of: date, latest: Mapping[str, date]
) -> list[Series]:
    """Daily BilledCost per value of `dimensions` and currency, summed in SQL, up to the latest
    day with data (per provider when the scope has one), missing days as zero."""
    if not latest:
        return []
    columns = [column(d) for d in dimensions]
    since = as_of - timedelta(days=HISTORY_DAYS)
    query = (
        select(*columns, CostDaily.currency, CostDaily.usage_date, func.sum(CostDaily.billed_cost))
        .where(
            CostDaily.usage_date > since, CostDaily.usage_date <= as_of, *(c.is_not(None) for c in columns)
        )
        .group_by(*columns, CostDaily.currency, CostDaily.usage_date)
    )
    frame = pd.DataFrame(
        (await session.execute(query)).tuples().all(), columns=[*dimensions, "currency", "at", "cost"]
    )
    return [
        Series(scope, currency, first, values)
        for scope, currency, first, values in _filled(frame, dimensions, latest, lambda a, b: (a - b).days)
    ]


def _filled(
    frame: pd.DataFrame,
    dimensions: Sequence[str],
    latest: Mapping[str, Any],
    steps: Callable[[Any, Any], int],
) -> Iterator[tuple[dict[str, str], str, Any, np.ndarray]]:
    """Per scope and currency in `frame` (`at`, `cost`): its first time and its costs from then
    to its latest time (its provider's, when the scope has one), `steps(b, a)` apart, gaps as zero."""
    overall = max(latest.values())
    for key, rows in frame.groupby([*dimensions, "currency"], sort=True):
        *values, currency = key
        scope = dict(zip(dimensions, map(str, values), strict=True))
        last = latest.get(scope["provider"], overall) if "provider" in scope else overall
        first = min(rows["at"])
        if first > last:
            continue
        filled = np.zeros(steps(last, first) + 1)
        for at, cost in zip(rows["at"], rows["cost"], strict=True):
            if at <= last:
                filled[steps(at, first)] += float(cost)
        yield scope, str(currency), first, filled


HOURLY_HISTORY_DAYS = 28  # the hourly baseline's days (cost_hourly keeps a little more)


def hourly_column(dimension: str) -> Any:
    return getattr(CostHourly, dimension)


def _hourly_window(as_of: date) -> tuple[Any, Any]:
    end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    since = end - timedelta(days=HOURLY_HISTORY_DAYS + 1)
    return CostHourly.usage_hour >= since, CostHourly.usage_hour < end


async def latest_hours(session: AsyncSession, as_of: date) -> dict[str, datetime]:
    """The latest hour with hourly data per provider, up to the end of `as_of`."""
    rows = await session.execute(
        select(CostHourly.provider, func.max(CostHourly.usage_hour))
        .where(*_hourly_window(as_of))
        .group_by(CostHourly.provider)
    )
    return {provider: last for provider, last in rows.tuples()}


async def hourly_series(
    session: AsyncSession, dimensions: Sequence[str], as_of: date, latest: Mapping[str, datetime]
) -> list[HourlySeries]:
    """Hourly BilledCost per value of `dimensions` and currency, from the exports that charge by
    the hour, up to the end of `as_of` and the latest hour with data (per provider when the scope
    has one), missing hours as zero. Empty when a dimension is not kept by the hour."""
    if not latest or not set(dimensions) <= set(HOURLY_DIMENSIONS):
        return []
    columns = [hourly_column(d) for d in dimensions]
    query = (
        select(*columns, CostHourly.currency, CostHourly.usage_hour, func.sum(CostHourly.billed_cost))
        .where(*_hourly_window(as_of), *(c.is_not(None) for c in columns))
        .group_by(*columns, CostHourly.currency, CostHourly.usage_hour)
    )
    frame = pd.DataFrame(
        (await session.execute(query)).tuples().all(), columns=[*dimensions, "currency", "at", "cost"]
    )
    return [
        HourlySeries(scope, currency, first, values)
        for scope, currency, first, values in _filled(
            frame, dimensions, latest, lambda a, b: int((a - b) / HOUR)
        )
    ]
