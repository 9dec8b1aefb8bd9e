"""Detection run: series from the store -> findings -> root cause -> grouping -> anomalies.

Daily series always; hourly series too where exports charge by the hour (`cost_hourly`), so a
spike is caught within its day.

`detect(engine, as_of)` behaves as the scheduled run on that day would: it reads only costs
charged up to `as_of`. The model fitting runs in a worker thread, or in worker processes when
there are many series, never on the event loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Detection
from finops.anomaly import detect as detection
from finops.anomaly import group, rootcause
from finops.anomaly.detect import Finding, Override, Rules, Series, Thresholds
from finops.anomaly.hourly import HourlySeries, detect_hourly
from storage import anomalies, jobruns
from storage import series as cost_series
from storage.db import unit_of_work

# Fitting 10,000 series takes about a minute of one core: past this many, the fits are split over
# worker processes (a thread would share one core with the event loop and the GIL).
PARALLEL_FROM = 2_000
WORKERS = min(os.cpu_count() or 1, 4)


@dataclass(frozen=True)
class DetectionRun:
    as_of: date
    series: int
    anomalies: list[dict[str, Any]]  # representatives, as `storage.anomalies.seen`
    new: list[str]  # fingerprints of the anomalies first seen in this run


def rules(config: Detection) -> Rules:
    default = Thresholds(min_impact=config.min_impact, min_pct=config.min_pct, z=config.z)
    overrides = [
        Override(
            o.scope,
            Thresholds(
                min_impact=default.min_impact if o.min_impact is None else o.min_impact,
                min_pct=default.min_pct if o.min_pct is None else o.min_pct,
                z=default.z if o.z is None else o.z,
            ),
        )
        for o in config.overrides
    ]
    return Rules(default, overrides)


def _daily(series: Sequence[Series], rules: Rules) -> list[Finding]:
    return [f for f in (detection.detect(one, rules) for one in series) if f is not None]


def _hourly(series: Sequence[HourlySeries], rules: Rules) -> list[Finding]:
    return [f for f in (detect_hourly(one, rules) for one in series) if f is not None]


def merge(daily: Sequence[Finding], hourly: Sequence[Finding]) -> list[Finding]:
    """All findings, largest impact first. A scope's daily finding wins over its hourly one (the
    same anomaly, seen over a whole day)."""
    seen = {(tuple(sorted(f.scope.items())), f.currency) for f in daily}
    by_hour = [f for f in hourly if (tuple(sorted(f.scope.items())), f.currency) not in seen]
    return sorted([*daily, *by_hour], key=lambda f: (-f.impact, f.fingerprint))


async def find(
    series: Sequence[Series],
    rules: Rules,
    hourly: Sequence[HourlySeries] = (),
    workers: int = WORKERS,
    parallel_from: int = PARALLEL_FROM,
) -> list[Finding]:
    """The CPU part, one baseline fit per series, off the event loop: in a worker thread, or
    split over `workers` processes when there are `parallel_from` series or more."""
    daily = await _off_loop(_daily, series, rules, workers, parallel_from)
    by_hour = await _off_loop(_hourly, hourly, rules, workers, parallel_from)
    return merge(daily, by_hour)


async def _off_loop(
    fit: Callable[[Sequence[Any], Rules], list[Finding]],
    series: Sequence[Any],
    rules: Rules,
    workers: int,
    parallel_from: int,
) -> list[Finding]:
    if len(series) < max(parallel_from, 1) or workers < 2:
        return await asyncio.to_thread(fit, series, rules)
    loop = asyncio.get_running_loop()
    # spawn, not fork: forking a process that runs an event loop and threads is unsafe.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        parts = await asyncio.gather(
            *(loop.run_in_executor(pool, fit, list(series[i::workers]), rules) for i in range(workers))
        )
    finally:
        pool.shutdown(wait=False)
    return [finding for part in parts for finding in part]


async def detect(engine: AsyncEngine, as_of: date, config: Detection) -> DetectionRun:
    """Find, explain, group and store the anomalies as of `as_of`; the run is recorded in job_runs."""
    async with jobruns.recorded(engine, "detect") as details:
        run = await _detect(engine, as_of, config)
        details.update(
            as_of=as_of.isoformat(), series=run.series, anomalies=len(run.anomalies), new=len(run.new)
        )
    return run


async def _detect(engine: AsyncEngine, as_of: date, config: Detection) -> DetectionRun:
    async with unit_of_work(engine) as session:
        latest = await cost_series.latest_days(session, as_of)
        series = [
            one
            for dimensions in config.dimension_sets
            for one in await cost_series.daily_series(session, dimensions, as_of, latest)
        ]
        latest_hour = await cost_series.latest_hours(session, as_of)
        hourly = [
            one
            for dimensions in config.dimension_sets
            for one in await cost_series.hourly_series(session, dimensions, as_of, latest_hour)
        ]
    findings = await find(series, rules(config), hourly)
    explained = []
    async with unit_of_work(engine) as session:
        for finding in findings:
            rows = await anomalies.child_rows(
                session, finding.scope, finding.currency, finding.date, finding.hours
            )
            causes = await asyncio.to_thread(
                rootcause.explain, finding.scope, finding.date, finding.impact, rows
            )
            explained.append(group.Explained(finding, causes))
    reported, new = [], []
    async with unit_of_work(engine) as session:
        for representative, related in group.group(explained):
            head = await _save(session, representative, None)
            members = [await _save(session, item, head.anomaly.fingerprint) for item in related]
            shown = [cause.as_dict() for cause in representative.causes]
            reported.append(anomalies.seen(representative.finding, shown, head, members))
            new += [saved.anomaly.fingerprint for saved in (head, *members) if saved.new]
    return DetectionRun(as_of, len(series) + len(hourly), reported, new)


async def _save(session: Any, item: group.Explained, group_fingerprint: str | None) -> anomalies.Saved:
    causes = [cause.as_dict() for cause in item.causes]
    return await anomalies.save(session, item.finding, causes, group_fingerprint)
