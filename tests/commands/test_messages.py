"""Every Slack message and view the app renders stays within Block Kit's limits, even at its largest."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from commands import messages
from commands.queries import BudgetAnswer, CostAnswer
from finops import costquery
from finops.budgets import evaluate
from storage.models import Budget, JobRun
from storage.reports import CostReport, Row
from storage.status import SourceFreshness, Status
from tests.fakes.slack import block_kit_problems, view_problems

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
LONG = "Amazon Elastic Compute Cloud - Compute Savings Plans Covered Usage"


def _report(rows: int, currencies: tuple[str, ...] = ("USD",)) -> CostAnswer:
    query = costquery.parse("last 30 days by service and team top 50", TODAY)
    shown = [
        Row((f"{LONG} {n}", f"team-with-a-long-name-{n}"), c, Decimal(10_000_000 - n), Decimal(n))
        for c in currencies
        for n in range(rows)
    ]
    days = [(query.period.start + timedelta(n), Decimal(1000)) for n in range(query.period.days)]
    report = CostReport(
        query=query,
        rows=shown,
        others={c: (1234, Decimal("12345678.90"), Decimal(1)) for c in currencies},
        totals={c: Decimal("999999999.99") for c in currencies},
        previous={c: Decimal("888888888.88") for c in currencies},
        daily={c: days for c in currencies},
        history={},
        data_until=TODAY - timedelta(days=1),
        asked_end=TODAY,
    )
    return CostAnswer(report)


def test_text_table_is_cut_to_fit_a_section_and_says_so() -> None:
    rows = [[f"service-{n}" * 3, f"{n:,}.00", "+1.0%"] for n in range(500)]
    table = messages.text_table(["service", "USD", "change"], rows)
    assert len(table) <= messages.SECTION_LIMIT
    assert table.startswith("```\nservice") and table.endswith("more rows\n```")
    assert "… and" in table.splitlines()[-2]


def test_largest_cost_answer_is_within_limits() -> None:
    message = messages.cost_message(_report(50, ("USD", "EUR", "GBP")), chart_file="F0001")
    assert not block_kit_problems(message["blocks"])
    text = json.dumps(message, ensure_ascii=False)
    assert "more rows" in text and "data through 24 Nov 2026, compared like for like" in text


def test_cost_answer_rows_are_ordered_and_changes_signed() -> None:
    message = messages.cost_message(_report(3))
    table = next(b["text"]["text"] for b in message["blocks"] if "```" in b["text"].get("text", ""))
    lines = table.splitlines()[2:-1]
    assert [line.split()[-2] for line in lines[:3]] == ["10,000,000.00", "9,999,999.00", "9,999,998.00"]
    assert lines[0].endswith("new") and lines[1].endswith("+999999800.0%")


def _budget(name: str, amount: str = "1000") -> BudgetAnswer:
    budget = Budget(
        name=name,
        amount=Decimal(amount),
        currency="USD",
        period="monthly",
        scope={"team": ["payments"] * 50},
        thresholds=[50, 80, 100],
    )
    daily = [(date(2026, 9, 1) + timedelta(n), Decimal(40)) for n in range(86)]
    status = evaluate(budget.amount, "monthly", daily)
    return BudgetAnswer(budget, status, [(d, c) for d, c in daily if d >= status.start])


def test_budget_messages_are_within_limits() -> None:
    many = [_budget(f"budget-{n}-" + "x" * 150) for n in range(45)]
    listing = messages.budget_list_message(many, can_edit=True)
    assert not block_kit_problems(listing["blocks"])
    assert "… and 5 more" in json.dumps(listing, ensure_ascii=False)
    shown = messages.budget_message(many[0], can_edit=True, chart_file="F0002")
    assert not block_kit_problems(shown["blocks"])
    facts = json.dumps(shown)
    assert "at risk" in facts and "thresholds crossed: 50%, 80%, 100%" in facts


@pytest.mark.parametrize("original", [None, "payments"])
def test_budget_modal_is_a_valid_view(original: str | None) -> None:
    view = messages.budget_modal(
        json.dumps({"original": original, "channel": "C1"}),
        original=original,
        name="payments",
        amount="1250.5",
        scope="team=payments",
    )
    assert not view_problems(view)
    assert view["title"]["text"] == ("Edit budget" if original else "New budget")


def test_status_and_home_are_within_limits_with_many_sources() -> None:
    sources = [
        SourceFreshness(f"s3://bucket/{'p' * 80}/{n}", NOW - timedelta(hours=n), TODAY, "boom " * 100)
        for n in range(60)
    ]
    jobs = [JobRun(job="detect", status="failed", started_at=NOW, finished_at=NOW, error="x" * 5000)]
    status = Status(sources, jobs, {"critical": 2, "low": 5})
    message = messages.status_message(status, NOW)
    assert not block_kit_problems(message["blocks"])
    assert "2 critical, 5 low" in json.dumps(message)
    home = messages.home_view("engineer", status, NOW)
    assert not view_problems(home)


@pytest.mark.parametrize("role", ["admin", "engineer", "viewer", None])
def test_whoami_and_help(role: str | None) -> None:
    for message in (
        messages.whoami_message("U1", role),
        messages.cost_help(),
        messages.finops_help(),
        messages.budget_help(),
        messages.error_message("x" * 2900),
    ):
        assert not block_kit_problems(message["blocks"])


def test_budget_status_arithmetic() -> None:
    answer = _budget("payments", amount="1500")
    status = answer.status
    assert (status.start, status.end, status.as_of) == (date(2026, 11, 1), date(2026, 11, 30), TODAY)
    assert (status.spent, status.pct_spent, status.burn_per_day) == (
        Decimal(1000),
        Decimal("66.7"),
        Decimal(40),
    )
    assert status.left_per_day == Decimal("100.00")  # 500 left over 5 days
    assert status.thresholds_crossed == (50,)
    assert status.forecast is not None and Decimal(1180) <= status.forecast <= Decimal(1220)
    assert status.state == "on track"
