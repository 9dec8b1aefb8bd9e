"""Budgets in the store: list, find, save and delete (audited), the config's budgets kept in step,
their spend (converted, rolled up), evaluations, alerts sent and amendments."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from finops.budgets import (
    DEFAULT_THRESHOLDS,
    Allocation,
    BudgetStatus,
    Rate,
    Rates,
    allocation,
    carried_over,
    evaluate,
    in_currency,
    period_bounds,
    previous_period,
    rates_note,
)
from finops.costquery import Filter
from finops.errors import UserError
from storage import audit
from storage.models import Budget, BudgetAlert, BudgetAmendment, BudgetEvaluation, CostDaily
from storage.reports import daily_totals, from_first_cost, where
from storage.types import utcnow

HISTORY_DAYS = 120  # daily spend read before the period, for the forecast
CONFIG = "config"  # `managed_by` of the budgets the config file declares


@dataclass(frozen=True)
class BudgetSpec:
    name: str
    amount: Decimal
    currency: str = "USD"
    period: str = "monthly"
    scope: dict[str, list[str]] = field(default_factory=dict)  # dimension -> values (any of)
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    channel: str | None = None
    parent: str | None = None  # a budget's name
    rollover: bool = False
    rollover_cap: Decimal | None = None
    owners: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    escalation: str | None = None
    forecast_alert: bool = True


def filters(scope: dict[str, Any]) -> list[Filter]:
    return [Filter(dimension, tuple(values)) for dimension, values in sorted(scope.items())]


async def list_budgets(session: AsyncSession) -> list[Budget]:
    return list(await session.scalars(select(Budget).order_by(func.lower(Budget.name))))


async def find(session: AsyncSession, name: str) -> Budget | None:
    budget: Budget | None = await session.scalar(
        select(Budget).where(func.lower(Budget.name) == name.strip().lower())
    )
    return budget


async def named(session: AsyncSession, name: str) -> Budget:
    """The budget called `name`, or a `UserError` naming the budgets there are."""
    found = await find(session, name)
    if found is None:
        names = [b.name for b in await list_budgets(session)]
        there = f"the budgets are: {', '.join(names)}" if names else "there are no budgets yet"
        raise UserError(f"There is no budget called {name!r}; {there}.")
    return found


def refuse_config(budget: Budget, what: str) -> None:
    """A budget the config file declares is changed there, not from Slack or the CLI."""
    if budget.managed_by == CONFIG:
        raise UserError(
            f"Budget {budget.name!r} is declared in the finops-bot config file (FINOPS_CONFIG), which is "
            f"the source of truth for it, so it cannot be {what} here; change it in that file."
        )


async def children(session: AsyncSession, budget: Budget) -> list[Budget]:
    return list(
        await session.scalars(select(Budget).where(Budget.parent_id == budget.id).order_by(Budget.name))
    )


async def save(
    session: AsyncSession,
    spec: BudgetSpec,
    *,
    actor: str,
    channel: str,
    original: str | None = None,
    managed_by: str = "store",
) -> tuple[Budget, bool]:
    """Create the budget, or update the one named `original` (or `spec.name`); audited, and an
    amount change kept as an amendment. Returns it and whether it is new. A config budget is
    only changed by the config (`managed_by="config"`)."""
    budget = await find(session, original or spec.name)
    created = budget is None
    if budget is not None and managed_by != CONFIG:
        refuse_config(budget, "changed")
    parent = await named(session, spec.parent) if spec.parent else None
    if budget is None:
        budget = Budget(name=spec.name)
        session.add(budget)
    elif parent is not None and await _descends(session, parent, budget):
        raise UserError(f"{parent.name} is {budget.name} or under it, so it cannot be its parent.")
    before = None if created else described(budget)
    if not created and budget.amount != spec.amount:
        session.add(
            BudgetAmendment(
                budget_id=budget.id,
                amount_before=budget.amount,
                amount_after=spec.amount,
                currency=spec.currency,
                reason=f"edited via {channel}",
                requested_by=actor,
                approved_by=actor,
            )
        )
    budget.name = spec.name
    budget.amount = spec.amount
    budget.currency = spec.currency
    budget.period = spec.period
    budget.scope = {k: list(v) for k, v in spec.scope.items()}
    budget.thresholds = list(spec.thresholds)
    budget.channel = spec.channel
    budget.parent_id = parent.id if parent else None
    budget.rollover = spec.rollover
    budget.rollover_cap = spec.rollover_cap
    budget.owners = list(spec.owners)
    budget.approvers = list(spec.approvers)
    budget.escalation = spec.escalation
    budget.forecast_alert = spec.forecast_alert
    budget.managed_by = managed_by
    budget.owner = budget.owner or actor
    await session.flush()
    after = described(budget)
    if before != after:
        await audit.record(
            session,
            actor=actor,
            channel=channel,
            action="budget.create" if created else "budget.update",
            subject_type="budget",
            subject_id=str(budget.id),
            details={"before": before, "after": after},
        )
    return budget, created


async def _descends(session: AsyncSession, budget: Budget, ancestor: Budget) -> bool:
    """Whether `budget` is `ancestor` or under it (a parent that would make a loop)."""
    seen: set[int] = set()
    current: Budget | None = budget
    while current is not None and current.id not in seen:
        if current.id == ancestor.id:
            return True
        seen.add(current.id)
        current = await session.get(Budget, current.parent_id) if current.parent_id else None
    return False


async def delete(session: AsyncSession, name: str, *, actor: str, channel: str) -> Budget:
    """Delete the budget (its alerts, evaluations and amendments go with it); audited. Its
    children keep going without a parent."""
    budget = await named(session, name)
    refuse_config(budget, "deleted")
    await _delete(session, budget, actor=actor, channel=channel)
    return budget


async def _delete(session: AsyncSession, budget: Budget, *, actor: str, channel: str) -> None:
    for child in await children(session, budget):
        child.parent_id = None
    for table in (BudgetAlert, BudgetEvaluation, BudgetAmendment):
        await session.execute(sql_delete(table).where(table.budget_id == budget.id))
    await audit.record(
        session,
        actor=actor,
        channel=channel,
        action="budget.delete",
        subject_type="budget",
        subject_id=str(budget.id),
        details={"before": described(budget)},
    )
    await session.delete(budget)
    await session.flush()


async def sync_config(session: AsyncSession, specs: list[BudgetSpec]) -> dict[str, list[str]]:
    """Make the stored config budgets what the config declares: create, update, and delete those
    it no longer declares. A budget made in Slack with a name the config now declares is taken
    over by the config. Parents first, so a child finds its parent. What changed, by name."""
    changed: dict[str, list[str]] = {"created": [], "updated": [], "deleted": []}
    declared = {spec.name.lower() for spec in specs}
    for budget in await list_budgets(session):
        if budget.managed_by == CONFIG and budget.name.lower() not in declared:
            changed["deleted"].append(budget.name)
            await _delete(session, budget, actor="config", channel="config")
    by_name = {spec.name.lower(): spec for spec in specs}
    done: set[str] = set()

    async def put(spec: BudgetSpec) -> None:
        if spec.name.lower() in done:
            return
        done.add(spec.name.lower())
        parent = by_name.get((spec.parent or "").lower())
        if parent is not None:
            await put(parent)
        existing = await find(session, spec.name)
        before = described(existing) if existing else None
        budget, created = await save(session, spec, actor="config", channel="config", managed_by=CONFIG)
        if created:
            changed["created"].append(budget.name)
        elif before != described(budget):
            changed["updated"].append(budget.name)

    for spec in specs:
        await put(spec)
    return changed


def described(budget: Budget) -> dict[str, Any]:
    return {
        "name": budget.name,
        "amount": str(budget.amount),
        "currency": budget.currency,
        "period": budget.period,
        "scope": budget.scope,
        "thresholds": budget.thresholds,
        "parent_id": budget.parent_id,
        "rollover": budget.rollover,
        "rollover_cap": None if budget.rollover_cap is None else str(budget.rollover_cap),
        "owners": budget.owners,
        "approvers": budget.approvers,
        "escalation": budget.escalation,
        "forecast_alert": budget.forecast_alert,
        "channel": budget.channel,
        "managed_by": budget.managed_by,
    }


async def allocation_of(
    session: AsyncSession, spec: BudgetSpec, rates: Rates, today: date, original: str | None = None
) -> tuple[Budget, Allocation] | None:
    """How the budget `spec` describes fits under its parent (None without a parent); the other
    children's amounts and its own are converted to the parent's currency at today's rates."""
    if not spec.parent:
        return None
    parent = await named(session, spec.parent)
    me = (original or spec.name).lower()
    siblings = []
    for child in await children(session, parent):
        if child.name.lower() == me:
            continue
        value = rates.convert(child.amount, child.currency, parent.currency, today)
        siblings.append((value if value is not None else child.amount, child.period))
    own = rates.convert(spec.amount, spec.currency, parent.currency, today)
    mine = (own if own is not None else spec.amount, spec.period)
    return parent, allocation((parent.amount, parent.period), siblings, mine)


