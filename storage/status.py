"""What `/finops status` reports: data freshness per source, the latest job runs, open anomalies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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


@dataclass(frozen=True)
class Status:
    sources: list[SourceFreshness]
    jobs: list[JobRun]
    open_anomalies: dict[str, int]  # by severity


async def _pairs(session: AsyncSession, statement: Any) -> dict[Any, Any]:
    """The (key, value) rows of `statement` as a dict."""
    return {key: value for key, value in (await session.execute(statement)).tuples()}


async def _sources(session: AsyncSession) -> list[SourceFreshness]:
    loaded = await _pairs(
        session,
        select(IngestionRun.source, func.max(IngestionRun.finished_at))
        .where(IngestionRun.status.in_(("succeeded", "superseded")))
        .group_by(IngestionRun.source),
    )
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
            run = await session.get(IngestionRun, failed[source])
            last = loaded.get(source)
            if run is not None and (last is None or run.started_at > last):
                error = run.error
        found.append(SourceFreshness(source, loaded.get(source), until.get(source), error))
    return found


async def status(session: AsyncSession) -> Status:
    counts = await _pairs(
        session,
        select(Anomaly.severity, func.count())
        .where(Anomaly.status == "open", Anomaly.group_fingerprint.is_(None))
        .group_by(Anomaly.severity),
    )
    open_anomalies = {s: counts[s] for s in reversed(SEVERITIES) if counts.get(s)}
    return Status(await _sources(session), await jobruns.latest(session), open_anomalies)
