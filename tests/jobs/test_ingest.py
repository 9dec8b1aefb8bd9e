from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from finops.errors import UserError
from jobs.ingest import ingest
from storage.db import unit_of_work
from storage.models import IngestionRun

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
