"""Related anomalies are one event: an EC2 spike in one account also shows as a spike of the
account, of the provider and of the team that owns it. They are grouped and shown once.

Two findings on the same day are related when the narrowest root cause of each (its scope plus
its top cause's dimensions) does not contradict the other's, and their impacts are within a
factor of two. The representative is the finding with the most specific scope (then the
largest impact); the others are listed as its related anomalies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finops.anomaly.detect import Finding
from finops.anomaly.rootcause import Cause

DIMENSION_RANK = ("provider", "team", "billing_account", "service")  # later: more specific


@dataclass(frozen=True)
class Explained:
    finding: Finding
    causes: list[Cause]

    @property
    def leaf(self) -> dict[str, Any]:
        """The narrowest scope that explains this anomaly."""
        return dict(self.causes[0].scope) if self.causes else dict(self.finding.scope)


def _consistent(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a[key] == b[key] for key in a.keys() & b.keys())


def _related(a: Explained, b: Explained) -> bool:
    if a.finding.date != b.finding.date or a.finding.currency != b.finding.currency:
        return False
    small, large = sorted((float(a.finding.impact), float(b.finding.impact)))
    return large <= 2 * small and _consistent(a.leaf, b.leaf)


def _specificity(item: Explained) -> tuple[int, int, float]:
    ranks = [
        DIMENSION_RANK.index(d) if d in DIMENSION_RANK else len(DIMENSION_RANK) for d in item.finding.scope
    ]
    return (len(ranks), max(ranks, default=-1), float(item.finding.impact))


def group(items: Sequence[Explained]) -> list[tuple[Explained, list[Explained]]]:
    """(representative, related) for each event, representatives in the order of `items`."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if _related(items[i], items[j]):
                parent[root(j)] = root(i)
    events: dict[int, list[int]] = {}
    for i in range(len(items)):
        events.setdefault(root(i), []).append(i)
    grouped = []
    for members in events.values():
        best = max(members, key=lambda i: _specificity(items[i]))
        grouped.append((items[best], [items[i] for i in members if i != best]))
    return sorted(grouped, key=lambda pair: items.index(pair[0]))
