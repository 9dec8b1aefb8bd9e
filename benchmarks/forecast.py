"""Forecast backtest on the sample organisation: month-end forecasts made on day 10 and day 20.

    python benchmarks/forecast.py [--seed 42] [--months 13]

Rolls the seeded sample organisation up to daily cost per provider and billing account, then
for every complete month with four weeks of history before it forecasts the month's total as of
day 10 and day 20, and prints the mean absolute percentage error and how often the actual
total fell inside the 90% interval.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import date

import numpy as np

from finops import forecast, lineitems, normalise, sample


def series(seed: int, months: int) -> list[tuple[str, date, np.ndarray]]:
    org = sample.generate(seed=seed, end=date(2026, 10, 31), months=months)
    daily = normalise.rollup(lineitems.from_frame(org.rows))
    daily["cost"] = daily["billed_cost"].astype(float)
    found = []
    for (provider, account), rows in daily.groupby(["provider", "billing_account"]):
        by_day = rows.groupby("usage_date")["cost"].sum()
        first, last = min(by_day.index), max(by_day.index)
        values = np.zeros((last - first).days + 1)
        for day, cost in by_day.items():
            values[(day - first).days] = cost
        found.append((f"{provider} {account}", first, values))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--months", type=int, default=13)
    args = parser.parse_args()
    scopes = series(args.seed, args.months)
    for day in (10, 20):
        results = [r for _, first, values in scopes for r in forecast.backtest(values, first, day)]
        mape = statistics.mean(r.error for r in results)
        covered = sum(r.covered for r in results) / len(results)
        print(
            f"day {day}: MAPE {mape:.2f}% over {len(results)} month-end forecasts "
            f"({len(scopes)} accounts), actual inside the 90% interval {covered:.0%}"
        )


if __name__ == "__main__":
    main()
