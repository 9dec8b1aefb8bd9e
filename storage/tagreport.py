"""Tag governance: how much of the cost carries the tags the policy requires, summed in SQL.

A cost carries a tag when its tag map has the key with a non-blank value. A required key also
counts when stored as AWS's `user:KEY` (how CUR names cost allocation tags), and in any case when
the policy's keys are case-insensitive (`tags.case.keys`): the spellings present in the data are
looked up first, then matched in SQL, so nothing is summed in Python. Cost is BilledCost, as
`/cost` reports it. Figures come from `cost_daily` (every cost) and, for the top untagged
resources, from `cost_resources` (cost with a ResourceId, by billing period).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, not_, or_, select, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from finops.costquery import BY_WORDS
from finops.errors import UserError
from finops.policy.spec import Policy
from storage.models import DIMENSIONS, CostDaily, CostResource
from storage.partitions import month_start, next_month
from storage.reports import NONE_LABELS, TAG, column
from storage.types import Money

ZERO = Decimal(0)
AWS_PREFIX = "user:"  # CUR's cost allocation tags: `user:owner` is the `owner` tag
DEFAULT_MONTHS = 6
DEFAULT_TOP = 10
HOW_TO_DECLARE = (
    "no required tags are declared: list them under [policies.tags] in FINOPS_CONFIG, e.g. "
    'required = ["owner", "cost-center"] (or `tags: {required: [owner, cost-center]}` in the policy '
    "file it names with `file = ...`); the CLI also takes --policy FILE"
)


@dataclass(frozen=True)
class Required:
    keys: tuple[str, ...]
    insensitive: bool  # keys match in any case


def required(policy: Policy | None) -> Required:
    """The required tag keys of `policy`; `UserError` saying how to declare them when there are none."""
    if policy is None or not policy.tags.required:
        raise UserError(HOW_TO_DECLARE)
    return Required(tuple(policy.tags.required), policy.tags.case.keys == "insensitive")


def dimension(word: str) -> str:
    """A `--by` word as a `cost_daily` dimension (`account` -> billing_account) or `tag:KEY`."""
    if word[: len(TAG)].lower() == TAG:
        key = word[len(TAG) :].strip()
        if not key:
            raise UserError("`tag:` needs a tag key, e.g. tag:owner")
        return TAG + key
    name = word.strip().lower().replace("-", "_")
    found = BY_WORDS.get(name) or (name if name in DIMENSIONS else None)
    if found is None:
        raise UserError(f"cannot group by {word!r}; use one of {', '.join(DIMENSIONS)} or tag:KEY")
    return found


def months_back(month: date, count: int) -> list[date]:
    """The `count` months ending with `month` (first days, oldest first)."""
    found = [month]
    while len(found) < count:
        found.insert(0, month_start(found[0] - timedelta(days=1)))
    return found


def share(part: Decimal, whole: Decimal) -> Decimal | None:
    """`part` in percent of `whole`, one decimal; None when there is no cost to share."""
    if whole <= 0:
        return None
    return (part / whole * 100).quantize(Decimal("0.1"))


# --- matching required keys in SQL ------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """Per required key, the stored keys that count for it."""

    spellings: dict[str, tuple[str, ...]]

    def carries(self, tags: Any, key: str) -> ColumnElement[bool]:
        found = self.spellings[key]
        if not found:
            return false()
        return or_(*(func.trim(func.coalesce(tags[s].as_string(), "")) != "" for s in found))

    def carries_all(self, tags: Any) -> ColumnElement[bool]:
        return and_(true(), *(self.carries(tags, key) for key in self.spellings))


def spellings(required: Required, present: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Per required key, the keys of `present` that count for it: itself and `user:KEY`, in any
    case when keys are case-insensitive."""

    def norm(key: str) -> str:
        return key.casefold() if required.insensitive else key

    present = set(present)
    return {
        key: tuple(sorted(k for k in present if norm(key) in (norm(k), norm(k.removeprefix(AWS_PREFIX)))))
        for key in required.keys
    }


async def tag_keys(session: AsyncSession, start: date, end: date) -> set[str]:
    """Every tag key used by a cost between `start` and `end`."""
    period = CostDaily.usage_date.between(start, end)
    if session.get_bind().dialect.name == "postgresql":
        statement = select(func.json_object_keys(CostDaily.tags)).where(period).distinct()
    else:
        each = func.json_each(CostDaily.tags).table_valued("key")
        statement = select(each.c.key).join_from(CostDaily, each, true()).where(period).distinct()
    return {str(key) for key in (await session.scalars(statement))}


async def match(session: AsyncSession, required: Required, start: date, end: date) -> Match:
    """How the required keys are spelt in the data between `start` and `end`."""
    if required.insensitive:
        return Match(spellings(required, await tag_keys(session, start, end)))
    variants = [key for k in required.keys for key in (k, AWS_PREFIX + k)]
    return Match(spellings(required, variants))


