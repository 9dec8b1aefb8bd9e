"""Hourly detection on small hand-built series; each test is named after what it proves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from finops.anomaly.detect import Rules, Thresholds, fingerprint
from finops.anomaly.hourly import HourlySeries, detect_hourly

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
RULES = Rules()


def hourly(days: int, seed: int = 1, noise: float = 0.03) -> np.ndarray:
    """Business hours (08-20 UTC) cost twice the night, weekends 40% less, 3% noise."""
    rng = np.random.default_rng(seed)
    hours = [MONDAY + timedelta(hours=i) for i in range(days * 24)]
    pattern = np.array(
        [(200.0 if 8 <= h.hour < 20 else 100.0) * (0.6 if h.weekday() >= 5 else 1.0) for h in hours]
    )
    return np.round(pattern * (1 + rng.normal(0, noise, len(hours))), 2)


def series(values: np.ndarray, first: datetime = MONDAY) -> HourlySeries:
    return HourlySeries({"provider": "aws", "service": "Amazon EC2"}, "USD", first, values)


def test_spike_of_a_few_hours_is_found_before_its_day_is_complete() -> None:
    values = hourly(22)[: 21 * 24 + 15]  # the latest day (a Monday) has data up to 14:59
    values[-6:] *= 1.4  # +40% from 09:00
    finding = detect_hourly(series(values), RULES)
    assert finding is not None
    day = (MONDAY + timedelta(days=21)).date()
    assert (finding.date, finding.hours, finding.model, finding.kind) == (day, (9, 14), "stl-hourly", "spike")
    assert finding.impact == finding.actual - finding.expected
    assert 400 < finding.impact < 560  # 6 hours x 40% of about 200
    assert finding.pct is not None and 35 < finding.pct < 45
    # The same fingerprint as the daily check of that day: one anomaly, not two.
    assert finding.fingerprint == fingerprint(finding.scope, "USD", day)


def test_hour_of_day_and_weekend_patterns_stay_quiet() -> None:
    values = hourly(35, seed=2)
    found = []
    for day in range(14, 35):  # judged through three weeks, Mondays and weekends too
        for hour in range(2, 24, 3):
            finding = detect_hourly(series(values[: day * 24 + hour + 1]), RULES)
            if finding is not None:
                found.append((day, hour, finding.hours))
    assert found == []


def test_monday_morning_after_a_cheap_weekend_is_expected() -> None:
    values = hourly(22, seed=3)[: 21 * 24 + 12]  # Monday 11:00, after a weekend at 60%
    assert detect_hourly(series(values), RULES) is None


def test_a_shift_too_small_for_any_one_hour_is_caught_over_several() -> None:
    values = hourly(22, seed=4)[: 21 * 24 + 20]
    values[-8:] *= 1.2  # each hour +20%, inside its own interval; eight of them are not
    finding = detect_hourly(series(values), RULES)
    assert finding is not None and finding.hours is not None
    assert finding.hours[1] == 19 and finding.hours[0] <= 13


def test_one_noisy_hour_is_not_an_alert_but_one_huge_hour_is() -> None:
    values = hourly(22, seed=5)[: 21 * 24 + 12]
    values[-3] *= 1.13  # 09:00: one hour out of its interval, not twice as far
    assert detect_hourly(series(values), RULES) is None
    values[-3] *= 4  # 09:00 five times its usual cost
    finding = detect_hourly(series(values), RULES)
    assert finding is not None and finding.hours == (9, 9)


def test_a_late_partial_latest_hour_is_not_an_anomaly() -> None:
    values = hourly(22, seed=6)[: 21 * 24 + 12]
    values[-1] *= 0.1  # the latest hour has only part of its line items yet
    assert detect_hourly(series(values), RULES) is None


def test_minimum_impact_and_percentage_are_respected() -> None:
    values = hourly(22, seed=7)[: 21 * 24 + 15]
    values[-6:] *= 1.4
    assert detect_hourly(series(values), Rules(Thresholds(min_impact=Decimal(1000)))) is None
    assert detect_hourly(series(values), Rules(Thresholds(min_pct=50))) is None
    assert detect_hourly(series(values), RULES) is not None


def test_short_history_and_zero_series_stay_quiet() -> None:
    values = hourly(3, seed=8)[: 2 * 24 + 12]  # two whole days before the judged one
    values[-4:] *= 3
    assert detect_hourly(series(values), RULES) is None
    assert detect_hourly(series(np.zeros(22 * 24)), RULES) is None


def test_a_series_starting_mid_day_is_aligned_to_utc_days() -> None:
    values = hourly(22, seed=9)[13 : 21 * 24 + 15]  # the first day starts at 13:00
    values[-6:] *= 1.4
    finding = detect_hourly(series(values, MONDAY + timedelta(hours=13)), RULES)
    assert finding is not None and finding.hours == (9, 14)


def test_few_days_of_the_same_kind_lower_the_confidence() -> None:
    values = hourly(4, seed=10)[: 3 * 24 + 15]  # a Thursday, three weekdays before it
    values[-6:] *= 2
    finding = detect_hourly(series(values), RULES)
    assert finding is not None and finding.confidence == "low"
