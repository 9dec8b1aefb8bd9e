from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from finops.errors import UserError
from jobs.ingest import ingest
from storage.db import unit_of_work
from storage.models import CostHourly, CostResource, IngestionRun

HEADER = "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ProviderName,BilledCost\n"


async def _runs(engine: AsyncEngine) -> list[tuple[str, str | None]]:
    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(IngestionRun.status, IngestionRun.error).order_by(IngestionRun.id)
        )
        return [(status, error) for status, error in rows.tuples()]


async def test_scheduled_failure_is_recorded_and_the_next_run_retries(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    bill = tmp_path / "bill.csv"
    bill.write_text(HEADER + "a,USD,2026-10-01,2026-10-03,AWS,12.5x\n")
    with pytest.raises(UserError, match=r"'12\.5x' is not a number"):
        await ingest(engine, str(bill), record_failures=True)
    [(status, error)] = await _runs(engine)
    assert status == "failed"
    assert error is not None and "row 1, column BilledCost" in error

    bill.write_text(HEADER + "a,USD,2026-10-01,2026-10-03,AWS,12.5\n")  # the provider fixes the file
    result = await ingest(engine, str(bill), record_failures=True)
    assert result.load.rows_stored == 1
    assert [status for status, _ in await _runs(engine)] == ["failed", "succeeded"]


async def test_interactive_failure_is_not_recorded(engine: AsyncEngine, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        await ingest(engine, str(tmp_path / "missing.csv"))
    assert await _runs(engine) == []
    with pytest.raises(UserError, match="does not exist"):
        await ingest(engine, str(tmp_path / "missing.csv"), record_failures=True)
    assert [status for status, _ in await _runs(engine)] == ["failed"]


HOURLY_HEADER = (
    "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,"
    "ProviderName,ServiceName,BilledCost,Tags\n"
)


def _hourly_rows(day: str, hours: range, cost: str, service: str = "Amazon EC2") -> str:
    return "".join(
        f'a,USD,2026-10-01,{day}T{h:02d}:00:00Z,{day}T{h + 1:02d}:00:00Z,AWS,{service},{cost},"{{""team"":""data""}}"\n'
        if h < 23
        else f"a,USD,2026-10-01,{day}T23:00:00Z,{day}T23:59:59Z,AWS,{service},{cost},{{}}\n"
        for h in hours
    )


async def _hourly(engine: AsyncEngine) -> list[tuple[str, str | None, str | None, Decimal]]:
    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(
                CostHourly.usage_hour, CostHourly.service, CostHourly.team, CostHourly.billed_cost
            ).order_by(CostHourly.usage_hour, CostHourly.service)
        )
        return [(hour.strftime("%dT%H"), service, team, cost) for hour, service, team, cost in rows.tuples()]


async def test_hourly_line_items_are_kept_by_the_hour_and_replaced_with_their_period(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    bill = tmp_path / "bill.csv"
    # Two line items in the same hour add up; the 23:00 item is not a whole hour: daily only.
    bill.write_text(
        HOURLY_HEADER
        + _hourly_rows("2026-10-02", range(9, 11), "1.5")
        + _hourly_rows("2026-10-02", range(9, 10), "2")
        + _hourly_rows("2026-10-02", range(23, 24), "7")
    )
    result = await ingest(engine, str(bill))
    assert result.load.rows_stored > 0
    assert await _hourly(engine) == [
        ("02T09", "Amazon EC2", "data", Decimal("3.5")),
        ("02T10", "Amazon EC2", "data", Decimal("1.5")),
    ]
    # The provider re-delivers the period: the hours it no longer has are gone, none doubled.
    bill.write_text(HOURLY_HEADER + _hourly_rows("2026-10-02", range(10, 12), "4"))
    await ingest(engine, str(bill))
    assert await _hourly(engine) == [
        ("02T10", "Amazon EC2", "data", Decimal("4")),
        ("02T11", "Amazon EC2", "data", Decimal("4")),
    ]


async def test_daily_exports_store_no_hourly_rows(engine: AsyncEngine, tmp_path: Path) -> None:
    bill = tmp_path / "bill.csv"
    bill.write_text(HEADER + "a,USD,2026-10-01,2026-10-03,AWS,12.5\n")
    await ingest(engine, str(bill))
    assert await _hourly(engine) == []


RESOURCE_HEADER = (
    "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ProviderName,ServiceName,"
    "ResourceId,BilledCost,Tags\n"
)


async def _resources(engine: AsyncEngine) -> list[tuple[str, str, Decimal]]:
    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(
                CostResource.billing_period_start,
                CostResource.resource_id,
                func.sum(CostResource.billed_cost),
            )
            .group_by(CostResource.billing_period_start, CostResource.resource_id)
            .order_by(CostResource.billing_period_start, CostResource.resource_id)
        )
        return [(period.strftime("%Y-%m"), resource, cost) for period, resource, cost in rows.tuples()]


async def test_resources_are_stored_and_a_redelivered_period_replaces_them(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    owned = '"{""owner"":""ann""}"'
    bill = tmp_path / "bill.csv"
    bill.write_text(
        RESOURCE_HEADER
        + f"a,USD,2026-10-01,2026-10-03,AWS,EC2,i-1,10.5,{owned}\n"
        + "a,USD,2026-10-01,2026-10-04,AWS,EC2,i-1,2,{}\n"
        + "a,USD,2026-10-01,2026-10-04,AWS,S3,b-1,4,{}\n"
        + "a,USD,2026-10-01,2026-10-04,AWS,Support,,99,{}\n"  # no ResourceId: daily only
        + "a,USD,2026-09-01,2026-09-30,AWS,EC2,i-1,1,{}\n"
    )
    await ingest(engine, str(bill))
    assert await _resources(engine) == [
        ("2026-09", "i-1", Decimal("1")),
        ("2026-10", "b-1", Decimal("4")),
        ("2026-10", "i-1", Decimal("12.5")),
    ]
    # October is re-delivered (September is not in the new file): October's resources are
    # replaced, never added to, and September's stay.
    bill.write_text(
        RESOURCE_HEADER
        + f"a,USD,2026-10-01,2026-10-03,AWS,EC2,i-1,11,{owned}\n"
        + "a,USD,2026-10-01,2026-10-05,AWS,EC2,i-2,3,{}\n"
    )
    await ingest(engine, str(bill))
    assert await _resources(engine) == [
        ("2026-09", "i-1", Decimal("1")),
        ("2026-10", "i-1", Decimal("11")),
        ("2026-10", "i-2", Decimal("3")),
    ]
    await ingest(engine, str(bill))  # the same file again: a no-op
    assert len(await _resources(engine)) == 3