def _sum_if(condition: ColumnElement[bool], cost: Any) -> Any:
    return func.sum(type_coerce(case((condition, cost), else_=0), Money()))


# --- the figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    currency: str
    total: Decimal
    compliant: Decimal  # carrying every required key
    tagged: dict[str, Decimal]  # per required key, the cost carrying it

    @property
    def untagged(self) -> Decimal:
        """Missing at least one required key."""
        return self.total - self.compliant

    @property
    def score(self) -> Decimal | None:
        return share(self.compliant, self.total)


@dataclass(frozen=True)
class Spend:
    values: tuple[str, ...]  # one per dimension asked
    amount: Decimal


@dataclass(frozen=True)
class Resource:
    resource_id: str
    provider: str
    billing_account: str
    service: str | None
    amount: Decimal  # its cost missing at least one required key
    missing: tuple[str, ...]  # the required keys it lacks (on some of that cost)


@dataclass(frozen=True)
class Group:
    value: str
    total: Decimal
    compliant: Decimal

    @property
    def score(self) -> Decimal | None:
        return share(self.compliant, self.total)


@dataclass(frozen=True)
class Month:
    month: date
    total: Decimal
    compliant: Decimal

    @property
    def score(self) -> Decimal | None:
        return share(self.compliant, self.total)


def _label(dim: str, value: Any) -> str:
    return NONE_LABELS.get(dim, "(none)") if value is None else str(value)


async def summaries(session: AsyncSession, found: Match, start: date, end: date) -> list[Summary]:
    """Per currency (biggest first): the total, the compliant cost and each key's tagged cost."""
    tags, cost = CostDaily.tags, CostDaily.billed_cost
    keys = list(found.spellings)
    statement = (
        select(
            CostDaily.currency,
            func.sum(cost),
            _sum_if(found.carries_all(tags), cost),
            *(_sum_if(found.carries(tags, key), cost) for key in keys),
        )
        .where(CostDaily.usage_date.between(start, end))
        .group_by(CostDaily.currency)
    )
    rows = (await session.execute(statement)).tuples()
    made = [
        Summary(
            currency,
            total or ZERO,
            compliant or ZERO,
            dict(zip(keys, (t or ZERO for t in each), strict=True)),
        )
        for currency, total, compliant, *each in rows
    ]
    return sorted(made, key=lambda s: (-s.total, s.currency))


async def untagged_by(
    session: AsyncSession,
    found: Match,
    start: date,
    end: date,
    currency: str,
    dims: Sequence[str],
    top: int,
) -> list[Spend]:
    """The cost missing a required key, by `dims`, biggest first (the first `top`)."""
    columns = [column(d) for d in dims]
    amount = func.sum(CostDaily.billed_cost)
    statement = (
        select(*columns, amount)
        .where(
            CostDaily.usage_date.between(start, end),
            CostDaily.currency == currency,
            not_(found.carries_all(CostDaily.tags)),
        )
        .group_by(*columns)
        .order_by(amount.desc(), *columns)
        .limit(top)
    )
    return [
        Spend(tuple(_label(d, v) for d, v in zip(dims, values, strict=True)), total)
        for *values, total in (await session.execute(statement)).tuples()
        if total
    ]


async def untagged_resources(
    session: AsyncSession, found: Match, month: date, currency: str, top: int
) -> list[Resource]:
    """The resources with the most cost missing a required key in the billing period `month`."""
    tags, keys = CostResource.tags, list(found.spellings)
    amount = func.sum(CostResource.billed_cost)
    group = (
        CostResource.resource_id,
        CostResource.provider,
        CostResource.billing_account,
        CostResource.service,
    )
    statement = (
        select(
            *group,
            amount,
            *(func.max(case((found.carries(tags, key), 0), else_=1)) for key in keys),
        )
        .where(
            CostResource.billing_period_start == month,
            CostResource.currency == currency,
            not_(found.carries_all(tags)),
        )
        .group_by(*group)
        .order_by(amount.desc(), CostResource.resource_id)
        .limit(top)
    )
    return [
        Resource(
            resource,
            provider,
            account,
            service,
            total,
            tuple(k for k, m in zip(keys, missing, strict=True) if m),
        )
        for resource, provider, account, service, total, *missing in (
            await session.execute(statement)
        ).tuples()
    ]


