"""Writing and summarising `cost_daily`.

`replace_costs` is restatement-safe: for every (source, billing account, billing period) in the
new data it deletes what an earlier load stored (daily, hourly and per-resource rows) and inserts
the new rows, in the caller's transaction, so a failure leaves the previous data in place and a
re-delivery never double counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from finops.normalise import RawTotal
from finops.reconcile import GroupKey
from storage.models import CostDaily, CostHourly, CostResource, IngestionRun
from storage.partitions import ensure_partitions
from storage.types import utcnow

INSERT_BATCH = 5_000
HOURLY_RETENTION_DAYS = 35  # hourly rows serve detection: a load keeps its last five weeks
# Core inserts (executemany), not ORM bulk persistence: many times faster for fact rows.
COST_DAILY: Table = CostDaily.__table__  # type: ignore[assignment]
COST_HOURLY: Table = CostHourly.__table__  # type: ignore[assignment]
COST_RESOURCES: Table = CostResource.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class LoadResult:
    skipped: bool
    runs: int
    rows_stored: int
    rows_replaced: int


@dataclass(frozen=True)
class ProviderTotal:
    provider: str
    currency: str
    rows: int
    first_day: date
    last_day: date
    billed_cost: Decimal


async def already_loaded(session: AsyncSession, source: str, fingerprint: str) -> bool:
    found = await session.scalar(
        select(func.count())
        .select_from(IngestionRun)
        .where(
            IngestionRun.source == source,
            IngestionRun.fingerprint == fingerprint,
            IngestionRun.status == "succeeded",
        )
    )
    return bool(found)


async def replace_costs(
    session: AsyncSession,
    *,
    source: str,
    fmt: str,
    fingerprint: str,
    location: str | None,
    daily: pd.DataFrame,
    raw: Sequence[RawTotal],
    hourly: pd.DataFrame | None = None,
    resources: pd.DataFrame | None = None,
    arrived_at: datetime | None = None,
) -> LoadResult:
    """Replace the stored rows of every scope in `raw` with `daily` (from `finops.normalise.rollup`),
    for hourly exports `hourly` (`finops.normalise.finish_hourly`), and for line items with a
    ResourceId `resources` (`finops.normalise.finish_resources`)."""
    if await already_loaded(session, source, fingerprint):
        return LoadResult(skipped=True, runs=0, rows_stored=0, rows_replaced=0)
    replaced = 0
    for account, period in sorted({(t.billing_account, t.billing_period_start) for t in raw}):
        replaced += await _delete_scope(session, source, account, period)
    runs: dict[tuple[str, str, date, str], IngestionRun] = {}
    for total in raw:
        run = IngestionRun(
            source=source,
            format=fmt,
            provider=total.provider,
            billing_account=total.billing_account,
            billing_period_start=total.billing_period_start,
            currency=total.currency,
            fingerprint=fingerprint,
            status="succeeded",
            location=location,
            rows_read=total.rows,
            raw_billed_cost=total.billed_cost,
            raw_effective_cost=total.effective_cost,
            raw_list_cost=total.list_cost,
            finished_at=utcnow(),
            arrived_at=arrived_at,
        )
        session.add(run)
        runs[(total.provider, total.billing_account, total.billing_period_start, total.currency)] = run
    await session.flush()  # the runs get their ids
    run_ids = {key: run.id for key, run in runs.items()}
    rows = _cost_rows(source, daily, run_ids) if len(daily) else []
    await ensure_partitions(session, {row["usage_date"] for row in rows})
    await _insert(session, COST_DAILY, rows)
    if hourly is not None and len(hourly):
        latest = max(hourly["usage_hour"])
        since = latest - timedelta(days=HOURLY_RETENTION_DAYS)
        await _insert(session, COST_HOURLY, _cost_rows(source, hourly[hourly["usage_hour"] > since], run_ids))
        await session.execute(
            delete(CostHourly).where(CostHourly.source == source, CostHourly.usage_hour <= since)
        )
    if resources is not None and len(resources):
        await _insert(session, COST_RESOURCES, _cost_rows(source, resources, run_ids))
    stored = Counter(row["run_id"] for row in rows)
    for run in runs.values():
        run.rows_stored = stored[run.id]
    return LoadResult(skipped=False, runs=len(runs), rows_stored=len(rows), rows_replaced=replaced)


async def _insert(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        await session.execute(insert(table), rows[start : start + INSERT_BATCH])


async def _delete_scope(session: AsyncSession, source: str, account: str, period: date) -> int:
    for table in (CostHourly, CostResource):
        await session.execute(
            delete(table).where(
                table.source == source,
                table.billing_account == account,
                table.billing_period_start == period,
            )
        )
    result = await session.execute(
        delete(CostDaily).where(
            CostDaily.source == source,
            CostDaily.billing_account == account,
            CostDaily.billing_period_start == period,
        )
    )
    await session.execute(
        update(IngestionRun)
        .where(
            IngestionRun.source == source,
            IngestionRun.billing_account == account,
            IngestionRun.billing_period_start == period,
            IngestionRun.status == "succeeded",
        )
        .values(status="superseded")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _cost_rows(
    source: str, daily: pd.DataFrame, run_ids: dict[tuple[str, str, date, str], int]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seq: dict[int, int] = {}
    for record in daily.to_dict("records"):
        key = (
            record["provider"],
            record["billing_account"],
            record["billing_period_start"],
            record["currency"],
        )
        run_id = run_ids[key]
        seq[run_id] = seq.get(run_id, 0) + 1
        rows.append({**record, "source": source, "run_id": run_id, "seq": seq[run_id]})
    return rows


async def provider_totals(session: AsyncSession) -> list[ProviderTotal]:
    """Stored spend per provider and currency, with the charge days it covers."""
    query = (
        select(
            CostDaily.provider,
            CostDaily.currency,
            func.count(),
            func.min(CostDaily.usage_date),
            func.max(CostDaily.usage_date),
            func.sum(CostDaily.billed_cost),
        )
        .group_by(CostDaily.provider, CostDaily.currency)
        .order_by(CostDaily.provider, CostDaily.currency)
    )
    return [
        ProviderTotal(
            provider=provider,
            currency=currency,
            rows=rows,
            first_day=first,
            last_day=last,
            billed_cost=total,
        )
        for provider, currency, rows, first, last, total in (await session.execute(query)).all()
    ]


async def stored_totals(session: AsyncSession, period: date | None = None) -> dict[GroupKey, Decimal]:
    """Stored BilledCost per provider x billing account x billing period x currency."""
    key = (CostDaily.provider, CostDaily.billing_account, CostDaily.billing_period_start, CostDaily.currency)
    query = select(*key, func.sum(CostDaily.billed_cost)).group_by(*key)
    if period is not None:
        query = query.where(CostDaily.billing_period_start == period)
    return {(p, a, s, c): total for p, a, s, c, total in (await session.execute(query)).tuples()}


async def source_totals(session: AsyncSession, period: date | None = None) -> dict[GroupKey, Decimal]:
    """The raw BilledCost the source files showed, for the loads that are current."""
    key = (
        IngestionRun.provider,
        IngestionRun.billing_account,
        IngestionRun.billing_period_start,
        IngestionRun.currency,
    )
    query = (
        select(*key, func.sum(IngestionRun.raw_billed_cost))
        .where(IngestionRun.status == "succeeded")
        .group_by(*key)
    )
    if period is not None:
        query = query.where(IngestionRun.billing_period_start == period)
    rows = (await session.execute(query)).tuples()
    return {
        (p, a, s, c): total
        for p, a, s, c, total in rows
        if total is not None and p is not None and a is not None and s is not None and c is not None
    }


async def record_failed_run(
    session: AsyncSession, *, source: str, fmt: str, fingerprint: str, location: str, error: str
) -> None:
    """Note a load that failed: shown by status reports; the same files are tried again next run."""
    now = utcnow()
    session.add(
        IngestionRun(
            source=source,
            format=fmt,
            fingerprint=fingerprint,
            status="failed",
            location=location,
            error=error,
            started_at=now,
            finished_at=now,
        )
    )
