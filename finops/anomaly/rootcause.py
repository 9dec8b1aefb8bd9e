"""Root cause: which child dimensions (account, service, region, team ...) explain a change.

For an anomaly on `scope` and day `day`, each child's change is its cost that day minus its
usual cost (the median of the same weekday over the four weeks before). The dimension whose
largest child explains the biggest share of the anomaly is chosen; its children are listed
until they explain 80% (at most three), and the first is drilled into once more (listed
right after it) when one of its own children explains most of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from finops.anomaly.detect import money

CHILD_DIMENSIONS = (
    "billing_account",
    "service",
    "sub_account",
    "region",
    "team",
    "environment",
    "cost_center",
    "charge_category",
)
WEEKS = 4
EXPLAINED = 0.8
MAX_CAUSES = 3
TIE = 0.9  # shares within 10% of the best count as a tie, won by the earlier dimension


@dataclass(frozen=True)
class Cause:
    scope: dict[str, Any]  # the anomaly's scope and the child's dimension values
    impact: Decimal
    share: float  # of the anomaly's impact

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "impact": str(self.impact), "share": self.share}


def usual_days(day: date) -> list[date]:
    return [day - timedelta(days=7 * week) for week in range(1, WEEKS + 1)]


def _changes(rows: pd.DataFrame, dimension: str, day: date) -> pd.Series:
    """Per child value: cost on `day` minus its median on the same weekday before."""
    keyed = rows.assign(child=rows[dimension].astype(object).where(rows[dimension].notna(), None))
    keyed["child"] = keyed["child"].map(lambda v: "\0none" if v is None else v)
    today = keyed[keyed.usage_date == day].groupby("child")["cost"].sum()
    before = keyed[keyed.usage_date.isin(usual_days(day))]
    usual = (
        before.pivot_table(index="child", columns="usage_date", values="cost", aggfunc="sum")
        .reindex(columns=usual_days(day))
        .fillna(0.0)
        .median(axis=1)
    )
    return today.sub(usual, fill_value=0.0).sort_values(ascending=False)


def _value(child: str) -> str | None:
    return None if child == "\0none" else child


def explain(
    scope: Mapping[str, Any],
    day: date,
    impact: Decimal,
    rows: pd.DataFrame,
    dimensions: Sequence[str] = CHILD_DIMENSIONS,
) -> list[Cause]:
    """`rows`: the scope's daily cost by child dimensions (`usage_date`, dimensions, `cost` as
    float) over the four weeks before `day` and `day` itself."""
    if impact <= 0 or rows.empty:
        return []
    candidates = [d for d in dimensions if d not in scope and d in rows.columns]
    shares: list[tuple[float, str, pd.Series]] = []
    for dimension in candidates:
        if rows[dimension].nunique(dropna=False) < 2:
            continue  # one value throughout (all Usage, say): it explains nothing
        changes = _changes(rows, dimension, day)
        if not changes.empty and changes.iloc[0] > 0:
            shares.append((_share(changes.iloc[0], impact), dimension, changes))
    if not shares:
        return []
    # The first dimension (account, then service ...) that explains nearly as much as the best.
    most = max(share for share, _, _ in shares)
    best = next(item for item in shares if item[0] >= TIE * most)
    _, dimension, changes = best
    causes: list[Cause] = []
    explained = 0.0
    for child, change in changes.items():
        if change <= 0 or len(causes) == MAX_CAUSES or explained >= EXPLAINED:
            break
        share = _share(change, impact)
        explained += share
        child_scope = {**scope, dimension: _value(str(child))}
        causes.append(Cause(child_scope, money(change), round(share, 3)))
    top = causes[0]
    deeper = _deeper(top, rows[_matches(rows, dimension, top.scope[dimension])], day, impact, candidates)
    return [top, deeper, *causes[1:]] if deeper else causes


def _matches(rows: pd.DataFrame, dimension: str, value: Any) -> pd.Series:
    return rows[dimension].isna() if value is None else rows[dimension] == value


def _deeper(
    top: Cause, rows: pd.DataFrame, day: date, impact: Decimal, candidates: Sequence[str]
) -> Cause | None:
    """The top cause narrowed by one more dimension, when one child explains most of it."""
    found: Cause | None = None
    for dimension in candidates:
        if dimension in top.scope or rows[dimension].nunique(dropna=False) < 2:
            continue
        changes = _changes(rows, dimension, day)
        if changes.empty or changes.iloc[0] < 0.5 * float(top.impact):
            continue
        if found is None or changes.iloc[0] > float(found.impact):
            child = _value(str(changes.index[0]))
            found = Cause(
                {**top.scope, dimension: child},
                money(changes.iloc[0]),
                _share(changes.iloc[0], impact),
            )
    return found


def _share(change: float, impact: Decimal) -> float:
    """The part of the anomaly a child explains (its change can exceed the anomaly's impact,
    which is measured against a different baseline: then it explains all of it)."""
    return round(min(float(change) / float(impact), 1.0), 3)