async def groups(
    session: AsyncSession, found: Match, start: date, end: date, by: str, top: int
) -> tuple[dict[str, list[Group]], dict[str, int]]:
    """Per currency, the `top` groups of `by` with the worst compliance score (lowest first; the
    bigger first at the same score; groups without cost last), and how many are not shown.
    Rows are streamed and only the worst kept, so many groups (`tag:Name`) stay cheap."""
    col, cost = column(by), CostDaily.billed_cost
    statement = (
        select(CostDaily.currency, col, func.sum(cost), _sum_if(found.carries_all(CostDaily.tags), cost))
        .where(CostDaily.usage_date.between(start, end))
        .group_by(CostDaily.currency, col)
    )
    kept: dict[str, list[Group]] = defaultdict(list)
    seen: dict[str, int] = defaultdict(int)
    async for currency, value, total, compliant in await session.stream(statement):
        seen[currency] += 1
        kept[currency].append(Group(_label(by, value), total or ZERO, compliant or ZERO))
        if len(kept[currency]) >= 4 * top:
            kept[currency] = sorted(kept[currency], key=_worst_first)[:top]
    shown = {c: sorted(found, key=_worst_first)[:top] for c, found in kept.items()}
    return shown, {c: seen[c] - len(shown[c]) for c in shown}


def _worst_first(group: Group) -> tuple[bool, Decimal, Decimal, str]:
    score = group.score
    return (score is None, score or ZERO, -group.total, group.value)


async def trend(session: AsyncSession, found: Match, months: Sequence[date]) -> dict[str, list[Month]]:
    """Per currency, the total and compliant cost of each month (summed per day in SQL)."""
    start, end = months[0], next_month(months[-1]) - timedelta(days=1)
    cost = CostDaily.billed_cost
    statement = (
        select(
            CostDaily.currency,
            CostDaily.usage_date,
            func.sum(cost),
            _sum_if(found.carries_all(CostDaily.tags), cost),
        )
        .where(CostDaily.usage_date.between(start, end))
        .group_by(CostDaily.currency, CostDaily.usage_date)
    )
    sums: dict[str, dict[date, list[Decimal]]] = defaultdict(lambda: {m: [ZERO, ZERO] for m in months})
    for currency, day, total, compliant in (await session.execute(statement)).tuples():
        bucket = sums[currency][month_start(day)]
        bucket[0] += total or ZERO
        bucket[1] += compliant or ZERO
    return {c: [Month(m, *by_month[m]) for m in months] for c, by_month in sums.items()}


async def default_month(session: AsyncSession, today: date) -> date:
    """The last full calendar month with data; the current month when none has any."""
    this_month = month_start(today)
    last = await session.scalar(
        select(func.max(CostDaily.usage_date)).where(CostDaily.usage_date < this_month)
    )
    return month_start(last) if last else this_month


# --- the report and the digest's week ---------------------------------------------------------


@dataclass(frozen=True)
class CurrencyReport:
    summary: Summary
    by_account: list[Spend]  # untagged spend, biggest first
    by_service: list[Spend]
    resources: list[Resource]  # the top untagged resources of the billing period
    groups: list[Group]  # by the report's dimension, worst score first
    more_groups: int  # groups not shown
    trend: list[Month]  # oldest first, ending with the report's month


@dataclass(frozen=True)
class TagReport:
    required: Required
    spellings: dict[str, tuple[str, ...]]  # per required key, the stored keys counted for it
    month: date  # its first day
    end: date  # its last day
    complete: bool  # the month is over
    by: str
    top: int
    currencies: list[CurrencyReport]  # biggest first


async def report(
    session: AsyncSession,
    required: Required,
    today: date,
    *,
    month: date | None = None,
    months: int = DEFAULT_MONTHS,
    by: str = "team",
    top: int = DEFAULT_TOP,
) -> TagReport:
    """Tag compliance for `month` (default: the last full month with data), in each currency."""
    month = month_start(month) if month else await default_month(session, today)
    end = next_month(month) - timedelta(days=1)
    window = months_back(month, months)
    found = await match(session, required, window[0], end)
    shown, more = await groups(session, found, month, end, by, top)
    trends = await trend(session, found, window)
    currencies = []
    for one in await summaries(session, found, month, end):
        c = one.currency
        currencies.append(
            CurrencyReport(
                summary=one,
                by_account=await untagged_by(session, found, month, end, c, ["billing_account"], top),
                by_service=await untagged_by(session, found, month, end, c, ["service"], top),
                resources=await untagged_resources(session, found, month, c, top),
                groups=shown.get(c, []),
                more_groups=more.get(c, 0),
                trend=trends.get(c, []),
            )
        )
    return TagReport(required, found.spellings, month, end, end < today, by, top, currencies)


@dataclass(frozen=True)
class Week:
    summary: Summary
    before: Summary | None  # the week before, in the same currency
    most: Spend | None  # the billing account and service with the most untagged cost


async def week(session: AsyncSession, required: Required, start: date) -> list[Week]:
    """The seven days from `start` against the seven before, per currency (biggest first)."""
    end, before = start + timedelta(days=6), start - timedelta(days=7)
    found = await match(session, required, before, end)
    earlier = {s.currency: s for s in await summaries(session, found, before, start - timedelta(days=1))}
    weeks = []
    for one in await summaries(session, found, start, end):
        most = await untagged_by(session, found, start, end, one.currency, ["billing_account", "service"], 1)
        weeks.append(Week(one, earlier.get(one.currency), most[0] if most else None))
    return weeks
