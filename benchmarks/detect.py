"""Detection benchmark: recall, false alerts, delay and run time on seeded synthetic series.

    python benchmarks/detect.py [--series 1000] [--days 730] [--timing-series 10000] [--workers 2]

Generates daily cost series of two years (levels from $100 to $50,000 a day, weekday/weekend
pattern, trend, 1-5% noise, persistent step changes and one-off spikes in the history, charges
on the 1st of each month for some), injects a +25% spike of 1-3 days into a random third of them
within the last 60 days, then runs detection as of each of those 60 days as the scheduler would.
A spike counts for recall when its daily impact is over the minimum impact. An alert is new
when the same series had no anomaly the day before; a new alert off every spike is false.
Then times one detection run over `--timing-series` series.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from finops.anomaly.detect import Rules, Series, Thresholds, detect
from jobs.detect import find

FIRST_DAY = date(2024, 11, 1)
EVAL_DAYS = 60
SPIKE = 0.25


@dataclass(frozen=True)
class Case:
    values: np.ndarray
    spike: tuple[int, int] | None  # first and last index of the injected spike
    spike_impact: float  # the smallest daily impact of the spike


def generate(count: int, days: int, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    index = np.arange(days)
    dates = [FIRST_DAY + timedelta(days=int(i)) for i in index]
    weekday = np.array([d.weekday() for d in dates])
    firsts = np.array([d.day == 1 for d in dates])
    for number in range(count):
        level = float(np.exp(rng.uniform(np.log(100), np.log(50_000))))
        trend = 1 + rng.uniform(-0.2, 0.6) * index / 365
        weekend = 1 - rng.uniform(0, 0.4) if rng.random() < 0.5 else 1.0
        pattern = np.where(weekday >= 5, weekend, 1.0)
        values = level * trend * pattern
        if rng.random() < 0.3:  # a step in the first year and a half that persists
            at = int(rng.integers(60, days - 120))
            values[at:] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.1, 0.4)
        for _ in range(int(rng.integers(0, 3))):  # old spikes the baseline must not learn
            at = int(rng.integers(0, days - EVAL_DAYS - 14))
            values[at : at + int(rng.integers(1, 4))] *= 1 + rng.uniform(0.3, 1.5)
        values *= 1 + rng.normal(0, rng.uniform(0.01, 0.05), days)
        if rng.random() < 0.3:  # support / tax / commitment fees on the 1st
            values[firsts] += level * rng.uniform(0.2, 1.0)
        spike = None
        if number % 3 == 0:
            length = int(rng.integers(1, 4))
            at = int(rng.integers(days - EVAL_DAYS, days - length + 1))
            base = values[at : at + length].copy()
            values[at : at + length] = base * (1 + SPIKE)
            spike = (at, at + length - 1)
            cases.append(Case(np.round(values, 2), spike, float(base.min() * SPIKE)))
            continue
        cases.append(Case(np.round(values, 2), spike, 0.0))
    return cases


def _replay(args: tuple[Sequence[Case], int, Rules]) -> list[tuple[int, int, int]]:
    """(case, as-of index, anomalous day's index) of every new alert, as of each of the last days."""
    cases, days, rules = args
    alerts = []
    for number, case in enumerate(cases):
        previous = None
        for as_of in range(days - EVAL_DAYS, days):
            series = Series({"series": str(number)}, "USD", FIRST_DAY, case.values[: as_of + 1])
            found = detect(series, rules)
            if found is None:
                continue
            end = (found.date - FIRST_DAY).days
            start = (found.start - FIRST_DAY).days
            if previous is None or start > previous + 1:
                alerts.append((number, as_of, end))
            previous = end
    return alerts


def evaluate(cases: list[Case], days: int, rules: Rules, workers: int) -> None:
    chunks = [cases[i::workers] for i in range(workers)]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_replay, [(chunk, days, rules) for chunk in chunks]))
    seconds = time.perf_counter() - started
    alerts = []
    for worker, part in enumerate(parts):
        alerts += [(number * workers + worker, as_of, day) for number, as_of, day in part]
    min_impact = float(rules.default.min_impact)
    counted = {n: c for n, c in enumerate(cases) if c.spike and c.spike_impact >= min_impact}
    detected: dict[int, int] = {}
    false = 0
    for number, as_of, day in alerts:
        spike = cases[number].spike
        if spike and spike[0] <= day <= spike[1]:
            detected.setdefault(number, as_of - spike[0])
        else:
            false += 1
    hits = [delay for number, delay in detected.items() if number in counted]
    series_days = len(cases) * EVAL_DAYS
    print(f"series {len(cases):,} x {days} days, detection as of each of the last {EVAL_DAYS} days")
    print(
        f"  recall on +25% spikes over the minimum impact: {len(hits) / max(len(counted), 1):.3f} "
        f"({len(hits)} of {len(counted)})"
    )
    print(
        f"  false alerts per 1,000 series-days: {false / series_days * 1000:.2f} ({false} in {series_days:,})"
    )
    print(
        f"  median detection delay: {statistics.median(hits) if hits else float('nan'):.0f} days "
        f"(first day: {sum(d == 0 for d in hits)} of {len(hits)})"
    )
    print(f"  replay time: {seconds:.1f}s with {workers} worker(s)")


def timing(count: int, days: int, workers: int, rules: Rules) -> None:
    """One run of the detection job's CPU part (`jobs.detect.find`), as the scheduler runs it."""
    cases = generate(count, days, seed=2)
    series = [Series({"series": str(n)}, "USD", FIRST_DAY, case.values) for n, case in enumerate(cases)]
    started = time.perf_counter()
    found = asyncio.run(find(series, rules, workers=workers))
    seconds = time.perf_counter() - started
    print(
        f"one detection run over {count:,} series x {days} days: {seconds:.1f}s "
        f"with {workers} worker(s), {len(found):,} anomalies"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--timing-series", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--z", type=float, default=Thresholds.z, help="interval width (robust sd's)")
    parser.add_argument("--min-pct", type=float, default=Thresholds.min_pct)
    args = parser.parse_args()
    rules = Rules(Thresholds(z=args.z, min_pct=args.min_pct))
    evaluate(generate(args.series, args.days, args.seed), args.days, rules, args.workers)
    if args.timing_series:
        timing(args.timing_series, args.days, args.workers, rules)


if __name__ == "__main__":
    main()