def over_allocation(found: tuple[Budget, Allocation] | None, spec: BudgetSpec) -> str | None:
    """The warning when the budget is set above what its parent has left."""
    if found is None or not found[1].over:
        return None
    parent, fit = found
    period = parent.period.removesuffix("ly") if parent.period != "monthly" else "month"
    return (
        f"{spec.name} ({fit.child.quantize(Decimal('0.01')):,} {parent.currency} a {period}) is more than "
        f"{parent.name} has left: {fit.remaining.quantize(Decimal('0.01')):,} of "
        f"{fit.parent_amount.quantize(Decimal('0.01')):,} {parent.currency} after its other children."
    )


@dataclass
class Spend:
    daily: list[tuple[date, Decimal]]  # from HISTORY_DAYS before the period to the latest day
    rates: Rates


async def _series(
    session: AsyncSession, budget: Budget, start: date, last: date, rates: Rates, depth: int = 0
) -> list[tuple[date, Decimal]]:
    """Daily spend in the budget's currency: its scope's, or, for a parent without a scope of its
    own, its children's rolled up."""
    kids = await children(session, budget) if not budget.scope and depth < 10 else []
    if not kids:
        return in_currency(
            await daily_totals(session, filters(budget.scope), start, last), budget.currency, rates
        )
    days: dict[date, Decimal] = {}
    for child in kids:
        for day, cost in await _series(session, child, start, last, rates, depth + 1):
            converted = rates.convert(cost, child.currency, budget.currency, day)
            days[day] = days.get(day, Decimal(0)) + (converted if converted is not None else Decimal(0))
    return sorted(days.items())


