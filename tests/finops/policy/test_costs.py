"""Cost rules: a change priced on both sides, the limit, and the budget a resource's tags map to."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from finops.normalise import DEFAULT_TAG_ALIASES
from finops.policy.costs import BudgetRoom, budget_findings, budget_of, limit_findings, priced, table_pricer
from finops.policy.findings import Cost
from finops.policy.plan import Change, Tags
from finops.policy.prices import load_table

TABLE = load_table()
HOURS = Decimal(730)


def change(actions: tuple[str, ...], before: Any = None, after: Any = None, **tags: str) -> Change:
    return Change(
        address="aws_instance.x",
        type="aws_instance",
        provider="aws",
        actions=actions,
        before=before,
        after=after,
        after_unknown={},
        tags=Tags(dict(tags)),
        region="us-east-1",
        plan="plan.json",
    )


def hourly(instance_type: str) -> Decimal:
    found = TABLE.find("aws_instance", instance_type, "us-east-1")
    assert found is not None
    return found.amount * HOURS


def test_a_change_adds_the_difference_of_its_two_sides() -> None:
    price = table_pricer(TABLE)
    small, big = {"instance_type": "m5.large"}, {"instance_type": "m5.2xlarge"}
    assert price(change(("create",), after=small)).monthly == hourly("m5.large")
    assert price(change(("update",), small, big)).monthly == hourly("m5.2xlarge") - hourly("m5.large")
    assert price(change(("delete", "create"), big, small)).monthly == hourly("m5.large") - hourly(
        "m5.2xlarge"
    )
    assert price(change(("delete",), before=small)).monthly == -hourly("m5.large")
    assert price(change(("update",), small, {**small, "tags": {"a": "b"}})).monthly == 0


def test_an_unknown_side_makes_the_change_unknown() -> None:
    price = table_pricer(TABLE)
    resized = price(change(("update",), {"instance_type": "x9.huge"}, {"instance_type": "m5.large"}))
    assert resized.monthly is None and "x9.huge" in resized.basis
    assert price(change(("create",), after={})).monthly is None  # instance_type known only after apply


def test_no_ops_and_reads_are_not_priced() -> None:
    found = priced(
        [change(("no-op",), {"instance_type": "m5.large"}, {"instance_type": "m5.large"})],
        table_pricer(TABLE),
    )
    assert found == []


def costs(*monthly: str | None) -> list[Cost]:
    return [
        Cost(
            f"aws_instance.x{n}", "aws_instance", "create", "plan.json", None if m is None else Decimal(m), ""
        )
        for n, m in enumerate(monthly)
    ]


def test_the_limit_counts_known_prices_and_says_what_is_unknown() -> None:
    assert limit_findings(costs("300", "150"), Decimal(500), "USD", "p") == []
    (over,) = limit_findings(costs("300", "250", None), Decimal(500), "USD", "p")
    assert (
        over.severity == "error"
        and "adds 550.00 USD/month, over the limit of 500.00 USD/month" in over.message
    )
    assert "1 more change(s) have unknown prices" in over.message
    (unsure,) = limit_findings(costs("300", None), Decimal(500), "USD", "p")
    assert unsure.severity == "warning" and "at least 300.00 USD/month" in unsure.message
    assert limit_findings(costs("9999"), None, "USD", "p") == []


def room(name: str, scope: dict[str, list[str]], **kw: Any) -> BudgetRoom:
    values: dict[str, Any] = {
        "currency": "USD",
        "amount": Decimal(1000),
        "expected": Decimal(900),
        "end": date(2026, 11, 30),
        "days_left": 30,
        "rate": Decimal(1),
    }
    values.update(kw)
    return BudgetRoom(name, scope, **values)


def test_the_most_specific_matching_budget_is_the_one() -> None:
    rooms = [
        room("all", {}),
        room("payments", {"team": ["Payments"]}),
        room("payments-prod", {"team": ["payments"], "environment": ["prod"]}),
        room("aws-east", {"provider": ["aws"], "region": ["us-east-1"]}),
        room("account", {"billing_account": ["1234"]}),  # a plan cannot know it: never matches
        room("project", {"tag:project": ["apollo"]}),
    ]
    tagged = change(("create",), team="payments", env="prod")  # `env` is an alias of environment
    assert [r.name for r in budget_of(tagged, rooms, DEFAULT_TAG_ALIASES)] == ["payments-prod", "aws-east"]
    assert [
        r.name for r in budget_of(change(("create",), project="apollo"), rooms[4:], DEFAULT_TAG_ALIASES)
    ] == ["project"]
    assert budget_of(change(("create",)), rooms[:3], DEFAULT_TAG_ALIASES) == []


def test_the_increase_is_prorated_to_the_days_left_and_held_against_the_headroom() -> None:
    created = change(("create",), team="payments")
    found = [Cost("aws_instance.x", "aws_instance", "create", "plan.json", Decimal(120), "")]
    # 120 a month for 30 of 30.4166 days is 118.36 > 100 left
    (over,) = budget_findings(
        [created], found, [room("payments", {"team": ["payments"]})], DEFAULT_TAG_ALIASES, "USD"
    )
    assert over.severity == "error" and "about 118.36 USD by then" in over.message
    assert "has 100.00 USD left of 1,000.00 USD to 2026-11-30" in over.message
    (fits,) = budget_findings(
        [created], found, [room("payments", {"team": ["payments"]}, days_left=20)], DEFAULT_TAG_ALIASES, "USD"
    )
    assert fits.severity == "notice" and "about 78.90 USD by then" in fits.message


def test_a_budget_in_another_currency_is_converted_or_said_to_be_unchecked() -> None:
    created = change(("create",), team="payments")
    found = [Cost("aws_instance.x", "aws_instance", "create", "plan.json", Decimal(100), "")]
    euro = room("payments", {"team": ["payments"]}, currency="EUR", rate=Decimal("0.5"), days_left=30)
    (fits,) = budget_findings([created], found, [euro], DEFAULT_TAG_ALIASES, "USD")
    assert fits.severity == "notice" and "about 49.32 EUR by then" in fits.message
    norate = room("payments", {"team": ["payments"]}, currency="EUR", rate=None)
    (unsure,) = budget_findings([created], found, [norate], DEFAULT_TAG_ALIASES, "USD")
    assert unsure.severity == "warning" and "no USD→EUR rate is set" in unsure.message


def test_savings_never_count_against_a_budget() -> None:
    deleted = change(("delete",), before={"instance_type": "m5.large"}, team="payments")
    found = [Cost("aws_instance.x", "aws_instance", "delete", "plan.json", Decimal(-70), "")]
    assert (
        budget_findings(
            [deleted], found, [room("payments", {"team": ["payments"]})], DEFAULT_TAG_ALIASES, "USD"
        )
        == []
    )
