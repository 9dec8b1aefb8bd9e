"""Hourly detection benchmark: recall, false alerts and run time on seeded synthetic hourly series.

    python benchmarks/detect_hourly.py [--series 500] [--seed 1] [--workers 2]

Generates four weeks of hourly cost per series (levels from $5 to $2,000 an hour, business hours
20-80% above the night, weekends up to 40% lower, a slow trend, 2-8% noise per hour). Each of the
last seven days is judged once, at a random hour between 06:00 and 23:00 (as a scheduled run after
an export lands would), twice: as generated (any finding is a false alert) and with a +25% spike
from 08:00 lasting 3-6 hours up to the judged hour (a hit when found; counted only when the
spike's impact so far is over the minimum impact). Prints recall, false alerts per 1,000
series-days and the time per series judged.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import numpy as np

from finops.anomaly.detect import Rules, Thresholds
from finops.anomaly.hourly import HourlySeries, detect_hourly

FIRST_HOUR = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 28
JUDGED_DAYS = 7
SPIKE = 0.25
SPIKE_FROM = 8  # UTC hour a spike starts


def generate(rng: np.random.Generator) -> np.ndarray:
    hours = np.arange(DAYS * 24)
    times = [FIRST_HOUR + timedelta(hours=int(h)) for h in hours]
    hour_of_day = hours % 24
    weekend = np.array([t.weekday() >= 5 for t in times])
    level = float(np.exp(rng.uniform(np.log(5), np.log(2_000))))
    business = np.where((hour_of_day >= 8) & (hour_of_day < 20), 1 + rng.uniform(0.2, 0.8), 1.0)
    weekly = np.where(weekend, 1 - rng.uniform(0, 0.4), 1.0)
    trend = 1 + rng.uniform(-0.1, 0.2) * hours / len(hours)
    noise = 1 + rng.normal(0, rng.uniform(0.02, 0.08), len(hours))
    return np.asarray(level * business * weekly * trend * noise)


def _judge(args: tuple[int, int, Rules]) -> tuple[int, int, int, int]:
    """(series-days judged, false alerts, spikes counted, spikes found) for a seeded chunk."""
    seed, count, rules = args
    rng = np.random.default_rng(seed)
    judged = false = spikes = hits = 0
    minimum = float(rules.default.min_impact)
    for _ in range(count):
        values = generate(rng)
        for day in range(DAYS - JUDGED_DAYS, DAYS):
            cut = day * 24 + int(rng.integers(6, 24))
            scope = {"service": "x"}
            judged += 1
            if detect_hourly(HourlySeries(scope, "USD", FIRST_HOUR, values[:cut]), rules) is not None:
                false += 1
            first = day * 24 + SPIKE_FROM
            last = min(cut, first + int(rng.integers(3, 7)))
            if last - first < 3:
                continue
            spiked = values[:cut].copy()
            spiked[first:last] *= 1 + SPIKE
            if float(np.sum(spiked[first:last] - values[first:last])) < minimum:
                continue
            spikes += 1
            if detect_hourly(HourlySeries(scope, "USD", FIRST_HOUR, spiked), rules) is not None:
                hits += 1
    return judged, false, spikes, hits


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    rules = Rules(Thresholds())
    chunks = [(args.seed * 1000 + i, args.series // args.workers, rules) for i in range(args.workers)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(_judge, chunks))
    elapsed = time.perf_counter() - started
    judged, false, spikes, hits = (sum(column) for column in zip(*results, strict=True))
    per = 1000 * elapsed * args.workers / (judged + spikes)
    print(f"series-days judged        {judged:,}")
    print(f"false alerts per 1,000    {1000 * false / judged:.2f}")
    print(f"recall on +25% spikes     {hits / max(spikes, 1):.3f}   ({hits} of {spikes})")
    print(f"time per judgement        {per:.1f} ms of one core")


if __name__ == "__main__":
    main()
