"""Detection behaviours on small hand-built series; each test is named after what it proves."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from finops.anomaly import group, model, rootcause
from finops.anomaly.detect import Finding, Override, Rules, Series, Thresholds, detect

MONDAY = date(2026, 1, 5)
RULES = Rules()


def weekly(
    days: int, seed: int = 1, weekday: float = 1000.0, weekend: float = 600.0, noise: float = 0.02
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pattern = np.array(
        [weekday if (MONDAY + timedelta(days=i)).weekday() < 5 else weekend for i in range(days)]
    )
    return np.round(pattern * (1 + rng.normal(0, noise, days)), 2)


def series(values: np.ndarray, first: date = MONDAY, **scope: str) -> Series:
    return Series(scope or {"provider": "aws"}, "USD", first, values)


def run(values: np.ndarray, days: int, rules: Rules = RULES) -> list[Finding]:
    """Detection as of each of the last `days` days, as the scheduler would run it."""
    found = []
    for end in range(len(values) - days, len(values)):
        finding = detect(series(values[: end + 1]), rules)
        if finding is not None:
            found.append(finding)
    return found


def new_alerts(found: list[Finding]) -> list[Finding]:
    """Findings that do not continue an earlier one (the store's rule: what would be posted)."""
    alerts: list[Finding] = []
    last: date | None = None
    for finding in found:
        if last is None or finding.start > last + timedelta(days=2):
            alerts.append(finding)
        last = finding.date
    return alerts


def test_spike_is_found_on_its_first_day() -> None:
    values = weekly(120)
    values[-1] *= 1.5
    finding = detect(series(values), RULES)
    assert finding is not None
    assert (finding.date, finding.start, finding.kind, finding.model) == (
        MONDAY + timedelta(days=119),
        MONDAY + timedelta(days=119),
        "spike",
        "stl",
    )
    assert finding.lower < finding.expected < finding.upper < finding.actual
    assert Decimal(400) < finding.impact < Decimal(600)
    assert finding.pct is not None and 40 < finding.pct < 60


def test_weekly_pattern_and_noise_stay_quiet() -> None:
    assert run(weekly(150, seed=3), days=60) == []


def test_earlier_spike_does_not_raise_the_baseline() -> None:
    values = weekly(120, seed=4)
    values[95:98] *= 2.5  # three days, three weeks ago
    assert detect(series(values), RULES) is None
    values[-1] *= 1.35
    assert detect(series(values), RULES) is not None


def test_step_change_is_reported_once_then_becomes_normal() -> None:
    values = weekly(160, seed=5)
    values[120:] *= 1.5
    found = run(values, days=40)
    assert len(new_alerts(found)) == 1
    assert found[0].start == MONDAY + timedelta(days=120)
    assert all(f.date < MONDAY + timedelta(days=135) for f in found)  # the new level is normal


def test_known_month_start_charges_are_expected() -> None:
    first = date(2025, 11, 3)
    values = weekly(150, seed=6)
    firsts = [i for i in range(150) if (first + timedelta(days=i)).day == 1]
    values[firsts] += 3000  # support and tax on the 1st
    day = firsts[-1]
    assert detect(series(values[: day + 1], first), RULES) is None
    values[day] += 3000  # twice the usual month-start charge
    doubled = detect(series(values[: day + 1], first), RULES)
    assert doubled is not None and doubled.date.day == 1


def test_late_partial_latest_day_is_not_an_anomaly() -> None:
    values = weekly(120, seed=7)
    values[-1] *= 0.3  # only a few hours of the day arrived so far
    assert detect(series(values), RULES) is None


def test_spike_on_the_day_before_the_latest_is_still_caught() -> None:
    values = weekly(120, seed=8)
    values[-2] *= 1.6  # yesterday's late data was a spike; today is normal
    finding = detect(series(values), RULES)
    assert finding is not None and finding.date == MONDAY + timedelta(days=118)


def test_zero_series_and_small_changes_stay_quiet() -> None:
    assert detect(series(np.zeros(120)), RULES) is None
    small = weekly(120, seed=9, weekday=10, weekend=10)
    small[-1] = 40  # +300%, but $30: under the minimum impact
    assert detect(series(small), RULES) is None


def test_short_history_uses_a_simple_rule_with_low_confidence() -> None:
    values = np.array([1000.0] * 10 + [2500.0])
    finding = detect(series(values), RULES)
    assert finding is not None
    assert (finding.model, finding.confidence, finding.kind) == ("recent-median", "low", "new")
    assert finding.severity == "medium"  # $1,500 is "high"; low confidence lowers it a step
    assert detect(series(np.array([1000.0] * 5 + [2500.0])), RULES) is None  # too little to judge


def test_thresholds_can_be_set_per_scope() -> None:
    values = weekly(120, seed=10)
    values[-1] *= 1.5
    noisy = Override({"service": "Amazon EC2"}, Thresholds(min_impact=Decimal(1000)))
    rules = Rules(overrides=[noisy])
    assert detect(series(values, provider="aws", service="Amazon EC2"), rules) is None
    assert detect(series(values, provider="aws", service="Amazon S3"), rules) is not None


def test_fingerprint_is_stable_while_the_anomaly_lasts() -> None:
    values = weekly(122, seed=11)
    values[-3:] *= 1.6
    first = detect(series(values[:-2]), RULES)
    third = detect(series(values), RULES)
    assert first is not None and third is not None
    assert third.start == first.start and third.fingerprint == first.fingerprint
    assert third.date == first.date + timedelta(days=2)


def test_severity_grows_with_impact() -> None:
    values = weekly(120, seed=12, weekday=100_000, weekend=100_000)
    values[-1] *= 1.3
    big = detect(series(values), RULES)
    assert big is not None and big.severity == "critical"


def test_stl_needs_four_weeks_and_falls_back_before() -> None:
    assert model.expect(weekly(6), MONDAY) is None
    short = model.expect(weekly(20), MONDAY)
    full = model.expect(weekly(40), MONDAY)
    assert short is not None and short.model == "recent-median"
    assert full is not None and full.model == "stl"


def _rows(spike: float) -> pd.DataFrame:
    """Four weeks and a day of cost by account and service; the last day's EC2 in account A spikes."""
    day = date(2026, 3, 30)
    records = []
    for back in range(29):
        when = day - timedelta(days=back)
        for account, service, cost in (("A", "EC2", 500.0), ("A", "S3", 200.0), ("B", "EC2", 300.0)):
            extra = spike if back == 0 and (account, service) == ("A", "EC2") else 0.0
            records.append(
                {"usage_date": when, "billing_account": account, "service": service, "cost": cost + extra}
            )
    return pd.DataFrame(records)


def test_root_cause_names_the_account_then_the_service() -> None:
    causes = rootcause.explain({"provider": "aws"}, date(2026, 3, 30), Decimal(800), _rows(800))
    assert [c.scope for c in causes] == [
        {"provider": "aws", "billing_account": "A"},
        {"provider": "aws", "billing_account": "A", "service": "EC2"},
    ]
    assert causes[0].share == 1.0 and causes[0].impact == Decimal("800.00")


def _finding(scope: dict[str, str], impact: str) -> Finding:
    day = date(2026, 3, 30)
    return Finding(
        scope,
        "USD",
        day,
        day,
        Decimal(0),
        Decimal(0),
        Decimal(0),
        Decimal(0),
        Decimal(impact),
        None,
        9.0,
        "high",
        "spike",
        "high",
        "stl",
    )


def test_a_service_spike_explained_by_one_account_appears_once() -> None:
    service = group.Explained(
        _finding({"provider": "aws", "service": "EC2"}, "800"),
        [rootcause.Cause({"provider": "aws", "service": "EC2", "billing_account": "A"}, Decimal(800), 1.0)],
    )
    account = group.Explained(
        _finding({"provider": "aws", "billing_account": "A"}, "790"),
        [rootcause.Cause({"provider": "aws", "billing_account": "A", "service": "EC2"}, Decimal(790), 1.0)],
    )
    elsewhere = group.Explained(
        _finding({"provider": "aws", "billing_account": "B"}, "700"),
        [rootcause.Cause({"provider": "aws", "billing_account": "B", "service": "RDS"}, Decimal(700), 1.0)],
    )
    grouped = group.group([account, service, elsewhere])
    assert [(rep.finding.scope, [r.finding.scope for r in related]) for rep, related in grouped] == [
        ({"provider": "aws", "service": "EC2"}, [{"provider": "aws", "billing_account": "A"}]),
        ({"provider": "aws", "billing_account": "B"}, []),
    ]
