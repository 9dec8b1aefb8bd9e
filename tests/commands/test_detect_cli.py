from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from storage import anomalies
from storage.db import connect, unit_of_work
from storage.models import Anomaly
from tests.cli_runner import RunCli

EC2 = {"provider": "aws", "service": "Amazon Elastic Compute Cloud"}
KEYS = {
    "fingerprint", "scope", "currency", "start", "date", "actual", "expected", "lower", "upper", "impact",
    "pct", "hours", "severity", "kind", "confidence", "root_cause", "related", "status", "new",
}  # fmt: skip


@pytest.fixture
def planted(cli: RunCli, database_url: str) -> list[dict[str, Any]]:
    result = cli(
        "demo",
        "--end",
        "2026-10-31",
        "--months",
        "4",
        "--detect-days",
        "1",
        "--json",
        database_url=database_url,
    )
    assert result.code == 0, result.err
    found: list[dict[str, Any]] = json.loads(result.out)["planted_anomalies"]
    return found


def _detect(cli: RunCli, day: str) -> dict[str, Any]:
    result = cli("detect", "--as-of", day, "--json")
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def _by_scope(document: dict[str, Any], scope: dict[str, str]) -> dict[str, Any] | None:
    return next((a for a in document["anomalies"] if a["scope"] == scope), None)


def _count(database_url: str) -> int:
    async def count() -> int:
        engine = connect(database_url)
        try:
            async with unit_of_work(engine) as session:
                return int(await session.scalar(select(func.count()).select_from(Anomaly)) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def _mark(database_url: str, fingerprint: str, status: str, until: date | None = None) -> None:
    """Feedback as the Slack buttons will give it."""

    async def mark() -> None:
        engine = connect(database_url)
        try:
            async with unit_of_work(engine) as session:
                await anomalies.mark(session, fingerprint, status, "U123", "a reason", until)
        finally:
            await engine.dispose()

    asyncio.run(mark())


def test_detect_finds_the_spike_on_its_first_day_once(
    cli: RunCli, database_url: str, planted: list[dict[str, Any]]
) -> None:
    spike = planted[0]
    assert spike["name"] == "ec2-spike-data-team"
    document = _detect(cli, spike["start"])
    assert document["as_of"] == spike["start"]
    found = _by_scope(document, EC2)
    assert found is not None and set(found) == KEYS
    assert found["hours"] is None  # a daily export: a daily anomaly
    assert (found["date"], found["start"], found["status"], found["new"]) == (spike["start"],) * 2 + (
        "open",
        True,
    )
    assert found["severity"] in {"high", "critical"}
    assert found["root_cause"] and all(c["scope"].items() >= EC2.items() for c in found["root_cause"])
    assert {"team": "data"} in [r["scope"] for r in found["related"]]  # grouped, not alerted apart
    count = _count(database_url)
    again = _by_scope(_detect(cli, spike["start"]), EC2)
    assert again is not None and again["fingerprint"] == found["fingerprint"] and not again["new"]
    assert _count(database_url) == count
    later = _by_scope(_detect(cli, str(date.fromisoformat(spike["start"]) + timedelta(days=1))), EC2)
    assert later is not None and later["fingerprint"] == found["fingerprint"] and not later["new"]


def test_as_of_uses_only_data_charged_up_to_that_day(cli: RunCli, planted: list[dict[str, Any]]) -> None:
    day_before = str(date.fromisoformat(planted[0]["start"]) - timedelta(days=1))
    assert _by_scope(_detect(cli, day_before), EC2) is None


@pytest.mark.parametrize("name", ["bigquery-spike-data-prod", "sagemaker-new-ml"])
def test_planted_anomalies_are_found_within_two_days(
    cli: RunCli, planted: list[dict[str, Any]], name: str
) -> None:
    anomaly = next(p for p in planted if p["name"] == name)
    start = date.fromisoformat(anomaly["start"])
    seen = []
    for offset in range(2):
        document = _detect(cli, str(start + timedelta(days=offset)))
        seen += [a for a in document["anomalies"] if a["scope"].items() <= anomaly["scope"].items()]
    assert seen, f"{name} not found"


def test_feedback_expected_until_and_false_positive_stick(
    cli: RunCli, database_url: str, planted: list[dict[str, Any]]
) -> None:
    start = date.fromisoformat(planted[0]["start"])
    found = _by_scope(_detect(cli, str(start)), EC2)
    assert found is not None
    _mark(database_url, found["fingerprint"], "expected", start + timedelta(days=5))
    later = _by_scope(_detect(cli, str(start + timedelta(days=1))), EC2)
    assert later is not None and later["status"] == "expected" and not later["new"]
    _mark(database_url, found["fingerprint"], "false_positive")
    again = _by_scope(_detect(cli, str(start + timedelta(days=2))), EC2)
    assert again is not None and again["status"] == "false_positive" and not again["new"]


def test_bad_as_of_is_exit_2(cli: RunCli) -> None:
    result = cli("detect", "--as-of", "yesterday")
    assert result.code == 2
    assert "'yesterday' is not a date; use YYYY-MM-DD" in result.err


def _forecasts(cli: RunCli, *args: str) -> dict[str, dict[str, Any]]:
    result = cli("forecast", *args, "--json")
    assert result.code == 0, result.err
    return {f["scope"]["provider"]: f for f in json.loads(result.out)["forecasts"]}


def test_month_end_forecast_on_day_20_is_within_two_percent(
    cli: RunCli, planted: list[dict[str, Any]]
) -> None:
    made = _forecasts(cli, "--as-of", "2026-10-20")
    actual = _forecasts(cli, "--as-of", "2026-10-31")
    assert set(made) == {"aws", "azure", "gcp"}
    for provider, forecast in made.items():
        assert (forecast["start"], forecast["end"], forecast["days_left"]) == ("2026-10-01", "2026-10-31", 11)
        truth = Decimal(actual[provider]["actual"])
        assert (
            actual[provider]["days_left"] == 0 and actual[provider]["forecast"] == actual[provider]["actual"]
        )
        assert abs(Decimal(forecast["forecast"]) - truth) / truth < Decimal("0.02")
        assert Decimal(forecast["actual"]) < Decimal(forecast["lower"]) < Decimal(forecast["upper"])


def test_forecast_usage_errors(cli: RunCli) -> None:
    week = cli("forecast", "--period", "week")
    assert (week.code, "'week' is not a period; use month or quarter" in week.err) == (2, True)
    colour = cli("forecast", "--by", "colour")
    assert (colour.code, "unknown dimension(s) colour" in colour.err) == (2, True)
