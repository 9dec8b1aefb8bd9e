"""Expected daily cost: a robust seasonal baseline with a prediction interval.

Models live in a registry keyed by name; `expect` picks by how much history a series has:

- `stl` (12 weeks or more of history; 4 weeks at least): robust STL from statsmodels with a
  weekly period, fitted on the last 12 weeks. Robustness weights keep earlier spikes out of the
  baseline; the trend is extrapolated with a damped slope; the weekday pattern comes from the
  seasonal component; a charge that recurs on the 1st of the month (support, tax, commitment
  fees) is learnt from earlier month starts and expected again. The interval is a multiple of
  the robust (MAD) spread of the residuals.
- `recent-median` (1 to 4 weeks of history, e.g. a new service): the median of the last two
  weeks with a wide interval, and low confidence.

Why STL: measured with `benchmarks/detect.py` against Holt-Winters (statsmodels ETS), robust STL
fits a 12-week window in about 2 ms where ETS's optimiser takes about 80 ms (10,000 series
would take over 13 minutes), and ETS has no robustness weights, so a past spike inflates its
baseline. MSTL adds nothing with one (weekly) period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

WINDOW = 84  # days of history a baseline looks at
MIN_SEASONAL = 28  # days needed for the seasonal model
MIN_HISTORY = 7  # fewer: no expectation at all
PERIOD = 7
DAMPING = 0.8  # per-day damping of the trend's slope when projecting it
SEASONAL_SMOOTHER = 21  # STL's seasonal and trend windows, longer than the defaults:
TREND_SMOOTHER = 29  # measured, they forecast one day ahead with less error
LEVEL_DAYS = 14
# One-day-ahead errors are wider than the noise seen in the history (the level and the weekday
# pattern are estimates too); measured on benchmarks/detect.py's series, by this factor.
CALIBRATION = 1.35
MAD_TO_SD = 1.4826
MONTH_STARTS_LEARNT = 3  # earlier month starts looked at for a recurring first-of-month charge


@dataclass(frozen=True)
class Expectation:
    """What the next `len(expected)` days should cost, and how surprising a deviation is."""

    model: str
    expected: np.ndarray  # per day after the history
    spread: np.ndarray  # per day after the history: robust standard deviation of its cost
    scale: float  # robust standard deviation of one history day's residual
    residuals: np.ndarray  # of the history's days (actual - fitted), month-start charges removed
    confidence: str  # "high" or "low"
    slope: float = 0.0  # the trend's slope per day at the end of the history (before damping)


Model = Callable[[np.ndarray, date, int], Expectation]
REGISTRY: dict[str, Model] = {}


def register(name: str) -> Callable[[Model], Model]:
    def add(model: Model) -> Model:
        REGISTRY[name] = model
        return model

    return add


def expect(history: np.ndarray, first_day: date, horizon: int = 1) -> Expectation | None:
    """The baseline for the `horizon` days after `history` (daily values from `first_day`)."""
    if len(history) < MIN_HISTORY:
        return None
    name = "stl" if len(history) >= MIN_SEASONAL else "recent-median"
    return REGISTRY[name](history, first_day, horizon)


def _floor(scale: float, level: float) -> float:
    """A flat series (a fixed fee) has no spread; cents or 1% of the level is the least surprise."""
    return max(scale, 0.01 * abs(level), 0.01)


def _mad(values: np.ndarray) -> float:
    return float(MAD_TO_SD * np.median(np.abs(values - np.median(values))))


@register("recent-median")
def recent_median(history: np.ndarray, first_day: date, horizon: int) -> Expectation:
    recent = history[-14:]
    level = float(np.median(recent))
    scale = max(_floor(_mad(recent), level), 0.1 * abs(level))
    return Expectation(
        "recent-median", np.full(horizon, level), np.full(horizon, scale), scale, recent - level, "low"
    )


@register("stl")
def robust_stl(history: np.ndarray, first_day: date, horizon: int) -> Expectation:
    window = history[-WINDOW:]
    start = first_day + timedelta(days=len(history) - len(window))
    from statsmodels.tsa.seasonal import STL  # imported when first fitted: it takes 2 s to load

    fit = STL(window, period=PERIOD, robust=True, seasonal=SEASONAL_SMOOTHER, trend=TREND_SMOOTHER).fit()
    trend, seasonal = np.asarray(fit.trend), np.asarray(fit.seasonal)
    firsts = _month_starts(start, len(window))
    excess, excess_spread = _month_start_excess((window - trend - seasonal)[firsts])
    usual = window - np.where(firsts, excess, 0.0)  # without the recurring first-of-month charge
    # The level at the last day: a median of the last two weeks, detrended and deseasonalised
    # (steadier than the loess trend's end point).
    slope = (trend[-1] - trend[-1 - LEVEL_DAYS]) / LEVEL_DAYS
    back = np.arange(-LEVEL_DAYS + 1, 1)
    level = float(np.median((usual - seasonal)[-LEVEL_DAYS:] - slope * back))
    fitted = trend + seasonal
    fitted[-LEVEL_DAYS:] = level + slope * back + seasonal[-LEVEL_DAYS:]
    residuals = usual - fitted
    weekly_change = usual[PERIOD:] - usual[:-PERIOD]
    noise = max(_mad(weekly_change[-56:]) / np.sqrt(2), _mad(residuals[-56:]))
    scale = _floor(CALIBRATION * noise, level)
    steps = np.arange(1, horizon + 1)
    drift = slope * DAMPING * (1 - DAMPING**steps) / (1 - DAMPING)
    weekly = seasonal[len(window) - PERIOD + (steps - 1) % PERIOD]
    ahead = _month_starts(start + timedelta(days=len(window)), horizon)
    expected = level + drift + weekly + np.where(ahead, excess, 0.0)
    if np.all(window >= 0):
        expected = np.maximum(expected, 0.0)
    spread = scale + np.where(ahead, excess_spread, 0.0)
    return Expectation("stl", expected, spread, scale, residuals, "high", slope)


def _month_starts(start: date, days: int) -> np.ndarray:
    return np.array([(start + timedelta(days=i)).day == 1 for i in range(days)], dtype=bool)


def _month_start_excess(excesses: np.ndarray) -> tuple[float, float]:
    """A charge on the 1st that recurs (the last month starts all above the baseline):
    its usual amount and how much it varies (taxes follow usage)."""
    recent = excesses[-MONTH_STARTS_LEARNT:]
    if len(recent) >= 2 and np.all(recent > 0):
        typical = float(np.median(recent))
        return typical, max(_mad(recent), 0.1 * typical)
    return 0.0, 0.0
