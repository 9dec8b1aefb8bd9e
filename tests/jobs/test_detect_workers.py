from __future__ import annotations

from datetime import date

import numpy as np

from finops.anomaly.detect import Rules, Series
from jobs.detect import find


def _series(count: int) -> list[Series]:
    rng = np.random.default_rng(3)
    made = []
    for n in range(count):
        values = 1000 * (1 + rng.normal(0, 0.02, 90))
        if n % 3 == 0:
            values[-1] *= 1.5  # a spike on the latest day in every third series
        made.append(Series({"service": f"s{n}"}, "USD", date(2026, 7, 1), values))
    return made


async def test_many_series_are_fitted_in_worker_processes_with_the_same_findings() -> None:
    series = _series(12)
    in_thread = await find(series, Rules(), workers=1)
    in_processes = await find(series, Rules(), workers=2, parallel_from=1)
    assert sorted(f.scope["service"] for f in in_thread) == ["s0", "s3", "s6", "s9"]
    assert in_processes == in_thread
