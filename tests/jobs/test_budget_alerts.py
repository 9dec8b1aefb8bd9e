"""The budgets job against a real database: thresholds alert once per period (re-runs and
restarts included), the forecast alert comes before the actual crossing, roll-up, rollover,
currency conversion with the rates recorded, config budgets as the source of truth, and
escalation on a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import web_client
from bot.notify import SlackNotifier
from bot.settings import Settings, load_settings
from finops.budgets import Rates
from finops.errors import UserError
from jobs.budgets import escalate, evaluate
from jobs.outbox import deliver
from storage import budgets
from storage.budgets import BudgetSpec
from storage.db import connect, unit_of_work
from storage.models import BudgetAlert, BudgetEvaluation, OutboxItem
from tests.factories import frame, item, load
from tests.fakes.slack import FakeSlack
from tests.slack_requests import BOT_TOKEN

ALERTS = "C0ALERTS"


def _items(first: date, last: date, cost: str, *, team: str = "payments", currency: str = "USD") -> list[Any]:
    found, day = [], first
    while day <= last:
        found.append(
            item(day.isoformat(), cost, currency=currency, tags={"team": team}, account=f"acct-{currency}")
        )
        day += timedelta(days=1)
    return found


def _settings(**overrides: Any) -> Settings:
    return load_settings(alert_channel=ALERTS, **overrides)


async def _create(engine: AsyncEngine, spec: BudgetSpec, created: datetime | None = None) -> None:
    async with unit_of_work(engine) as session:
        budget, _ = await budgets.save(session, spec, actor="U0ENG", channel="test")
        if created is not None:
            budget.created_at = created


async def _alerts(engine: AsyncEngine) -> list[tuple[str, int, str]]:
    async with unit_of_work(engine) as session:
        rows = await session.scalars(select(BudgetAlert).order_by(BudgetAlert.id))
        return [(a.kind, a.threshold_pct, a.status) for a in rows]


async def _roots(engine: AsyncEngine) -> list[str]:
    async with unit_of_work(engine) as session:
        rows = await session.scalars(
            select(OutboxItem.idempotency_key)
            .where(OutboxItem.kind == "slack.budget.root")
            .order_by(OutboxItem.id)
        )
        return list(rows)


PAYMENTS = BudgetSpec("payments", Decimal(1000), scope={"team": ["payments"]})


async def test_each_threshold_alerts_once_and_the_forecast_comes_first(engine: AsyncEngine) -> None:
    settings = _settings()
    await _create(engine, PAYMENTS)
    # 40 a day since August: 480 spent by 12 Oct (48%), 1,240 forecast for October.
    await load(engine, frame(*_items(date(2026, 8, 1), date(2026, 10, 12), "40.00")))
    states = await evaluate(engine, settings, date(2026, 10, 12))
    assert await _alerts(engine) == [("forecast", 100, "open")]
    assert states["alerts"] == 1 and states["at risk"] == 1
    # 800 by the 20th: 50% and 80% crossed since the last run; only 80% is posted.
    await load(engine, frame(*_items(date(2026, 8, 1), date(2026, 10, 20), "40.00")))
    await evaluate(engine, settings, date(2026, 10, 20))
    expected = [("forecast", 100, "open"), ("actual", 50, "passed"), ("actual", 80, "open")]
    assert await _alerts(engine) == expected
    # Re-runs, and a restart (a new engine on the same database), repeat nothing.
    await evaluate(engine, settings, date(2026, 10, 20))
    other = connect(engine.url.render_as_string(hide_password=False))
    try:
        assert (await evaluate(other, settings, date(2026, 10, 20)))["alerts"] == 0
    finally:
        await other.dispose()
    assert await _alerts(engine) == expected
    assert len(await _roots(engine)) == 2
    # 1,000 on the 25th: the 100% alert, once.
    await load(engine, frame(*_items(date(2026, 8, 1), date(2026, 10, 25), "40.00")))
    await evaluate(engine, settings, date(2026, 10, 25))
    await evaluate(engine, settings, date(2026, 10, 25))
    assert await _alerts(engine) == [*expected, ("actual", 100, "open")]
    assert len(await _roots(engine)) == 3
    # A new month starts over.
    await load(engine, frame(*_items(date(2026, 8, 1), date(2026, 11, 20), "40.00")))
    await evaluate(engine, settings, date(2026, 11, 20))
    async with unit_of_work(engine) as session:
        november = await session.scalars(
            select(BudgetAlert).where(BudgetAlert.period_start == date(2026, 11, 1))
        )
        assert sorted((a.kind, a.threshold_pct, a.status) for a in november) == [
            ("actual", 50, "passed"),
            ("actual", 80, "open"),
            ("forecast", 100, "open"),
        ]


async def test_the_forecast_alert_is_not_posted_once_the_actual_is_over(engine: AsyncEngine) -> None:
    await _create(engine, PAYMENTS)
    await load(engine, frame(*_items(date(2026, 8, 1), date(2026, 10, 26), "40.00")))  # 1,040 spent
    await evaluate(engine, _settings(), date(2026, 10, 26))
    assert await _alerts(engine) == [
        ("actual", 50, "passed"),
        ("actual", 80, "passed"),
        ("forecast", 100, "passed"),
        ("actual", 100, "open"),
    ]


async def test_a_parent_rolls_up_its_children_and_warns_of_over_allocation(engine: AsyncEngine) -> None:
    await load(
        engine,
        frame(
            *_items(date(2026, 10, 1), date(2026, 10, 10), "30.00", team="payments"),
            *_items(date(2026, 10, 1), date(2026, 10, 10), "20.00", team="search"),
            *_items(date(2026, 10, 1), date(2026, 10, 10), "5.00", team="other"),
        ),
    )
    await _create(engine, BudgetSpec("engineering", Decimal(3000)))
    await _create(
        engine, BudgetSpec("payments", Decimal(1000), scope={"team": ["payments"]}, parent="engineering")
    )
    await _create(
        engine, BudgetSpec("search", Decimal(1500), scope={"team": ["search"]}, parent="engineering")
    )
    async with unit_of_work(engine) as session:
        parent = await budgets.named(session, "engineering")
        rolled = await budgets.standing(session, parent, date(2026, 10, 10), [])
        child = await budgets.standing(
            session, await budgets.named(session, "search"), date(2026, 10, 10), []
        )
        assert rolled.status.spent == Decimal("500.00")  # 300 + 200; the other team is not a child
        assert child.status.spent == Decimal("200.00") and child.parent == "engineering"
        top = await budgets.contributors(session, parent, date(2026, 10, 1), date(2026, 10, 10), Rates())
        assert top == [("payments", Decimal("300.00")), ("search", Decimal("200.00"))]
        # 500 a month is left under engineering: 600 is over, 1,500 a quarter (500 a month) fits.
        over = BudgetSpec("data", Decimal(600), parent="engineering")
        warning = budgets.over_allocation(
            await budgets.allocation_of(session, over, Rates(), date(2026, 10, 10)), over
        )
        assert warning is not None and "has left: 500.00 of 3,000.00 USD" in warning
        fits = BudgetSpec("data", Decimal(1500), period="quarterly", parent="engineering")
        found = await budgets.allocation_of(session, fits, Rates(), date(2026, 10, 10))
        assert budgets.over_allocation(found, fits) is None
        # Editing a child is measured without its own old amount.
        grow = BudgetSpec("search", Decimal(2000), scope={"team": ["search"]}, parent="engineering")
        found = await budgets.allocation_of(session, grow, Rates(), date(2026, 10, 10), "search")
        assert found is not None and found[1].remaining == Decimal(2000) and not found[1].over
        with pytest.raises(UserError, match="cannot be its parent"):
            await budgets.save(
                session,
                BudgetSpec("engineering", Decimal(3000), parent="payments"),
                actor="U0ENG",
                channel="test",
            )


async def test_rollover_carries_last_periods_unused_amount_capped(engine: AsyncEngine) -> None:
    await load(engine, frame(*_items(date(2026, 9, 1), date(2026, 10, 5), "25.00")))  # September: 750
    since = datetime(2026, 8, 15, tzinfo=UTC)
    await _create(
        engine,
        BudgetSpec(
            "capped", Decimal(1000), scope={"team": ["payments"]}, rollover=True, rollover_cap=Decimal(200)
        ),
        since,
    )
    await _create(
        engine, BudgetSpec("uncapped", Decimal(1000), scope={"team": ["payments"]}, rollover=True), since
    )
    await _create(engine, BudgetSpec("plain", Decimal(1000), scope={"team": ["payments"]}), since)
    await _create(engine, BudgetSpec("new", Decimal(1000), scope={"team": ["payments"]}, rollover=True))
    async with unit_of_work(engine) as session:
        found = {
            b.name: (await budgets.standing(session, b, date(2026, 10, 5), [])).status
            for b in await budgets.list_budgets(session)
        }
    assert (found["uncapped"].carried, found["uncapped"].amount) == (Decimal(250), Decimal(1250))
    assert (found["capped"].carried, found["capped"].amount) == (Decimal(200), Decimal(1200))
    assert (found["plain"].carried, found["plain"].amount) == (Decimal(0), Decimal(1000))
    assert found["new"].carried == Decimal(0)  # created after September: nothing to carry
    assert found["capped"].pct_spent == Decimal("10.4")  # 125 of 1,200


async def test_costs_in_other_currencies_are_converted_at_the_dated_rate(engine: AsyncEngine) -> None:
    settings = _settings(
        rates=[
            {"currency": "EUR", "to": "USD", "since": "2026-01-01", "rate": "1.10"},
            {"currency": "USD", "to": "EUR", "since": "2026-10-15", "rate": "0.8"},  # 1.25 the other way
        ]
    )
    await load(
        engine,
        frame(
            *_items(date(2026, 10, 1), date(2026, 10, 20), "100.00"),
            *_items(date(2026, 10, 1), date(2026, 10, 20), "50.05", currency="EUR"),
            *_items(date(2026, 10, 1), date(2026, 10, 20), "1.00", currency="GBP"),
        ),
    )
    await _create(engine, BudgetSpec("global", Decimal(10000)))
    await evaluate(engine, settings, date(2026, 10, 20))
    async with unit_of_work(engine) as session:
        answer = await budgets.standing(
            session, await budgets.named(session, "global"), date(2026, 10, 20), settings.rate_table()
        )
        row = await session.scalar(select(BudgetEvaluation))
    # 2,000 USD + 14 days of 50.05 EUR at 1.10 + 6 days at 1.25; the GBP has no rate.
    spent = (
        Decimal("2000.00") + Decimal("50.05") * 14 * Decimal("1.10") + Decimal("50.05") * 6 * Decimal("1.25")
    )
    assert answer.status.spent == spent == Decimal("3146.145")
    assert row is not None and row.spent == spent and row.as_of == date(2026, 10, 20)
    assert row.rates["used"] == {
        "EUR": [
            {"to": "USD", "rate": "1.1", "since": "2026-01-01"},
            {"to": "USD", "rate": "1.25", "since": "2026-10-15"},
        ]
    }
    assert row.rates["missing"] == {"GBP": "20.00"}
    assert answer.rates_note == (
        "EUR converted to USD at 1.1 (since 2026-01-01), 1.25 (since 2026-10-15); "
        "20.00 GBP not counted: no GBP→USD rate in the config"
    )


async def test_config_budgets_are_the_source_of_truth(engine: AsyncEngine) -> None:
    declared = {"name": "platform", "amount": "5000", "scope": {"team": "platform"}, "owners": ["U0OWNER"]}
    await evaluate(engine, _settings(budgets=[declared]), date(2026, 10, 20))
    async with unit_of_work(engine) as session:
        found = await budgets.named(session, "platform")
        assert (found.managed_by, found.amount, found.scope, found.owners) == (
            "config",
            Decimal(5000),
            {"team": ["platform"]},
            ["U0OWNER"],
        )
        with pytest.raises(UserError, match="declared in the finops-bot config file"):
            await budgets.save(session, BudgetSpec("platform", Decimal(9000)), actor="U0ENG", channel="slack")
        with pytest.raises(UserError, match="cannot be deleted here"):
            await budgets.delete(session, "platform", actor="U0ENG", channel="slack")
    changed = {**declared, "amount": "6000"}
    await evaluate(engine, _settings(budgets=[changed]), date(2026, 10, 20))
    async with unit_of_work(engine) as session:
        assert (await budgets.named(session, "platform")).amount == Decimal(6000)
        assert [
            a.amount_after
            for a in await budgets.amendments(session, (await budgets.named(session, "platform")).id)
        ] == [Decimal(6000)]
    await evaluate(engine, _settings(budgets=[]), date(2026, 10, 20))
    async with unit_of_work(engine) as session:
        assert await budgets.find(session, "platform") is None


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as fake:
        yield fake


async def test_unacknowledged_alerts_escalate_to_the_contact_then_the_admins(
    engine: AsyncEngine, slack: FakeSlack
) -> None:
    settings = _settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack.api_url,
        roles={"admin": ["U0ADMIN", "S0ADMINS"]},
        channels={"admin": "C0ADMIN"},
        budget_alerts={"escalate_after_minutes": 60, "admins_after_minutes": 180},
    )
    await _create(
        engine, BudgetSpec("payments", Decimal(1000), scope={"team": ["payments"]}, escalation="U0ONCALL")
    )
    await _create(engine, BudgetSpec("quiet", Decimal(1000), scope={"team": ["payments"]}))  # no contact
    await load(engine, frame(*_items(date(2026, 8, 1), date(2026, 10, 25), "40.00")))
    await evaluate(engine, settings, date(2026, 10, 25))
    senders = SlackNotifier(web_client(settings)).senders()
    assert len((await deliver(engine, senders)).sent) == 2
    async with unit_of_work(engine) as session:
        posted = {
            a.budget_id: a
            for a in await session.scalars(select(BudgetAlert).where(BudgetAlert.status == "open"))
        }
        ids = {b.name: b.id for b in await budgets.list_budgets(session)}
    start = posted[ids["payments"]].created_at

    async def run(minutes: float) -> list[int]:
        async with unit_of_work(engine) as session:
            return await escalate(session, settings, start + timedelta(minutes=minutes))

    assert await run(59) == []
    assert await run(60) == [posted[ids["payments"]].id]  # the contact; "quiet" has none, so waits
    assert await run(61) == []
    await deliver(engine, senders)
    thread = [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert [t["text"].split(":")[0] for t in thread] == ["<@U0ONCALL>"]
    assert await run(181) == [posted[ids["payments"]].id, posted[ids["quiet"]].id]
    await deliver(engine, senders)
    thread = [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert thread[1].startswith("<@U0ADMIN> <!subteam^S0ADMINS>: nobody has acknowledged")
    assert thread[2].startswith("<@U0ADMIN> <!subteam^S0ADMINS>: nobody")  # "quiet" has no contact
    admin = [c.args for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "C0ADMIN"]
    assert len(admin) == 2 and "not acknowledged in 3.0 h" in admin[0]["text"]
    assert await run(600) == []  # each level once
    updated = [c.args for c in slack.calls_to("chat.update")]
    assert "escalated to the admins" in str(updated[-1]["blocks"])


async def test_acknowledging_stops_escalation_and_a_snooze_holds_the_clock(engine: AsyncEngine) -> None:
    settings = _settings(budget_alerts={"escalate_after_minutes": 60, "admins_after_minutes": 120})
    await _create(engine, BudgetSpec("a", Decimal(1000), scope={"team": ["payments"]}, escalation="U0ONCALL"))
    await _create(engine, BudgetSpec("b", Decimal(1000), scope={"team": ["payments"]}, escalation="U0ONCALL"))
    await load(engine, frame(*_items(date(2026, 8, 1), date(2026, 10, 25), "40.00")))
    await evaluate(engine, settings, date(2026, 10, 25))
    async with unit_of_work(engine) as session:
        await session.execute(update(BudgetAlert).values(slack_ts="1.1", slack_channel=ALERTS))
        rows = {
            a.budget_id: (a.id, a.created_at)
            for a in await session.scalars(select(BudgetAlert).where(BudgetAlert.status == "open"))
        }
        ids = {b.name: b.id for b in await budgets.list_budgets(session)}
        (acked, start), (snoozed, _) = rows[ids["a"]], rows[ids["b"]]
        assert await budgets.move_alert(session, acked, "acknowledged", "U0ENG", allowed_from=("open",))
        until = start + timedelta(minutes=100)
        assert await budgets.move_alert(
            session, snoozed, "snoozed", "U0ENG", allowed_from=("open",), snoozed_until=until
        )
    async with unit_of_work(engine) as session:
        assert await escalate(session, settings, start + timedelta(minutes=90)) == []  # acked; snoozed
        assert await escalate(session, settings, until + timedelta(minutes=59)) == []  # the clock restarted
        assert await escalate(session, settings, until + timedelta(minutes=60)) == [snoozed]
        found = await session.get(BudgetAlert, snoozed)
        assert found is not None and (found.status, found.escalation_level) == ("open", 1)
