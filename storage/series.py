"""Daily cost series summed in SQL: what detection and forecasts read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from finops.anomaly.detect import Series
from storage.models import CostDaily

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
        (await session.execute(query)).tuples().all(), columns=[*dimensions, "currency", "day", "cost"]
    )
    overall = max(latest.values())
    series = []
    for key, rows in frame.groupby([*dimensions, "currency"], sort=True):
        *values, currency = key
        scope = dict(zip(dimensions, map(str, values), strict=True))
        last = latest.get(scope["provider"], overall) if "provider" in scope else overall
        first = min(rows["day"])
        if first > last:
            continue
        daily = np.zeros((last - first).days + 1)
        for day, cost in zip(rows["day"], rows["cost"], strict=True):
            if day <= last:
                daily[(day - first).days] += float(cost)
        series.append(Series(scope, str(currency), first, daily))
    return series
