"""The demo pipeline: a sample organisation through the real store, no account and no network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from finops import normalise, sample
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


async def run_demo(engine: AsyncEngine, *, seed: int, end: date | None, months: int) -> DemoResult:
    _, revision = await upgrade(engine)
    org = sample.generate(seed=seed, end=end, months=months)
    daily = normalise.rollup(org.rows)
    async with unit_of_work(engine) as session:
        load = await replace_costs(
            session,
            source=DEMO_SOURCE,
            fmt="focus",
            fingerprint=normalise.fingerprint(org.rows),
            location=f"sample:seed={seed}",
            daily=daily,
            raw=normalise.raw_totals(org.rows),
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
