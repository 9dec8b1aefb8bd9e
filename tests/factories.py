"""Small tables of FOCUS line items for tests."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy.ext.asyncio import AsyncEngine

from finops import focus, lineitems, normalise
from storage.costs import LoadResult, replace_costs
from storage.db import connect, unit_of_work
from storage.migrate import upgrade


def item(
    day: str,
    billed: str,
    *,
    provider: str = "AWS",
    account: str = "111111111111",
    service: str = "Amazon Elastic Compute Cloud",
    region: str | None = "us-east-1",
    currency: str = "USD",
    tags: dict[str, str] | None = None,
    category: str = "Usage",
    effective: str | None = None,
    list_cost: str | None = None,
    hours: int = 24,
    resource: str | None = None,
) -> dict[str, Any]:
    start = pd.Timestamp(day, tz="UTC")  # a day, or a day and hour ("2026-03-01 09:00")
    period = start.normalize().replace(day=1)
    return {
        focus.BILLING_ACCOUNT_ID: account,
        focus.BILLING_CURRENCY: currency,
        focus.BILLING_PERIOD_START: period,
        focus.BILLING_PERIOD_END: period + pd.offsets.MonthBegin(1),
        focus.CHARGE_PERIOD_START: start,
        focus.CHARGE_PERIOD_END: start + pd.Timedelta(hours=hours),
        focus.CHARGE_CATEGORY: category,
        focus.PROVIDER_NAME: provider,
        focus.SUB_ACCOUNT_ID: "222222222222",
        focus.SERVICE_NAME: service,
        focus.SERVICE_CATEGORY: "Compute",
        focus.REGION_ID: region,
        focus.RESOURCE_ID: resource,
        focus.BILLED_COST: Decimal(billed),
        focus.EFFECTIVE_COST: Decimal(effective if effective is not None else billed),
        focus.LIST_COST: Decimal(list_cost if list_cost is not None else billed),
        focus.TAGS: json.dumps(tags or {}),
    }


def frame(*items: dict[str, Any]) -> pa.Table:
    """Line items as a connector yields them: a conformed Arrow table."""
    return lineitems.from_frame(pd.DataFrame(list(items)))


async def load(engine: AsyncEngine, items: pa.Table, source: str = "s3://bills/aws") -> LoadResult:
    """Store line items as an ingestion of `source` would (its periods replace earlier loads)."""
    _, hourly, resources = normalise.partials(items)
    async with unit_of_work(engine) as session:
        return await replace_costs(
            session,
            source=source,
            fmt="focus",
            fingerprint=normalise.fingerprint(items),
            location=source,
            daily=normalise.rollup(items),
            hourly=None if hourly is None else normalise.finish_hourly(hourly),
            resources=None if resources is None else normalise.finish_resources(resources),
            raw=normalise.raw_totals(items),
        )


def store(database_url: str, *items: dict[str, Any]) -> None:
    """Migrate the database at `database_url` and load `items` into it (for CLI tests, which run
    outside an event loop)."""

    async def run() -> None:
        engine = connect(database_url)
        try:
            await upgrade(engine)
            await load(engine, frame(*items))
        finally:
            await engine.dispose()

    asyncio.run(run())