async def spend(session: AsyncSession, budget: Budget, start: date, as_of: date, rates: Rates) -> Spend:
    """Daily spend in the budget's scope and currency, from HISTORY_DAYS before `start` to the
    latest day with data up to `as_of` (empty when there is none in the period)."""
    last = await session.scalar(select(func.max(CostDaily.usage_date)).where(CostDaily.usage_date <= as_of))
    if last is None or last < start:
        return Spend([], rates)
    series = await _series(session, budget, start - timedelta(days=HISTORY_DAYS), last, rates)
    return Spend(from_first_cost(series, start), rates)


async def period_spent(
    session: AsyncSession, budget: Budget, start: date, end: date, rates: Rates
) -> Decimal:
    """What the budget's scope cost from `start` to `end` (both included), in its currency."""
    return sum((cost for _, cost in await _series(session, budget, start, end, rates)), Decimal(0))


@dataclass(frozen=True)
class BudgetAnswer:
    budget: Budget
    status: BudgetStatus
    daily: list[tuple[date, Decimal]]  # the period's days so far (for the burn chart)
    rates: Rates = field(default_factory=Rates)  # the exchange rates used, and what had none
    parent: str | None = None

    @property
    def rates_note(self) -> str | None:
        return rates_note(self.rates.used, self.rates.missing, self.budget.currency)


async def carried(
    session: AsyncSession,
    budget: Budget,
    day: date,
    rates: Rates,
    history: list[BudgetAmendment] | None = None,
) -> Decimal:
    """What rolls over into the period holding `day` (zero without rollover); `history`: the
    budget's amendments, when read already."""
    if not budget.rollover:
        return Decimal(0)
    start, end = previous_period(day, budget.period)
    if budget.created_at.date() > end:
        return Decimal(0)  # the budget did not exist then
    if history is None:
        history = await amendments(session, budget.id)
    amount = amount_at(budget, history, datetime.combine(end, time.max, tzinfo=UTC))
    spent = await period_spent(session, budget, start, end, Rates(rates.table))
    return carried_over(amount, spent, budget.rollover_cap)


async def standing(session: AsyncSession, budget: Budget, as_of: date, table: Sequence[Rate]) -> BudgetAnswer:
    """Where the budget stands in its period as of `as_of` (the latest day with data up to it)."""
    rates = Rates(table)
    start, _ = period_bounds(as_of, budget.period)
    found = await spend(session, budget, start, as_of, rates)
    daily = found.daily or [(as_of, Decimal(0))]
    history = await amendments(session, budget.id)
    carry = await carried(session, budget, daily[-1][0], rates, history)
    amount = amount_at(budget, history, datetime.combine(as_of, time.max, tzinfo=UTC))
    status = await asyncio.to_thread(evaluate, amount, budget.period, daily, budget.thresholds, carry)
    parent = await session.get(Budget, budget.parent_id) if budget.parent_id else None
    return BudgetAnswer(
        budget,
        status,
        [(d, c) for d, c in daily if d >= status.start],
        rates,
        parent.name if parent else None,
    )


