"""Cost rules: what a plan adds to the monthly bill, against a limit and against budgets.

A change is priced on both sides (before and after) and the difference is what it adds: a
create adds its price, a delete takes its price off, a resize adds the difference. A change whose
price is not known stays unknown: it is listed, never counted as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from finops.policy.findings import Cost, Finding
from finops.policy.plan import Change
from finops.policy.prices import Estimate, PriceTable, estimate

Pricer = Callable[[Change], Estimate]  # what one change adds per month
PROVIDERS = {"aws": "aws", "azurerm": "azure", "azuread": "azure", "google": "gcp", "google-beta": "gcp"}
TAG_DIMENSIONS = ("team", "environment", "cost_center")
DAYS_PER_MONTH = Decimal(365) / Decimal(12)
PRICED_ACTIONS = frozenset({"create", "update", "delete"})


def table_pricer(table: PriceTable) -> Pricer:
    """Price a change from the price table: after minus before."""

    def price(change: Change) -> Estimate:
        after = change.after if "create" in change.actions or "update" in change.actions else None
        before = change.before if "delete" in change.actions or "update" in change.actions else None
        new = estimate(change.type, after, change.region, table)
        old = estimate(change.type, before, change.region, table)
        if new.monthly is None or old.monthly is None:
            return Estimate(None, new.basis if new.monthly is None else old.basis)
        if before is None:
            return new
        if after is None:
            return Estimate(-old.monthly, f"removes {old.basis}")
        if new.monthly == old.monthly:
            return Estimate(Decimal(0), "price unchanged")
        was = old.basis.split("; ")[0]  # its notes repeat the new side's
        return Estimate(
            new.monthly - old.monthly, f"{new.basis}; was {money(old.monthly, table.currency)}: {was}"
        )

    return price


def priced(changes: Sequence[Change], pricer: Pricer) -> list[Cost]:
    """The monthly change of every resource created, updated or deleted."""
    costs = []
    for change in changes:
        if not PRICED_ACTIONS.intersection(change.actions):
            continue
        found = pricer(change)
        costs.append(
            Cost(change.address, change.type, change.action, change.plan, found.monthly, found.basis)
        )
    return costs


def money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def limit_findings(costs: Sequence[Cost], limit: Decimal | None, currency: str, plan: str) -> list[Finding]:
    """The plans' added monthly cost against `cost.max_monthly_increase`."""
    if limit is None:
        return []
    known = sum((c.monthly for c in costs if c.monthly is not None), Decimal(0))
    unknown = [c for c in costs if c.monthly is None]
    biggest = sorted((c for c in costs if c.monthly and c.monthly > 0), key=lambda c: -(c.monthly or 0))[:3]
    top = ", ".join(f"{c.address} +{money(c.monthly or Decimal(0), currency)}" for c in biggest)
    if known > limit:
        text = (
            f"the plan adds {money(known, currency)}/month, over the limit of {money(limit, currency)}/month"
            + (f"; biggest: {top}" if top else "")
            + (f"; {len(unknown)} more change(s) have unknown prices" if unknown else "")
        )
        return [
            Finding("cost.max_monthly_increase", "error", "Monthly cost increase over the limit", text, plan)
        ]
    if unknown:
        text = (
            f"the plan adds at least {money(known, currency)}/month (limit {money(limit, currency)}/month), "
            f"but {len(unknown)} change(s) have unknown prices: "
            + ", ".join(c.address for c in unknown[:5])
            + (" …" if len(unknown) > 5 else "")
        )
        return [Finding("cost.unknown", "warning", "Unknown prices", text, plan)]
    return []


@dataclass(frozen=True)
class BudgetRoom:
    """Where a budget stands this period, for the headroom rule."""

    name: str
    scope: Mapping[str, Sequence[str]]
    currency: str
    amount: Decimal  # the period's budget (with what rolled over)
    expected: Decimal  # the forecast spend at period end, else what is spent so far
    end: date  # the period's last day
    days_left: int  # days of the period after the latest day with data
    rate: Decimal | None  # one unit of the plan's currency in the budget's; None: no rate known

    @property
    def headroom(self) -> Decimal:
        return self.amount - self.expected


