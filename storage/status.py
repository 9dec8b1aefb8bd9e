"""What `/finops status` reports: data freshness per source, the latest job runs, open anomalies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from finops.anomaly.detect import SEVERITIES
from storage import jobruns
from storage.models import Anomaly, CostDaily, IngestionRun, JobRun


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    last_loaded: datetime | None  # the latest successful load
    data_until: date | None  # the latest charge day stored
    last_error: str | None  # the latest failure, when it is newer than the latest success
    provider: str | None = None  # of the latest successful load
    arrival_to_queryable: timedelta | None = None  # of the latest load: newest file in -> data stored


@dataclass(frozen=True)
class Status:
    sources: list[SourceFreshness]
    jobs: list[JobRun]
    open_anomalies: dict[str, int]  # by severity


async def _pairs(session: AsyncSession, statement: Any) -> dict[Any, Any]:
    """The (key, value) rows of `statement` as a dict."""
    return {key: value for key, value in (await session.execute(statement)).tuples()}


async def _sources(session: AsyncSession) -> list[SourceFreshness]:
    latest_ids = await _pairs(
        session,
        select(IngestionRun.source, func.max(IngestionRun.id))
        .where(IngestionRun.status.in_(("succeeded", "superseded")))
        .group_by(IngestionRun.source),
    )
    latest = {
        run.source: run
        for run in await session.scalars(select(IngestionRun).where(IngestionRun.id.in_(latest_ids.values())))
    }
    loaded = {source: run.finished_at for source, run in latest.items()}
    failed = await _pairs(
        session,
        select(IngestionRun.source, func.max(IngestionRun.id))
        .where(IngestionRun.status == "failed")
        .group_by(IngestionRun.source),
    )
    until = await _pairs(
        session,
        select(CostDaily.source, func.max(CostDaily.usage_date)).group_by(CostDaily.source),
    )
    found = []
    for source in sorted(set(loaded) | set(failed) | set(until)):
        error = None
        if source in failed:
            failure = await session.get(IngestionRun, failed[source])
            last = loaded.get(source)
            if failure is not None and (last is None or failure.started_at > last):
                error = failure.error
        run = latest.get(source)
        took = (
            run.finished_at - run.arrived_at
            if run is not None and run.finished_at is not None and run.arrived_at is not None
            else None
        )
        provider = run.provider if run is not None else None
        found.append(SourceFreshness(source, loaded.get(source), until.get(source), error, provider, took))
    return found


async def open_anomalies(session: AsyncSession) -> dict[str, int]:
    """Open anomalies (group representatives) by severity, worst first."""
    counts = await _pairs(
        session,
        select(Anomaly.severity, func.count())
        .where(Anomaly.status == "open", Anomaly.group_fingerprint.is_(None))
        .group_by(Anomaly.severity),
    )
    return {s: counts[s] for s in reversed(SEVERITIES) if counts.get(s)}


async def status(session: AsyncSession) -> Status:
    return Status(await _sources(session), await jobruns.latest(session), await open_anomalies(session))