async def record_evaluation(
    session: AsyncSession, budget: Budget, status: BudgetStatus, rates: Rates
) -> None:
    """Keep where the budget stood on `status.as_of` and the rates used (the day's latest)."""
    row = await session.scalar(
        select(BudgetEvaluation).where(
            BudgetEvaluation.budget_id == budget.id, BudgetEvaluation.as_of == status.as_of
        )
    )
    if row is None:
        row = BudgetEvaluation(budget_id=budget.id, as_of=status.as_of)
        session.add(row)
    row.period_start = status.start
    row.currency = budget.currency
    row.amount = status.amount
    row.spent = status.spent
    row.forecast = status.forecast
    row.rates = {
        "used": rates.used,
        "missing": {code: str(value.quantize(Decimal("0.01"))) for code, value in rates.missing.items()},
    }
    row.evaluated_at = utcnow()
    await session.flush()


async def alerts_of(session: AsyncSession, budget_id: int, period_start: date) -> list[BudgetAlert]:
    return list(
        await session.scalars(
            select(BudgetAlert)
            .where(BudgetAlert.budget_id == budget_id, BudgetAlert.period_start == period_start)
            .order_by(BudgetAlert.id)
        )
    )


async def amend(
    session: AsyncSession,
    budget: Budget,
    amount: Decimal,
    *,
    requested_by: str,
    approved_by: str,
    reason: str | None,
    action_id: int | None = None,
) -> BudgetAmendment:
    """Change the budget's amount, keeping the change as an amendment and in the audit log."""
    row = BudgetAmendment(
        budget_id=budget.id,
        amount_before=budget.amount,
        amount_after=amount,
        currency=budget.currency,
        reason=reason,
        requested_by=requested_by,
        approved_by=approved_by,
        action_id=action_id,
    )
    session.add(row)
    before = described(budget)
    budget.amount = amount
    await session.flush()
    await audit.record(
        session,
        actor=approved_by,
        channel="slack",
        action="budget.amend",
        subject_type="budget",
        subject_id=str(budget.id),
        details={
            "before": before,
            "after": described(budget),
            "requested_by": requested_by,
            "reason": reason,
        },
    )
    return row


async def amendments(session: AsyncSession, budget_id: int) -> list[BudgetAmendment]:
    return list(
        await session.scalars(
            select(BudgetAmendment).where(BudgetAmendment.budget_id == budget_id).order_by(BudgetAmendment.id)
        )
    )


def amount_at(budget: Budget, history: list[BudgetAmendment], moment: datetime) -> Decimal:
    """The amount in force at `moment`: the last amendment's before it, else what the first one
    after it changed from, else today's."""
    before = [a for a in history if a.created_at <= moment]
    if before:
        return before[-1].amount_after
    return history[0].amount_before if history else budget.amount


async def contributors(
    session: AsyncSession, budget: Budget, start: date, end: date, rates: Rates, top: int = 5
) -> list[tuple[str, Decimal]]:
    """What the budget's spend from `start` to `end` is made of, largest first: its children for
    a roll-up parent, else the services in its scope (in its currency, at `end`'s rates)."""
    kids = await children(session, budget) if not budget.scope else []
    if kids:
        parts = []
        for kid in kids:
            cost = await period_spent(session, kid, start, end, rates)
            converted = rates.convert(cost, kid.currency, budget.currency, end)
            parts.append((kid.name, converted if converted is not None else Decimal(0)))
    else:
        rows = await session.execute(
            select(CostDaily.service, CostDaily.currency, func.sum(CostDaily.billed_cost))
            .where(CostDaily.usage_date.between(start, end), *where(filters(budget.scope)))
            .group_by(CostDaily.service, CostDaily.currency)
        )
        totals: dict[str, Decimal] = {}
        for service, currency, cost in rows.tuples():
            converted = rates.convert(cost, currency, budget.currency, end)
            name = service or "(no service)"
            if converted is not None:
                totals[name] = totals.get(name, Decimal(0)) + converted
        parts = list(totals.items())
    kept = [(name, cost) for name, cost in parts if cost]
    return sorted(kept, key=lambda p: (-p[1], p[0]))[:top]


async def move_alert(
    session: AsyncSession,
    alert_id: int,
    status: str,
    by: str,
    *,
    allowed_from: Sequence[str],
    snoozed_until: datetime | None = None,
) -> bool:
    """Move a budget alert to `status` in one conditional UPDATE (a double click moves it once).
    Whether it moved."""
    values: dict[str, Any] = {"status": status}
    if status == "acknowledged":
        values.update(acknowledged_by=by, acknowledged_at=utcnow())
    if status == "snoozed":
        values.update(snoozed_until=snoozed_until)
    result = await session.execute(
        update(BudgetAlert)
        .where(BudgetAlert.id == alert_id, BudgetAlert.status.in_(list(allowed_from)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    moved = bool(getattr(result, "rowcount", 0) == 1)
    if moved:
        session.expire_all()
    return moved