def budget_of(
    change: Change, rooms: Sequence[BudgetRoom], aliases: Mapping[str, Sequence[str]]
) -> list[BudgetRoom]:
    """The budgets the resource's tags map to: those whose whole scope it matches, the most
    specific ones (most scope keys) when several do. Budgets without a scope are roll-ups, and
    scope keys a plan cannot know (accounts, services) never match."""
    matched = [room for room in rooms if room.scope and _matches(change, room.scope, aliases)]
    if not matched:
        return []
    most = max(len(room.scope) for room in matched)
    return [room for room in matched if len(room.scope) == most]


def _matches(
    change: Change, scope: Mapping[str, Sequence[str]], aliases: Mapping[str, Sequence[str]]
) -> bool:
    tags = change.tags.known if change.tags else {}
    for dimension, values in scope.items():
        wanted = {value.lower() for value in values}
        if dimension in TAG_DIMENSIONS:
            have = next((tags[k] for k in aliases.get(dimension, ()) if tags.get(k)), None)
        elif dimension.startswith("tag:"):
            have = tags.get(dimension.removeprefix("tag:"))
        elif dimension == "provider":
            have = PROVIDERS.get(change.provider, change.provider)
        elif dimension == "region":
            have = change.region
        else:
            return False
        if have is None or have.lower() not in wanted:
            return False
    return True


def budget_findings(
    changes: Sequence[Change],
    costs: Sequence[Cost],
    rooms: Sequence[BudgetRoom],
    aliases: Mapping[str, Sequence[str]],
    currency: str,
) -> list[Finding]:
    """Each budget's share of the plan, prorated to the days left in its period, against what
    it has left (its amount less the forecast spend)."""
    by_address = {(c.plan, c.address): c for c in costs}
    adds: dict[str, list[Cost]] = {}
    room_of = {room.name: room for room in rooms}
    for change in changes:
        cost = by_address.get((change.plan, change.address))
        if cost is None or (cost.monthly is not None and cost.monthly <= 0):
            continue
        for room in budget_of(change, rooms, aliases):
            adds.setdefault(room.name, []).append(cost)
    found = []
    for name, items in sorted(adds.items()):
        room = room_of[name]
        found.append(_against(room, items, currency))
    return [f for f in found if f is not None]


def _against(room: BudgetRoom, items: Sequence[Cost], currency: str) -> Finding | None:
    plan = items[0].plan
    monthly = sum((c.monthly for c in items if c.monthly is not None), Decimal(0))
    unknown = [c.address for c in items if c.monthly is None]
    scope = ", ".join(f"{k}={'|'.join(v)}" for k, v in sorted(room.scope.items()))
    if room.rate is None:
        text = (
            f"budget `{room.name}` ({scope}) is in {room.currency}; no {currency}→{room.currency} rate is set"
        )
        return Finding("cost.budget", "warning", "Budget not checked", text, plan)
    in_period = (monthly * room.rate * room.days_left / DAYS_PER_MONTH).quantize(Decimal("0.01"))
    left = room.headroom
    standing = (
        f"budget `{room.name}` ({scope}) has {money(left, room.currency)} left of "
        f"{money(room.amount, room.currency)} to {room.end.isoformat()} (expected spend "
        f"{money(room.expected, room.currency)})"
    )
    adds = f"the plan adds {money(monthly, currency)}/month, about {money(in_period, room.currency)} by then"
    if unknown:
        adds += f", plus {len(unknown)} change(s) with unknown prices"
    if monthly > 0 and in_period > left:
        return Finding("cost.budget", "error", "Over budget", f"{adds}, but {standing}", plan)
    if unknown:
        return Finding("cost.budget", "warning", "Budget headroom unsure", f"{adds}; {standing}", plan)
    return Finding("cost.budget", "notice", "Fits the budget", f"{adds}; {standing}", plan)
