"""Tag governance in SQL on both databases; every figure is worked out here from the rows loaded."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from finops.errors import UserError
from finops.policy import spec
from storage import tagreport
from storage.db import unit_of_work
from storage.tagreport import Required, TagReport
from tests.factories import frame, item, load

TODAY = date(2026, 11, 20)
OCTOBER = date(2026, 10, 1)
KEYS = ("owner", "cost-center")


@dataclass(frozen=True)
class Cost:
    day: str
    cost: str
    tags: dict[str, str] = field(default_factory=dict)
    account: str = "111111111111"
    service: str = "Amazon EC2"
    currency: str = "USD"
    resource: str | None = None


ROWS = (
    Cost("2026-10-03", "100.00", {"owner": "ann", "cost-center": "cc1", "team": "data"}, resource="i-1"),
    Cost("2026-10-13", "20.00", {"owner": "ann", "cost-center": "cc1", "team": "data"}, resource="i-1"),
    Cost("2026-10-04", "40.50", {"owner": "bob", "team": "data"}, service="Amazon S3", resource="b-1"),
    Cost("2026-10-05", "25.25", {"Owner": "cy", "Cost-Center": "cc2", "team": "web"}, "222222222222"),
    Cost(
        "2026-10-06",
        "12.00",
        {"user:owner": "di", "user:cost-center": "cc3"},
        "222222222222",
        resource="db-1",
    ),
    Cost("2026-10-07", "8.00", {"owner": " ", "cost-center": "cc4", "team": "web"}, resource="i-3"),
    Cost("2026-10-08", "60.00", {}, "333333333333", "EKS"),  # no ResourceId: not in cost_resources
    Cost("2026-10-09", "5.00", {"team": "web"}, "333333333333", "EKS", resource="i-4"),
    Cost("2026-10-31", "3.00", {"owner": "eve"}, "333333333333", "EKS", resource="i-4"),
    Cost("2026-10-10", "70.00", {"owner": "x"}, "ea-1", "VMs", "EUR", resource="vm-1"),
    Cost("2026-10-11", "30.00", {"OWNER": "y", "COST-CENTER": "z"}, "ea-1", "VMs", "EUR", resource="vm-2"),
    Cost("2026-09-10", "50.00", {"owner": "ann", "cost-center": "cc1", "team": "data"}),
    Cost("2026-09-11", "50.00", {"Owner": "ann", "cost-center": "cc1"}),
    Cost("2026-08-02", "30.00", {"owner": "ann", "cost-center": "cc1"}),
    Cost("2026-08-03", "10.00", {"owner": "ann"}),
    Cost("2026-04-15", "999.00", {}),  # before the six months of the trend
    Cost("2026-11-02", "7.00", {}),  # November is not over: the default month is October
)


async def _load(engine: AsyncEngine) -> None:
    items = [
        item(
            c.day,
            c.cost,
            tags=c.tags,
            account=c.account,
            service=c.service,
            currency=c.currency,
            resource=c.resource,
            provider="Microsoft" if c.currency == "EUR" else "AWS",
        )
        for c in ROWS
    ]
    await load(engine, frame(*items))


# The rules, written again here: a key counts as itself or `user:KEY`, in any case if insensitive,
# with a value that is not blank.
def carries(tags: dict[str, str], key: str, insensitive: bool) -> bool:
    def same(a: str, b: str) -> bool:
        return a.casefold() == b.casefold() if insensitive else a == b

    return any((same(k, key) or same(k.removeprefix("user:"), key)) and v.strip() for k, v in tags.items())


def compliant(tags: dict[str, str], insensitive: bool) -> bool:
    return all(carries(tags, key, insensitive) for key in KEYS)


def in_month(c: Cost, month: str = "2026-10", currency: str = "USD") -> bool:
    return c.day.startswith(month) and c.currency == currency


def total(rows: list[Cost]) -> Decimal:
    return sum((Decimal(c.cost) for c in rows), Decimal(0))


def pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * 100).quantize(Decimal("0.1"))


async def _report(engine: AsyncEngine, insensitive: bool, **options: object) -> TagReport:
    async with unit_of_work(engine) as session:
        return await tagreport.report(session, Required(KEYS, insensitive), TODAY, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("insensitive", [False, True], ids=["sensitive", "insensitive"])
async def test_shares_score_and_untagged_spend(engine: AsyncEngine, insensitive: bool) -> None:
    await _load(engine)
    found = await _report(engine, insensitive)
    assert (found.month, found.end, found.complete) == (OCTOBER, date(2026, 10, 31), True)
    assert [c.summary.currency for c in found.currencies] == ["USD", "EUR"]  # the biggest first
    usd = found.currencies[0]
    october = [c for c in ROWS if in_month(c)]
    good = [c for c in october if compliant(c.tags, insensitive)]
    assert usd.summary.total == total(october) == Decimal("273.75")
    assert usd.summary.compliant == total(good)
    assert usd.summary.score == pct(total(good), total(october))
    assert usd.summary.tagged == {
        key: total([c for c in october if carries(c.tags, key, insensitive)]) for key in KEYS
    }
    assert usd.summary.untagged == total(october) - total(good)

    by_account: dict[str, Decimal] = defaultdict(Decimal)
    by_service: dict[str, Decimal] = defaultdict(Decimal)
    for c in october:
        if not compliant(c.tags, insensitive):
            by_account[c.account] += Decimal(c.cost)
            by_service[c.service] += Decimal(c.cost)
    assert [(s.values[0], s.amount) for s in usd.by_account] == sorted(
        by_account.items(), key=lambda kv: -kv[1]
    )
    assert [(s.values[0], s.amount) for s in usd.by_service] == sorted(
        by_service.items(), key=lambda kv: -kv[1]
    )

    eur = found.currencies[1]
    eur_rows = [c for c in ROWS if in_month(c, currency="EUR")]
    assert (eur.summary.total, eur.summary.compliant) == (
        total(eur_rows),
        total([c for c in eur_rows if compliant(c.tags, insensitive)]),
    )


async def test_case_insensitive_keys_count_every_spelling(engine: AsyncEngine) -> None:
    await _load(engine)
    sensitive, insensitive = await _report(engine, False), await _report(engine, True)
    assert sensitive.spellings == {
        "owner": ("owner", "user:owner"),
        "cost-center": ("cost-center", "user:cost-center"),
    }
    assert insensitive.spellings == {
        "owner": ("OWNER", "Owner", "owner", "user:owner"),
        "cost-center": ("COST-CENTER", "Cost-Center", "cost-center", "user:cost-center"),
    }
    # The 25.25 USD row is spelt Owner / Cost-Center: compliant only when case does not matter.
    gained = insensitive.currencies[0].summary.compliant - sensitive.currencies[0].summary.compliant
    assert gained == Decimal("25.25")


async def test_scores_by_team_worst_first_with_untagged_as_a_row(engine: AsyncEngine) -> None:
    await _load(engine)
    found = await _report(engine, True)
    teams: dict[str, list[Cost]] = defaultdict(list)
    for c in ROWS:
        if in_month(c):
            teams[c.tags.get("team", "(untagged)")].append(c)
    expected = sorted(
        (
            (team, total(rows), pct(total([c for c in rows if compliant(c.tags, True)]), total(rows)))
            for team, rows in teams.items()
        ),
        key=lambda t: (t[2], -t[1]),
    )
    usd = found.currencies[0]
    assert [(g.value, g.total, g.score) for g in usd.groups] == expected
    assert {g.value for g in usd.groups} == {"data", "web", "(untagged)"}
    assert usd.more_groups == 0

    by_account = await _report(engine, True, by="billing_account", top=1)
    [worst] = by_account.currencies[0].groups
    assert (worst.value, worst.score) == ("333333333333", Decimal("0.0"))
    assert by_account.currencies[0].more_groups == 2


async def test_group_by_a_tag_key(engine: AsyncEngine) -> None:
    await _load(engine)
    found = await _report(engine, False, by=tagreport.dimension("tag:owner"))
    values = {g.value: g.total for g in found.currencies[0].groups}
    assert values["ann"] == Decimal("120.00") and values["bob"] == Decimal("40.50")
    assert values["(none)"] == total([c for c in ROWS if in_month(c) and "owner" not in c.tags])


async def test_trend_over_the_months(engine: AsyncEngine) -> None:
    await _load(engine)
    found = await _report(engine, True)
    usd = found.currencies[0]
    months = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert [m.month.strftime("%Y-%m") for m in usd.trend] == months
    for point, month in zip(usd.trend, months, strict=True):
        rows = [c for c in ROWS if in_month(c, month)]
        assert (point.total, point.compliant) == (
            total(rows),
            total([c for c in rows if compliant(c.tags, True)]),
        ), month
    assert [m.score for m in usd.trend] == [
        None,
        None,
        None,
        Decimal("75.0"),
        Decimal("100.0"),
        usd.summary.score,
    ]
    short = await _report(engine, True, months=2, month=date(2026, 9, 1))
    assert [m.month for m in short.currencies[0].trend] == [date(2026, 8, 1), date(2026, 9, 1)]
    assert short.currencies[0].summary.total == Decimal("100.00")


async def test_top_untagged_resources(engine: AsyncEngine) -> None:
    await _load(engine)
    found = await _report(engine, False, top=2)
    usd = found.currencies[0]
    # Untagged by resource, from the rows with a ResourceId (the 60.00 EKS row has none).
    per: dict[str, Decimal] = defaultdict(Decimal)
    for c in ROWS:
        if in_month(c) and c.resource and not compliant(c.tags, False):
            per[c.resource] += Decimal(c.cost)
    assert [(r.resource_id, r.amount) for r in usd.resources] == sorted(per.items(), key=lambda kv: -kv[1])[
        :2
    ]
    assert [(r.billing_account, r.service, r.missing) for r in usd.resources] == [
        ("111111111111", "Amazon S3", ("cost-center",)),
        ("111111111111", "Amazon EC2", ("owner",)),
    ]
    everything = await _report(engine, False)
    i4 = next(r for r in everything.currencies[0].resources if r.resource_id == "i-4")
    assert (i4.amount, i4.missing) == (Decimal("8.00"), ("owner", "cost-center"))  # either day lacks one


async def test_no_data_and_no_required_tags(engine: AsyncEngine) -> None:
    found = await _report(engine, False)
    assert (found.month, found.complete, found.currencies) == (date(2026, 11, 1), False, [])
    with pytest.raises(UserError, match=r"no required tags are declared: .*\[policies.tags\]"):
        tagreport.required(None)
    with pytest.raises(UserError, match="no required tags"):
        tagreport.required(spec.parse({"tags": {"allowed": {"env": ["prod"]}}}, "test"))
    assert tagreport.required(
        spec.parse({"tags": {"required": ["a"], "case": {"keys": "insensitive"}}}, "t")
    ) == (Required(("a",), True))


@pytest.mark.parametrize(
    ("word", "found"),
    [
        ("team", "team"),
        ("account", "billing_account"),
        ("Environment", "environment"),
        ("tag:Owner", "tag:Owner"),
    ],
)
def test_dimensions(word: str, found: str) -> None:
    assert tagreport.dimension(word) == found


@pytest.mark.parametrize("word", ["colour", "tag:", "tags"])
def test_unknown_dimensions_list_the_valid_ones(word: str) -> None:
    with pytest.raises(UserError, match=r"(billing_account, .*tag:KEY)|needs a tag key"):
        tagreport.dimension(word)
