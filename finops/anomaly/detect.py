"""Cost anomalies in daily series: is the latest day above what its history expects?

A series is the daily cost of one scope (e.g. `{"provider": "aws", "service": "Amazon EC2"}`)
in one currency, with missing days as zero. `detect` looks at the latest day with data and the
day before (whose data may have come late or been restated) and reports at most one finding
per series. Only increases are reported: a low latest day is usually data still arriving.

A finding's fingerprint is its scope, currency and start date, so the same anomaly seen again
tomorrow updates the stored one instead of making a new one. The start is found by walking back
over the history days whose residuals were anomalous too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from finops.anomaly import model

LOOKBACK_START = 14  # days an anomaly's start is looked for before the day found
SEVERITIES = ("low", "medium", "high", "critical")
# Impact, as a multiple of the scope's minimum impact, from which each severity starts.
SEVERITY_IMPACT = {"low": 1, "medium": 4, "high": 20, "critical": 100}
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Thresholds:
    min_impact: Decimal = Decimal(50)  # ignore anomalies adding less than this per day
    min_pct: float = 15.0  # ... or less than this percentage of the expected cost
    z: float = 3.1  # the interval: expected +- z robust standard deviations (calibrated)


@dataclass(frozen=True)
class Override:
    """Thresholds for the series whose scope includes `scope` (e.g. a noisy service)."""

    scope: Mapping[str, str]
    thresholds: Thresholds


@dataclass(frozen=True)
class Rules:
    default: Thresholds = field(default_factory=Thresholds)
    overrides: Sequence[Override] = ()

    def for_scope(self, scope: Mapping[str, str]) -> Thresholds:
        """The most specific override whose scope is part of `scope`, else the default."""
        matching = [o for o in self.overrides if all(scope.get(k) == v for k, v in o.scope.items())]
        return max(matching, key=lambda o: len(o.scope)).thresholds if matching else self.default


@dataclass(frozen=True)
class Series:
    scope: Mapping[str, str]
    currency: str
    first_day: date
    values: np.ndarray  # daily cost from first_day to the latest day with data, float

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=len(self.values) - 1)


@dataclass(frozen=True)
class Finding:
    scope: dict[str, str]
    currency: str
    start: date
    date: date
    actual: Decimal
    expected: Decimal
    lower: Decimal
    upper: Decimal
    impact: Decimal
    pct: float | None  # None when nothing was expected
    surprise: float  # impact in robust standard deviations
    severity: str
    kind: str  # "spike", or "new" for a series with little history
    confidence: str
    model: str
    hours: tuple[int, int] | None = None  # hourly findings: the first and last anomalous hour (UTC)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.scope, self.currency, self.start)


def fingerprint(scope: Mapping[str, str], currency: str, start: date) -> str:
    text = json.dumps(
        {"scope": dict(scope), "currency": currency, "start": start.isoformat()}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def money(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(_CENT)


def severity(impact: Decimal, surprise: float, confidence: str, thresholds: Thresholds) -> str:
    """From impact (in multiples of the minimum) and surprise; weak surprise or little history
    lowers it one step."""
    level = 0
    for index, name in enumerate(SEVERITIES):
        if impact >= thresholds.min_impact * SEVERITY_IMPACT[name]:
            level = index
    if surprise < 2 * thresholds.z or confidence == "low":
        level = max(level - 1, 0)
    return SEVERITIES[level]


def detect(series: Series, rules: Rules) -> Finding | None:
    """The anomaly on the series' latest day or the day before (whose data may have come late),
    if any: the latest anomalous day, with the earliest start. One baseline fit serves both: the
    latest day is judged out of sample, the day before by its residual."""
    thresholds = rules.for_scope(series.scope)
    values = series.values
    if len(values) < 2:
        return None
    expectation = model.expect(values[:-1], series.first_day, 1)
    if expectation is None:
        return None
    residuals = expectation.residuals
    latest = _judge(
        series,
        len(values) - 1,
        float(expectation.expected[0]),
        float(expectation.spread[0]),
        residuals,
        expectation,
        thresholds,
    )
    if latest is not None or not len(residuals):
        return latest
    day_before = float(values[-2])
    return _judge(
        series,
        len(values) - 2,
        day_before - float(residuals[-1]),
        expectation.scale,
        residuals[:-1],
        expectation,
        thresholds,
    )


def _judge(
    series: Series,
    index: int,
    expected: float,
    spread: float,
    earlier: np.ndarray,
    expectation: model.Expectation,
    thresholds: Thresholds,
) -> Finding | None:
    """A finding when day `index` is above its interval and over the minimum impact and percent;
    `earlier` are the residuals of the days before it, to find where the anomaly started."""
    actual = float(series.values[index])
    upper = expected + thresholds.z * spread
    lower = expected - thresholds.z * spread
    if np.all(series.values[:index] >= 0):
        lower = max(lower, 0.0)
    impact = actual - expected
    pct = impact / expected * 100 if expected > 0 else None
    if actual <= upper or impact < float(thresholds.min_impact):
        return None
    if pct is not None and pct < thresholds.min_pct:
        return None
    day = series.first_day + timedelta(days=index)
    start = day
    cutoff = max(thresholds.z * expectation.scale, float(thresholds.min_impact))
    for back in range(1, min(LOOKBACK_START, len(earlier)) + 1):
        if earlier[-back] <= cutoff:
            break
        start = day - timedelta(days=back)
    surprise = impact / spread
    exact_impact = money(impact)
    return Finding(
        scope=dict(series.scope),
        currency=series.currency,
        start=start,
        date=day,
        actual=money(actual),
        expected=money(expected),
        lower=money(lower),
        upper=money(upper),
        impact=exact_impact,
        pct=None if pct is None else round(pct, 1),
        surprise=round(surprise, 1),
        severity=severity(exact_impact, surprise, expectation.confidence, thresholds),
        kind="new" if expectation.model != "stl" else "spike",
        confidence=expectation.confidence,
        model=expectation.model,
    )
