"""How fast `/cost` answers on a large store (the query and the forecast; not Slack).

    python benchmarks/cost_query.py [--copies 20] [--postgres postgresql://postgres@127.0.0.1/postgres]

Loads the 13-month sample organisation `--copies` times (each copy under other billing accounts,
so the store holds that many organisations' worth of `cost_daily` rows) into SQLite and, when
given, PostgreSQL, then times each query (median of 5 runs) through `commands.queries.cost`,
the code behind both `/cost` and `finops-bot cost`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select

from commands import queries
from finops import focus, lineitems, normalise, sample
from storage.costs import replace_costs
from storage.db import connect, unit_of_work
from storage.migrate import upgrade
from storage.models import CostDaily

END = date(2026, 11, 24)
QUERIES = (
    "mtd by service",
    "last 30 days by service and team top 20",
    "ytd by account where provider=aws",
    "last month by team vs last year",
    "mtd by provider forecast",
)


def _copy(items: pa.Table, n: int) -> pa.Table:
    accounts = pc.binary_join_element_wise(items[focus.BILLING_ACCOUNT_ID], pa.scalar(f"-{n}"), "")
    return items.set_column(items.schema.get_field_index(focus.BILLING_ACCOUNT_ID), focus.BILLING_ACCOUNT_ID,
                            accounts)  # fmt: skip


async def _load(url: str, copies: int) -> int:
    engine = connect(url)
    await upgrade(engine)
    items = lineitems.from_frame(sample.generate(seed=7, end=END, months=13).rows)
    for n in range(copies):
        copy = _copy(items, n)
        async with unit_of_work(engine) as session:
            await replace_costs(
                session,
                source=f"org-{n}",
                fmt="focus",
                fingerprint=normalise.fingerprint(copy),
                location=f"org-{n}",
                daily=normalise.rollup(copy),
                raw=normalise.raw_totals(copy),
            )
    async with unit_of_work(engine) as session:
        rows = int(await session.scalar(select(func.count()).select_from(CostDaily)) or 0)
    await engine.dispose()
    return rows


async def _time(url: str) -> list[tuple[str, float]]:
    engine = connect(url)
    found = []
    for text in QUERIES:
        seconds = []
        for _ in range(5):
            started = time.perf_counter()
            await queries.cost(engine, text, END + timedelta(days=1))
            seconds.append(time.perf_counter() - started)
        found.append((text, statistics.median(seconds)))
    await engine.dispose()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--postgres", help="an admin URL; a database finops_bench_cost is (re)created")
    args = parser.parse_args()
    targets = {"SQLite": f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'cost.db'}"}
    if args.postgres:
        import asyncpg

        async def fresh() -> str:
            admin = await asyncpg.connect(args.postgres)
            await admin.execute("DROP DATABASE IF EXISTS finops_bench_cost WITH (FORCE)")
            await admin.execute("CREATE DATABASE finops_bench_cost")
            await admin.close()
            return (
                args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
                + "/finops_bench_cost"
            )

        targets["PostgreSQL"] = asyncio.run(fresh())
    for name, url in targets.items():
        rows = asyncio.run(_load(url, args.copies))
        print(f"{name}: {rows:,} cost_daily rows ({args.copies} copies of the 13-month sample organisation)")
        for text, seconds in asyncio.run(_time(url)):
            print(f"  {seconds * 1000:8.1f} ms  /cost {text}")


if __name__ == "__main__":
    main()
