"""Budget against actual (commands.variance) on both databases: the budget for the report period
(amended amounts, prorating, rollover), actual spend, and chargeback per cost center."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from commands.variance import (
    ReportPeriod,
    VarianceReport,
    budget_variance,
    cost_center_variance,
    report_period,
)
from finops.budgets import Rate
from finops.errors import UserError
from storage import budgets
from storage.budgets import BudgetSpec
from storage.db import unit_of_work
from storage.models import BudgetAmendment
from tests.factories import frame, item, load

RATES = [Rate("EUR", "USD", date(2026, 1, 1), Decimal("1.10"))]
EUR_NOTE = "EUR converted to USD at 1.1 (since 2026-01-01)"


async def _costs(engine: AsyncEngine) -> None:
    """September: cc-eng 10 USD a day (300). October 1-20: cc-eng 10 USD a day (200) and from the
    16th 2 EUR a day (10 EUR), cc-data 5 USD a day (100, team data), untagged 1 USD a day (20)."""
    items = [item(f"2026-09-{d:02d}", "10.00", tags={"cost_center": "cc-eng"}) for d in range(1, 31)]
    for d in range(1, 21):
        items += [
            item(f"2026-10-{d:02d}", "10.00", tags={"cost_center": "cc-eng"}),
            item(
                f"2026-10-{d:02d}",
                "5.00",
                service="Amazon S3",
                tags={"cost_center": "cc-data", "team": "data"},
            ),
            item(f"2026-10-{d:02d}", "1.00", service="AWS Lambda"),
        ]
    items += [
        item(f"2026-10-{d:02d}", "2.00", provider="Microsoft", account="azure-1", service="Virtual Machines",
             currency="EUR", tags={"cost_center": "cc-eng"})
        for d in range(16, 21)
    ]  # fmt: skip
    await load(engine, frame(*items))


async def _budgets(engine: AsyncEngine) -> None:
    """eng: 400 USD a month on cc-eng with rollover since 1 September (which left 100 unspent);
    data: 150 a month on cc-data, amended to 180 on 10 October and to 200 on 5 November;
    platform-q: 900 a quarter on team data; annual: 1200 a year on everything; eur-eng: 100 EUR a
    month on cc-eng."""
    async with unit_of_work(engine) as session:
        save = budgets.save
        eng, _ = await save(
            session,
            BudgetSpec("eng", Decimal(400), scope={"cost_center": ["cc-eng"]}, rollover=True),
            actor="test",
            channel="test",
        )
        eng.created_at = datetime(2026, 9, 1, tzinfo=UTC)
        for amount in (150, 180, 200):
            data, _ = await save(
                session,
                BudgetSpec("data", Decimal(amount), scope={"cost_center": ["cc-data"]}),
                actor="test",
                channel="test",
            )
        first, second = await session.scalars(
            select(BudgetAmendment).where(BudgetAmendment.budget_id == data.id).order_by(BudgetAmendment.id)
        )
        first.created_at = datetime(2026, 10, 10, 12, tzinfo=UTC)
        second.created_at = datetime(2026, 11, 5, 12, tzinfo=UTC)
        await save(
            session,
            BudgetSpec("platform-q", Decimal(900), period="quarterly", scope={"team": ["data"]}),
            actor="test",
            channel="test",
        )
        await save(
            session, BudgetSpec("annual", Decimal(1200), period="yearly"), actor="test", channel="test"
        )
        await save(
            session,
            BudgetSpec("eur-eng", Decimal(100), currency="EUR", scope={"cost_center": ["cc-eng"]}),
            actor="test",
            channel="test",
        )


def _rows(report: VarianceReport) -> list[tuple[str, str | None, str, str, str, str, str | None]]:
    return [
        (
            r.name,
            r.cost_center,
            r.currency,
            str(r.budget),
            str(r.actual),
            str(r.variance),
            None if r.variance_pct is None else str(r.variance_pct),
        )
        for r in report.rows
    ]


@pytest.mark.parametrize(
    ("text", "label", "start", "end", "granularity"),
    [
        ("2026-10", "2026-10", date(2026, 10, 1), date(2026, 10, 31), "monthly"),
        ("2026-2", "2026-02", date(2026, 2, 1), date(2026, 2, 28), "monthly"),
        ("2026-q4", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "quarterly"),
        ("2026-Q1", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "quarterly"),
        (" 2026 ", "2026", date(2026, 1, 1), date(2026, 12, 31), "yearly"),
    ],
)
def test_report_periods(text: str, label: str, start: date, end: date, granularity: str) -> None:
    assert report_period(text) == ReportPeriod(label, start, end, granularity)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "2026-Q5", "October", "2026-10-01", ""])
def test_a_period_it_cannot_read_says_how_to_write_one(text: str) -> None:
    with pytest.raises(UserError, match=r"use YYYY-MM \(e\.g\. 2026-10\), YYYY-Qn \(2026-Q4\) or YYYY"):
        report_period(text)


async def test_budget_variance_for_a_month(engine: AsyncEngine) -> None:
    await _costs(engine)
    await _budgets(engine)
    report = await budget_variance(engine, report_period("2026-10"), RATES)
    assert report.by == "budget" and report.period.label == "2026-10"
    # eur-eng: 200 USD at 1/1.10 = 181.818..., plus 10 EUR
    assert _rows(report) == [
        ("annual", None, "USD", "100.00", "331.00", "-231.00", "-231.0"),  # 1200 / 12; 200 + 100 + 20 + 11
        ("data", "cc-data", "USD", "180.00", "100.00", "80.00", "44.4"),  # amended to 180 on 10 October
        ("eng", "cc-eng", "USD", "500.00", "211.00", "289.00", "57.8"),  # 400 + 100 rolled over
        ("eur-eng", "cc-eng", "EUR", "100.00", "191.82", "-91.82", "-91.8"),
        ("platform-q", None, "USD", "300.00", "100.00", "200.00", "66.7"),  # 900 / 3
    ]
    assert report.notes == [
        "USD converted to EUR at 0.909091 (since 2026-01-01)",
        EUR_NOTE,
    ]


async def test_budget_variance_for_a_quarter_and_other_months(engine: AsyncEngine) -> None:
    await _costs(engine)
    await _budgets(engine)
    quarter = {r[0]: r[3:5] for r in _rows(await budget_variance(engine, report_period("2026-Q4"), RATES))}
    assert quarter == {
        "annual": ("300.00", "331.00"),
        "data": ("600.00", "100.00"),  # 200 a month by the quarter's end
        "eng": ("1200.00", "211.00"),  # no rollover: the budget is monthly, the report quarterly
        "eur-eng": ("300.00", "191.82"),
        "platform-q": ("900.00", "100.00"),
    }
    september = {r[0]: r[3:5] for r in _rows(await budget_variance(engine, report_period("2026-09"), RATES))}
    assert september["data"] == ("150.00", "0.00")  # before the first amendment
    assert september["eng"] == ("400.00", "300.00")  # its first month: nothing carried into it
    november = {r[0]: r[3:5] for r in _rows(await budget_variance(engine, report_period("2026-11"), RATES))}
    assert november["data"] == ("200.00", "0.00")


async def test_cost_center_chargeback_in_one_currency(engine: AsyncEngine) -> None:
    await _costs(engine)
    await _budgets(engine)
    report = await cost_center_variance(engine, report_period("2026-10"), RATES, "USD")
    assert report.by == "cost-center" and report.currency == "USD"
    assert _rows(report) == [
        ("data", "cc-data", "USD", "180.00", "100.00", "80.00", "44.4"),
        ("eng, eur-eng", "cc-eng", "USD", "610.00", "211.00", "399.00", "65.4"),  # 500 + 100 EUR at 1.10
        ("", "(untagged)", "USD", "0.00", "20.00", "-20.00", None),
    ]
    assert report.notes == [EUR_NOTE, f"budget amounts: {EUR_NOTE}"]


async def test_cost_center_spend_without_a_rate_is_left_out_and_said(engine: AsyncEngine) -> None:
    await _costs(engine)
    await _budgets(engine)
    report = await cost_center_variance(engine, report_period("2026-10"), [], "USD")
    assert [(r[1], r[3], r[4]) for r in _rows(report)] == [
        ("cc-data", "180.00", "100.00"),
        ("cc-eng", "500.00", "200.00"),
        ("(untagged)", "0.00", "20.00"),
    ]
    assert report.notes == [
        "10.00 EUR not counted: no EUR→USD rate in the config",
        "budget amounts: 100.00 EUR not counted: no EUR→USD rate in the config",
    ]


async def test_no_budgets_and_no_costs(engine: AsyncEngine) -> None:
    assert (await budget_variance(engine, report_period("2026-10"), RATES)).rows == []
    assert (await cost_center_variance(engine, report_period("2026-10"), RATES)).rows == []
