"""Cost reports in SQL on both databases: grouping, filters, comparison, like for like, top N."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from finops import costquery
from storage.db import unit_of_work
from storage.reports import CostReport, cost_report
from tests.factories import frame, item, load

TODAY = date(2026, 11, 25)


async def _report(engine: AsyncEngine, text: str) -> CostReport:
    async with unit_of_work(engine) as session:
        return await cost_report(session, costquery.parse(text, TODAY))


async def _sample(engine: AsyncEngine) -> None:
    items = []
    for day in range(1, 25):  # November up to the 24th: the 25th is not loaded yet
        items += [
            item(f"2026-11-{day:02d}", "10.01", tags={"team": "payments"}),
            item(f"2026-11-{day:02d}", "5.50", service="Amazon S3", tags={"team": "Search"}),
            item(f"2026-11-{day:02d}", "1.25", service="AWS Lambda"),
        ]
    for day in range(1, 32):
        items.append(item(f"2026-10-{day:02d}", "8.00", tags={"team": "payments"}))
    await load(engine, frame(*items))


async def test_grouped_totals_with_the_same_days_of_last_month(engine: AsyncEngine) -> None:
    await _sample(engine)
    report = await _report(engine, "mtd by service")
    assert report.query.period.end == date(2026, 11, 24) and report.asked_end == TODAY
    assert report.query.compare.end == date(2026, 10, 24)  # like for like: 24 days each
    assert report.totals == {"USD": Decimal("402.24")}  # 24 x 16.76
    assert report.previous == {"USD": Decimal("192.00")}  # 24 x 8
    assert [(r.keys, r.amount, r.previous) for r in report.rows] == [
        (("Amazon Elastic Compute Cloud",), Decimal("240.24"), Decimal("192.00")),
        (("Amazon S3",), Decimal("132.00"), Decimal(0)),
        (("AWS Lambda",), Decimal("30.00"), Decimal(0)),
    ]
    assert report.data_until == date(2026, 11, 24)
    assert len(report.daily["USD"]) == 24 and report.daily["USD"][0] == (date(2026, 11, 1), Decimal("16.76"))


async def test_filters_match_any_case_and_negation_keeps_untagged(engine: AsyncEngine) -> None:
    await _sample(engine)
    search = await _report(engine, "mtd team=search provider=AWS")
    assert search.totals == {"USD": Decimal("132.00")}
    not_payments = await _report(engine, "mtd team!=payments by team")
    assert {r.keys: r.amount for r in not_payments.rows} == {
        ("Search",): Decimal("132.00"),
        ("(untagged)",): Decimal("30.00"),
    }
    nothing = await _report(engine, "mtd team=nobody")
    assert (nothing.totals, nothing.rows, nothing.data_until) == ({}, [], None)


async def test_top_n_puts_the_rest_in_others(engine: AsyncEngine) -> None:
    await _sample(engine)
    report = await _report(engine, "mtd by service top 1")
    assert [r.keys for r in report.rows] == [("Amazon Elastic Compute Cloud",)]
    assert report.others == {"USD": (2, Decimal("162.00"), Decimal(0))}


async def test_forecast_reads_history_before_the_period(engine: AsyncEngine) -> None:
    await _sample(engine)
    report = await _report(engine, "mtd forecast")
    history = report.history["USD"]
    assert (history[0][0], history[-1][0]) == (date(2026, 10, 1), date(2026, 11, 24))  # from the first cost
