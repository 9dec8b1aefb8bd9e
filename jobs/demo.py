"""The demo pipeline: a sample organisation through the real store, no account and no network."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from finops import lineitems, normalise, sample
from storage.costs import LoadResult, ProviderTotal, provider_totals, replace_costs
from storage.db import unit_of_work
from storage.migrate import upgrade

DEMO_SOURCE = "demo-sample"


@dataclass(frozen=True)
class DemoResult:
    database: str
    revision: str | None
    seed: int
    start: date
    end: date
    line_items: int
    load: LoadResult
    totals: list[ProviderTotal]
    planted: tuple[sample.PlantedAnomaly, ...]


def _prepare(
    seed: int, end: date | None, months: int
) -> tuple[sample.SampleOrg, pd.DataFrame, list[normalise.RawTotal], str]:
    """The CPU part: generate and roll up (run in a thread, off the event loop)."""
    org = sample.generate(seed=seed, end=end, months=months)
    items = lineitems.from_frame(org.rows, f"sample:seed={seed}")
    return org, normalise.rollup(items), normalise.raw_totals(items), normalise.fingerprint(items)


async def run_demo(engine: AsyncEngine, *, seed: int, end: date | None, months: int) -> DemoResult:
    _, revision = await upgrade(engine)
    org, daily, raw, fingerprint = await asyncio.to_thread(_prepare, seed, end, months)
    async with unit_of_work(engine) as session:
        load = await replace_costs(
            session,
            source=DEMO_SOURCE,
            fmt="focus",
            fingerprint=fingerprint,
            location=f"sample:seed={seed}",
            daily=daily,
            raw=raw,
        )
    async with unit_of_work(engine) as session:
        totals = await provider_totals(session)
    return DemoResult(
        database=engine.url.render_as_string(hide_password=True),
        revision=revision,
        seed=seed,
        start=org.start,
        end=org.end,
        line_items=len(org.rows),
        load=load,
        totals=totals,
        planted=org.planted,
    )
