"""Cost anomalies in hourly series, for exports that charge by the hour: a spike is caught in the
hours it happens, before its day is complete (a partial day's total says nothing yet).

The latest day with hourly data (often partial) is judged hour by hour against a baseline fitted
on the days before it: robust STL from statsmodels with a daily period (24 hours), fitted on the
recent days of the same kind (weekdays for a weekday, weekend days for a weekend day), so the
hour-of-day pattern and the weekday/weekend pattern are both expected. The interval is a
calibrated multiple of the hours' noise, measured out of sample (each hour against the same hour
of the day before of the same kind) and proportional to the hour's cost.

A finding is the run of consecutive hours whose summed excess is the most surprising: a shift
of a few hours adds up even when each hour alone stays inside its interval. A run of two hours
or more must be `z + SCAN_MARGIN` standard deviations out, one hour alone twice `z` (a single
noisy hour is not an alert), and the summed excess must reach the minimum impact and
percentage. Its figures are sums over those hours (`hours`: the first and last). Its
fingerprint is the daily one (scope, currency, start day), so the day's daily check, once the
day is complete, updates the same anomaly instead of opening another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from finops.anomaly.detect import Finding, Rules, money, severity
from finops.anomaly.model import CALIBRATION, MAD_TO_SD

HOURS = 24
DAYS_FITTED = 10  # days of the judged day's kind the baseline is fitted on
MIN_DAYS = 3  # fewer days of history: no hourly judgement (the daily check still runs)
CONFIDENT_DAYS = 4  # days of the same kind needed for high confidence
# More standard deviations for a run of hours: the most surprising of many runs is looked at.
# Measured with benchmarks/detect_hourly.py: 1.5 gives 0.7-1.1 false alerts per 1,000
# series-days (recall 0.89-0.90 on +25% spikes of 3-6 hours), 2.0 gives 0.4-0.6 (recall 0.85-0.86);
# added to the daily check's own, 2.0 keeps a channel quiet.
SCAN_MARGIN = 2.0
MIN_RUN = 2  # consecutive anomalous hours, unless one hour is twice as far out as the interval


@dataclass(frozen=True)
class HourlySeries:
    scope: Mapping[str, str]
    currency: str
    first_hour: datetime  # UTC, on the hour
    values: np.ndarray  # cost per hour from first_hour to the latest hour with data, float

    @property
    def last_hour(self) -> datetime:
        return self.first_hour + timedelta(hours=len(self.values) - 1)


@dataclass(frozen=True)
class HourlyBaseline:
    expected: np.ndarray  # per hour of the judged day, from 00:00
    spread: np.ndarray  # per hour of the judged day: robust standard deviation of its cost
    confidence: str


def _weekend(day: date) -> bool:
    return day.weekday() >= 5


def _days(series: HourlySeries) -> tuple[date, np.ndarray, np.ndarray]:
    """The judged day, its hours so far, and the whole days before it (days x 24)."""
    day = series.last_hour.date()
    offset = series.first_hour.hour  # hours the first day is missing, filled with its later hours
    padded = np.concatenate([np.full(offset, np.nan), series.values])
    judged = padded[(len(padded) - 1) // HOURS * HOURS :]
    history = padded[: len(padded) - len(judged)].reshape(-1, HOURS)
    if offset and len(history):
        history = history[1:]  # the first day is incomplete
    return day, judged, history


def _mad(values: np.ndarray) -> float:
    return MAD_TO_SD * float(np.median(np.abs(values - np.median(values))))


def baseline(day: date, history: np.ndarray) -> HourlyBaseline | None:
    """What each hour of `day` should cost after `history` (the whole days before it, days x 24),
    or None with too little history."""
    if len(history) < MIN_DAYS:
        return None
    first = day - timedelta(days=len(history))
    kinds = np.array([_weekend(first + timedelta(days=i)) for i in range(len(history))])
    same = history[kinds == _weekend(day)]
    chosen = same if len(same) >= 2 else history
    days = chosen[-DAYS_FITTED:]
    flat = days.reshape(-1)
    from statsmodels.tsa.seasonal import STL  # imported when first fitted: it takes 2 s to load

    fit = STL(flat, period=HOURS, robust=True).fit()
    seasonal = np.asarray(fit.seasonal)[-HOURS:]
    deseasonalised = flat - np.asarray(fit.seasonal)
    level = float(np.median(deseasonalised[-HOURS:]))
    expected = level + seasonal
    if np.all(flat >= 0):
        expected = np.maximum(expected, 0.0)
    floor = max(0.01 * abs(level), 0.01 / HOURS)
    # The noise is measured out of sample: how much an hour differs from the same hour of the
    # day before of the same kind (the difference of two days has twice the variance of one).
    change = np.diff(days, axis=0)
    pairs = days[1:] + days[:-1]
    if np.all(pairs > 0):
        # Cost noise is proportional to cost: busy hours vary more in money than quiet ones.
        relative = CALIBRATION * _mad((2 * change / pairs).reshape(-1)) / np.sqrt(2)
        spread = np.maximum(relative * np.abs(expected), floor)
    else:
        spread = np.full(HOURS, max(CALIBRATION * _mad(change.reshape(-1)) / np.sqrt(2), floor))
    confidence = "high" if len(same) >= CONFIDENT_DAYS else "low"
    return HourlyBaseline(expected, spread, confidence)


def _most_surprising(excess: np.ndarray, spread: np.ndarray) -> tuple[int, int, float] | None:
    """The run of consecutive hours whose summed excess is the most standard deviations above
    zero: (first hour, last hour, that many standard deviations). A shift that lasts hours adds
    up even when each hour alone stays inside its interval."""
    sums = np.concatenate([[0.0], np.cumsum(excess)])
    variances = np.concatenate([[0.0], np.cumsum(spread**2)])
    best: tuple[int, int, float] | None = None
    for first in range(len(excess)):
        scores = (sums[first + 1 :] - sums[first]) / np.sqrt(variances[first + 1 :] - variances[first])
        last = int(np.argmax(scores))
        if best is None or scores[last] > best[2]:
            best = (first, first + last, float(scores[last]))
    return best


def detect_hourly(series: HourlySeries, rules: Rules) -> Finding | None:
    """The largest run of anomalous hours on the series' latest day, if it is worth an alert."""
    day, judged, history = _days(series)
    found = baseline(day, history)
    if found is None:
        return None
    thresholds = rules.for_scope(series.scope)
    expected = found.expected[: len(judged)]
    spread = found.spread[: len(judged)]
    window = _most_surprising(judged - expected, spread)
    if window is None:
        return None
    first, last, score = window
    hours = last - first + 1
    excess = float(np.sum(judged[first : last + 1] - expected[first : last + 1]))
    needed = thresholds.z + SCAN_MARGIN if hours >= MIN_RUN else 2 * thresholds.z
    if score <= needed or excess < float(thresholds.min_impact):
        return None
    usual = float(np.sum(expected[first : last + 1]))
    pct = excess / usual * 100 if usual > 0 else None
    if pct is not None and pct < thresholds.min_pct:
        return None
    actual = float(np.sum(judged[first : last + 1]))
    # The interval of the hours' sum: their spreads add in quadrature.
    width = thresholds.z * float(np.sqrt(np.sum(spread[first : last + 1] ** 2)))
    lower = usual - width if np.any(judged < 0) else max(usual - width, 0.0)
    impact = money(actual) - money(usual)  # as shown: actual minus expected, to the cent
    return Finding(
        scope=dict(series.scope),
        currency=series.currency,
        start=day,
        date=day,
        actual=money(actual),
        expected=money(usual),
        lower=money(lower),
        upper=money(usual + width),
        impact=impact,
        pct=None if pct is None else round(pct, 1),
        surprise=round(score, 1),
        severity=severity(impact, score, found.confidence, thresholds),
        kind="spike",
        confidence=found.confidence,
        model="stl-hourly",
        hours=(first, last),
    )
