from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from finops import normalise
from storage.costs import HOURLY_RETENTION_DAYS, LoadResult, provider_totals, replace_costs
from storage.db import unit_of_work
from storage.models import CostDaily, CostHourly, IngestionRun
from tests.factories import frame, item
from tests.factories import load as _load


async def _stored(engine: AsyncEngine) -> dict[date, Decimal]:
    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(CostDaily.billing_period_start, func.sum(CostDaily.billed_cost))
            .group_by(CostDaily.billing_period_start)
            .order_by(CostDaily.billing_period_start)
        )
        return dict(rows.tuples().all())


FEB_MAR = frame(
    item("2026-02-27", "10.000001"),
    item("2026-02-28", "20"),
    item("2026-03-01", "1.25", tags={"Team": "data"}),
    item("2026-03-01", "1.25", tags={"Team": "web"}),
)


async def test_load_stores_rolled_up_rows_and_runs(engine: AsyncEngine) -> None:
    result = await _load(engine, FEB_MAR)
    assert result == LoadResult(skipped=False, runs=2, rows_stored=4, rows_replaced=0)
    assert await _stored(engine) == {date(2026, 2, 1): Decimal("30.000001"), date(2026, 3, 1): Decimal("2.5")}
    async with unit_of_work(engine) as session:
        runs = (await session.scalars(select(IngestionRun).order_by(IngestionRun.billing_period_start))).all()
    assert [(r.status, r.rows_read, r.rows_stored, r.raw_billed_cost) for r in runs] == [
        ("succeeded", 2, 2, Decimal("30.000001")),
        ("succeeded", 2, 2, Decimal("2.5")),
    ]


async def test_same_data_twice_is_a_no_op(engine: AsyncEngine) -> None:
    await _load(engine, FEB_MAR)
    again = await _load(engine, FEB_MAR)
    assert again.skipped
    assert await _stored(engine) == {date(2026, 2, 1): Decimal("30.000001"), date(2026, 3, 1): Decimal("2.5")}


async def test_restated_period_replaces_and_leaves_other_periods(engine: AsyncEngine) -> None:
    await _load(engine, FEB_MAR)
    restated_march = frame(item("2026-03-01", "3"), item("2026-03-02", "4"))
    result = await _load(engine, restated_march)
    assert result.rows_replaced == 2
    assert await _stored(engine) == {date(2026, 2, 1): Decimal("30.000001"), date(2026, 3, 1): Decimal("7")}
    async with unit_of_work(engine) as session:
        statuses = (
            await session.execute(
                select(IngestionRun.billing_period_start, IngestionRun.status).order_by(IngestionRun.id)
            )
        ).all()
    assert statuses == [
        (date(2026, 2, 1), "succeeded"),
        (date(2026, 3, 1), "superseded"),
        (date(2026, 3, 1), "succeeded"),
    ]


async def test_other_sources_and_accounts_are_not_touched(engine: AsyncEngine) -> None:
    await _load(engine, FEB_MAR)
    await _load(engine, frame(item("2026-03-01", "100")), source="s3://bills/other")
    await _load(engine, frame(item("2026-03-01", "1000", account="999999999999")))
    assert await _stored(engine) == {
        date(2026, 2, 1): Decimal("30.000001"),
        date(2026, 3, 1): Decimal("1102.5"),
    }


async def test_failed_load_leaves_previous_data(engine: AsyncEngine) -> None:
    await _load(engine, FEB_MAR)
    broken = frame(item("2026-03-01", "5"))
    daily = normalise.rollup(broken)
    daily.loc[0, "currency"] = "EURO"  # no run for this key: the load fails after deleting
    with pytest.raises(KeyError):
        async with unit_of_work(engine) as session:
            await replace_costs(
                session,
                source="s3://bills/aws",
                fmt="focus",
                fingerprint="broken",
                location=None,
                daily=daily,
                raw=normalise.raw_totals(broken),
            )
    assert await _stored(engine) == {date(2026, 2, 1): Decimal("30.000001"), date(2026, 3, 1): Decimal("2.5")}


async def test_provider_totals(engine: AsyncEngine) -> None:
    await _load(engine, FEB_MAR)
    await _load(engine, frame(item("2026-03-05", "9.99", provider="Microsoft", account="ea", currency="EUR")))
    async with unit_of_work(engine) as session:
        totals = await provider_totals(session)
    assert [(t.provider, t.currency, t.rows, t.first_day, t.last_day, t.billed_cost) for t in totals] == [
        ("aws", "USD", 4, date(2026, 2, 27), date(2026, 3, 1), Decimal("32.500001")),
        ("azure", "EUR", 1, date(2026, 3, 5), date(2026, 3, 5), Decimal("9.99")),
    ]


async def test_rows_land_in_monthly_partitions_on_postgres(engine: AsyncEngine) -> None:
    await _load(engine, FEB_MAR)
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as conn:
        per_partition = (
            await conn.execute(
                text("SELECT tableoid::regclass::text, count(*) FROM cost_daily GROUP BY 1 ORDER BY 1")
            )
        ).all()
    assert per_partition == [("cost_daily_p202602", 2), ("cost_daily_p202603", 2)]


async def test_hourly_rows_keep_only_the_recent_weeks(engine: AsyncEngine) -> None:
    # One hour a day from 2026-01-01 to 2026-02-14: 45 days of hourly line items.
    days = pd.date_range("2026-01-01 10:00", "2026-02-14 10:00", freq="D")
    items = frame(*(item(str(day), "2", hours=1) for day in days))
    await _load(engine, items)
    async with unit_of_work(engine) as session:
        kept = (await session.execute(select(func.min(CostHourly.usage_hour), func.count()))).one()
        daily = await session.scalar(select(func.count()).select_from(CostDaily))
    first, count = kept
    assert (first.isoformat(), count) == ("2026-01-11T10:00:00+00:00", HOURLY_RETENTION_DAYS)
    assert daily == len(days)  # the daily roll-up keeps everything
