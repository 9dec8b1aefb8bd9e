"""Forecasts per scope from the store: the month or quarter holding `as_of`, to its end."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from finops import forecast
from finops.anomaly.detect import Series
from storage import series as cost_series
from storage.db import unit_of_work


@dataclass(frozen=True)
class ScopeForecast:
    scope: dict[str, str]
    currency: str
    forecast: forecast.Forecast


def _all(series: Sequence[Series], period: forecast.Period) -> list[ScopeForecast]:
    found = []
    for one in series:
        made = forecast.forecast(one.values, one.first_day, period)
        if made is not None:
            found.append(ScopeForecast(dict(one.scope), one.currency, made))
    return found


async def forecasts(
    engine: AsyncEngine, as_of: date, dimensions: Sequence[str], period: forecast.Period
) -> list[ScopeForecast]:
    async with unit_of_work(engine) as session:
        latest = await cost_series.latest_days(session, as_of)
        series = await cost_series.daily_series(session, dimensions, as_of, latest)
    return await asyncio.to_thread(_all, series, period)
