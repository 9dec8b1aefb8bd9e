"""Small PNG charts for Slack answers (matplotlib, Agg: no display, safe in worker threads).

Rendering takes tens of milliseconds and imports matplotlib on first use: call it off the event
loop (`asyncio.to_thread`).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

WIDTH, HEIGHT, DPI = 6.4, 2.4, 100
LINE, FORECAST, LIMIT = "#1d6fa5", "#9bb7cf", "#c0392b"
_lock = threading.Lock()  # pyplot's state is global


def daily_spend(
    points: Sequence[tuple[date, Decimal]],
    *,
    title: str,
    currency: str,
    projected: Sequence[tuple[date, Decimal]] = (),
    limit: Decimal | None = None,
    cumulative: bool = False,
    band: tuple[date, date, Decimal, Decimal] | None = None,
) -> bytes:
    """A PNG of daily spend (or, `cumulative`, spend to date), an optional projection after it
    (dashed), an optional horizontal limit (a budget) and an optional expected range (`band`:
    first day, last day, lower, upper) shaded behind an anomaly's days."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    days: list[Any] = [day for day, _ in points]
    values = [float(v) for _, v in points]
    if cumulative:
        running = 0.0
        values = [running := running + v for v in values]
    with _lock:
        figure, axes = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
        try:
            axes.plot(days, values, color=LINE, linewidth=1.8)
            if projected:
                start = values[-1] if values else 0.0
                ahead = [float(v) for _, v in projected]
                if cumulative:
                    running = start
                    ahead = [running := running + v for v in ahead]
                when: list[Any] = [*days[-1:], *(d for d, _ in projected)]
                axes.plot(when, [start, *ahead][-len(when) :], color=FORECAST, linestyle="--")
            if band is not None:
                first, last, lower, upper = band
                span: list[Any] = [first, last]
                axes.fill_between(
                    span,
                    float(lower),
                    float(upper),
                    color=FORECAST,
                    alpha=0.35,
                    step="mid",
                    label="expected",
                )
            if limit is not None:
                axes.axhline(float(limit), color=LIMIT, linewidth=1, linestyle=":")
            axes.set_title(title, fontsize=9, loc="left")
            axes.set_ylabel(currency, fontsize=8)
            axes.tick_params(labelsize=7)
            axes.set_ylim(bottom=0)
            axes.grid(axis="y", alpha=0.3)
            for side in ("top", "right"):
                axes.spines[side].set_visible(False)
            figure.autofmt_xdate()
            figure.tight_layout()
            out = io.BytesIO()
            figure.savefig(out, format="png")
            return out.getvalue()
        finally:
            plt.close(figure)
