"""Cost reports summed in SQL: what `/cost` and `finops-bot cost` answer with."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, func, not_, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from finops.costquery import CostQuery, Filter
from storage.models import CostDaily
from storage.types import Money

ZERO = Decimal(0)
NONE_LABELS = {"team": "(untagged)", "environment": "(untagged)", "cost_center": "(untagged)"}
HISTORY_DAYS = 120  # daily history read for a forecast


TAG = "tag:"  # a scope key `tag:KEY` filters on any tag in the stored tag map


def column(dimension: str) -> Any:
    if dimension.startswith(TAG):
        return CostDaily.tags[dimension.removeprefix(TAG)].as_string()
    return getattr(CostDaily, dimension)


def where(filters: Iterable[Filter]) -> list[ColumnElement[bool]]:
    """SQL conditions for `filters`: values match case-insensitively; a negated filter keeps the
    rows without a value too. Values are bound parameters, never pasted into SQL."""
    clauses: list[ColumnElement[bool]] = []
    for one in filters:
        col = column(one.dimension)
        matches = func.lower(col).in_([value.lower() for value in one.values])
        clauses.append(or_(col.is_(None), not_(matches)) if one.negate else matches)
    return clauses


@dataclass(frozen=True)
class Row:
    keys: tuple[str, ...]  # one value per group-by dimension
    currency: str
    amount: Decimal
    previous: Decimal


@dataclass(frozen=True)
class CostReport:
    query: CostQuery
    rows: list[Row]  # the top rows by amount, per currency, biggest first
    others: dict[str, tuple[int, Decimal, Decimal]]  # per currency: rows not shown, their amount, previous
    totals: dict[str, Decimal]  # per currency, the whole period
    previous: dict[str, Decimal]  # per currency, the comparison period
    daily: dict[str, list[tuple[date, Decimal]]]  # per currency, each day of the period (gaps as zero)
    history: dict[str, list[tuple[date, Decimal]]]  # per currency, daily before and in the period (forecast)
    data_until: date | None  # the latest day with data in the period, for this scope
    asked_end: date  # the period's end as asked (the query's is cut to `data_until`)


def _money_sum(condition: ColumnElement[bool]) -> Any:
    return func.sum(type_coerce(case((condition, CostDaily.billed_cost), else_=0), Money()))


def _label(dimension: str, value: Any) -> str:
    return NONE_LABELS.get(dimension, "(none)") if value is None else str(value)


async def _grouped(session: AsyncSession, query: CostQuery) -> list[Row]:
    period, compare = query.period, query.compare
    columns = [column(d) for d in query.group_by]
    in_period = CostDaily.usage_date.between(period.start, period.end)
    in_compare = CostDaily.usage_date.between(compare.start, compare.end)
    statement = (
        select(*columns, CostDaily.currency, _money_sum(in_period), _money_sum(in_compare))
        .where(or_(in_period, in_compare), *where(query.filters))
        .group_by(*columns, CostDaily.currency)
    )
    rows = []
    for *keys, currency, amount, previous in (await session.execute(statement)).tuples():
        labels = tuple(_label(d, k) for d, k in zip(query.group_by, keys, strict=True))
        rows.append(Row(labels, currency, amount or ZERO, previous or ZERO))
    return rows


async def daily_totals(
    session: AsyncSession, filters: Sequence[Filter], start: date, end: date
) -> dict[str, list[tuple[date, Decimal]]]:
    statement = (
        select(CostDaily.currency, CostDaily.usage_date, func.sum(CostDaily.billed_cost))
        .where(CostDaily.usage_date.between(start, end), *where(filters))
        .group_by(CostDaily.currency, CostDaily.usage_date)
    )
    amounts: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for currency, day, amount in (await session.execute(statement)).tuples():
        amounts[currency][day] = amount
    return {currency: _filled(days, start, end) for currency, days in sorted(amounts.items())}


def from_first_cost(points: list[tuple[date, Decimal]], start: date) -> list[tuple[date, Decimal]]:
    """`points` from the first day with a cost (at the latest `start`): days before a scope had
    any cost are not zero spend for a forecast to learn from."""
    first = next((i for i, (day, cost) in enumerate(points) if cost or day >= start), len(points))
    return points[first:]


def _filled(amounts: Mapping[date, Decimal], start: date, end: date) -> list[tuple[date, Decimal]]:
    days = (end - start).days + 1
    return [(day, amounts.get(day, ZERO)) for day in (start + timedelta(n) for n in range(days))]


def _top(rows: list[Row], top: int) -> tuple[list[Row], dict[str, tuple[int, Decimal, Decimal]]]:
    shown: list[Row] = []
    others: dict[str, tuple[int, Decimal, Decimal]] = {}
    by_currency: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_currency[row.currency].append(row)
    for currency, group in sorted(by_currency.items(), key=lambda kv: -sum(r.amount for r in kv[1])):
        group.sort(key=lambda r: (-r.amount, -r.previous, r.keys))
        shown += group[:top]
        rest = group[top:]
        if rest:
            others[currency] = (
                len(rest),
                sum((r.amount for r in rest), ZERO),
                sum((r.previous for r in rest), ZERO),
            )
    return shown, others


async def data_until(session: AsyncSession, filters: Sequence[Filter], end: date) -> date | None:
    statement = select(func.max(CostDaily.usage_date)).where(CostDaily.usage_date <= end, *where(filters))
    last: date | None = await session.scalar(statement)
    return last


def _like_for_like(query: CostQuery, last: date | None) -> CostQuery:
    """The query cut to the days with data: a period whose last days are not loaded yet (billing
    data arrives a day or two late) is compared with as many days of the comparison period."""
    period, compare = query.period, query.compare
    if last is None or not period.start <= last < period.end:
        return query
    days = (last - period.start).days
    return replace(
        query,
        period=replace(period, end=last),
        compare=replace(compare, end=min(compare.end, compare.start + timedelta(days=days))),
    )


async def cost_report(session: AsyncSession, query: CostQuery) -> CostReport:
    """The query's rows, totals and daily spend, and the comparison period's, from `cost_daily`.

    The report's query is cut to the latest day with data (see `_like_for_like`)."""
    asked_end = query.period.end
    last = await data_until(session, query.filters, asked_end)
    query = _like_for_like(query, last)
    rows = await _grouped(session, query)
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    previous: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        totals[row.currency] += row.amount
        previous[row.currency] += row.previous
    shown, others = _top([r for r in rows if r.amount or r.previous], query.top)
    period = query.period
    history_start = period.start - timedelta(days=HISTORY_DAYS) if query.forecast else period.start
    history = await daily_totals(session, query.filters, history_start, period.end)
    daily = {c: [(d, a) for d, a in points if d >= period.start] for c, points in history.items()}
    return CostReport(
        query=query,
        rows=shown,
        others=others,
        totals=dict(totals),
        previous=dict(previous),
        daily=daily,
        history={c: from_first_cost(p, period.start) for c, p in history.items()} if query.forecast else {},
        data_until=last if last is not None and last >= period.start else None,
        asked_end=asked_end,
    )


def change(amount: Decimal, before: Decimal) -> Decimal | None:
    """The change in percent, one decimal; None when there was nothing before."""
    if not before:
        return None
    return ((amount - before) / before * 100).quantize(Decimal("0.1"))
