"""Budget alerts end to end against the fake Slack: the alert message with its chart, facts and
buttons; Acknowledge and Snooze; Request increase -> modal -> approval request -> role checks,
no self-approval -> the amount amended, with its history."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import web_client
from bot.notify import SlackNotifier
from bot.settings import Roles, load_settings
from jobs.budgets import evaluate
from jobs.outbox import deliver
from storage import budgets
from storage.budgets import BudgetSpec
from storage.db import unit_of_work
from storage.models import Action, AuditLog, BudgetAlert
from tests.bot.conftest import ADMIN, ENGINEER, ENGINEERS_GROUP, VIEWER, RunningBot, settle, start_bot
from tests.bot.process import wait_until, wait_until_async
from tests.bot.test_alerts import _buttons, click
from tests.bot.test_slash_commands import _text
from tests.factories import frame, item, load
from tests.fakes.slack import FakeSlack, block_kit_problems, view_problems
from tests.slack_requests import BOT_TOKEN, view_submission

ALERTS = "C0ALERTS"  # the channel `click` says the buttons are in
APPROVER = "U0APPROVER"


def _days(last: date) -> list[dict[str, Any]]:
    found, day = [], date(2026, 8, 1)
    while day <= last:
        service = "Amazon EC2" if day.day % 2 else "Amazon S3"
        found.append(item(day.isoformat(), "40.00", service=service, tags={"team": "payments"}))
        day += timedelta(days=1)
    return found


@pytest.fixture
async def alerted(
    clean_env: pytest.MonkeyPatch, slack: FakeSlack, engine: AsyncEngine
) -> AsyncIterator[RunningBot]:
    """The app, and the 80% alert of budget `payments` (800 of 1,000 spent) posted to #alerts."""
    async with unit_of_work(engine) as session:
        spec = BudgetSpec(
            "payments", Decimal(1000), scope={"team": ["payments"]}, channel=ALERTS, approvers=(APPROVER,)
        )
        await budgets.save(session, spec, actor=ENGINEER, channel="test")
    await load(engine, frame(*_days(date(2026, 10, 20))))
    settings = load_settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url, alert_channel=ALERTS)
    await evaluate(engine, settings, date(2026, 10, 20))
    sent = (await deliver(engine, SlackNotifier(web_client(settings)).senders())).sent
    assert len(sent) == 2  # the forecast alert (posted on the 12th had the job run then) and 80%
    before = asyncio.all_tasks()
    roles = Roles(admin=[ADMIN], engineer=[ENGINEERS_GROUP, APPROVER], default="viewer")
    runner, url = await start_bot(slack, engine, roles, alert_channel=ALERTS)
    async with aiohttp.ClientSession() as http:
        yield RunningBot(url, slack, engine, http)
    await runner.cleanup()
    await settle(before)


async def _alert(engine: AsyncEngine, threshold: int) -> BudgetAlert:
    async with unit_of_work(engine) as session:
        found = await session.scalar(select(BudgetAlert).where(BudgetAlert.threshold_pct == threshold))
    assert found is not None
    return found


def _thread(slack: FakeSlack) -> list[str]:
    return [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]


async def _audit(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with unit_of_work(engine) as session:
        return [(a.actor, a.action) for a in await session.scalars(select(AuditLog).order_by(AuditLog.id))]


async def test_the_alert_shows_spend_forecast_days_left_contributors_and_a_chart(alerted: RunningBot) -> None:
    posts = [c.args for c in alerted.slack.calls_to("chat.postMessage")]
    assert [p["channel"] for p in posts] == [ALERTS, ALERTS]
    forecast, actual = posts
    assert (
        forecast["text"].startswith("Budget payments: forecast ")
        and "will exceed 1,000.00 USD" in forecast["text"]
    )
    assert actual["text"] == "Budget payments: 80% reached, 800.00 USD of 1,000.00 USD"
    text = _text(actual)
    assert "*Spent*\n800.00 USD (80.0%)" in text and "*Days left*\n11 (to 31 Oct 2026)" in text
    assert "*Forecast*\n" in text and "*Burn*\n40.00 USD a day" in text
    assert "• Amazon EC2: 400.00 USD" in text and "• Amazon S3: 400.00 USD" in text
    assert any(b["type"] == "image" for b in actual["blocks"]) and alerted.slack.calls_to(
        "files.completeUploadExternal"
    )
    assert _buttons(actual) == ["budget_alert_ack", "budget_alert_snooze", "budget_increase"]
    assert not block_kit_problems(actual["blocks"])


async def test_acknowledge_once_and_snooze_with_a_reason(alerted: RunningBot) -> None:
    slack, engine = alerted.slack, alerted.engine
    eighty, forecast = await _alert(engine, 80), await _alert(engine, 100)
    await click(alerted, "budget_alert_ack", f"budget-alert:{eighty.id}", VIEWER)
    assert (
        "Only engineers or admins can act on budget alerts"
        in (await slack.wait_for("response_url"))[0].args["text"]
    )
    await click(alerted, "budget_alert_ack", f"budget-alert:{eighty.id}", ENGINEER)
    update = (await slack.wait_for("chat.update"))[0].args
    assert "*Acknowledged* by <@U0ENG" in _text(update) and _buttons(update) == ["budget_increase"]
    assert await wait_until(lambda: _thread(slack), 5, "no thread reply") == [
        f"<@{ENGINEER}> acknowledged this."
    ]
    await click(alerted, "budget_alert_ack", f"budget-alert:{eighty.id}", ADMIN)  # a second click
    notes = [c.args["text"] for c in await slack.wait_for("response_url", 2)]
    assert any(n.startswith("Nothing changed: it is acknowledged by <@U0ENG") for n in notes)
    await click(alerted, "budget_alert_snooze", f"budget-alert:{forecast.id}", ENGINEER)
    view = (await slack.wait_for("views.open"))[0].args["view"]
    assert view["callback_id"] == "budget_alert_snooze_modal" and not view_problems(view)
    values = {
        "duration": {"value": {"selected_option": {"value": "1w"}}},
        "reason": {"value": {"value": "quarter-end batch"}},
    }
    reply = await alerted.post(
        view_submission(
            "budget_alert_snooze_modal", values, user=ENGINEER, private_metadata=view["private_metadata"]
        )
    )
    assert reply.status == 200 and reply.text == ""
    await slack.wait_for("chat.update", 2)
    snoozed = await _alert(engine, 100)
    assert snoozed.status == "snoozed" and snoozed.snoozed_until is not None
    assert [a for _, a in await _audit(engine)] == [
        "budget.create",
        "budget_alert.acknowledged",
        "budget_alert.snoozed",
    ]


async def _request(alerted: RunningBot, user: str, amount: str, reason: str) -> dict[str, Any]:
    eighty = await _alert(alerted.engine, 80)
    await click(alerted, "budget_increase", f"budget-alert:{eighty.id}", user)
    view = (await alerted.slack.wait_for("views.open"))[-1].args["view"]
    assert view["callback_id"] == "budget_increase_modal" and not view_problems(view)
    values = {"amount": {"value": {"value": amount}}, "reason": {"value": {"value": reason}}}
    reply = await alerted.post(
        view_submission("budget_increase_modal", values, user=user, private_metadata=view["private_metadata"])
    )
    return json.loads(reply.text) if reply.text else {}


async def test_request_increase_needs_another_approver_and_amends_the_budget(alerted: RunningBot) -> None:
    slack, engine = alerted.slack, alerted.engine
    refused = await _request(alerted, ENGINEER, "900", "x")
    assert refused["response_action"] == "errors"
    assert refused["errors"]["amount"] == "Ask for more than today's 1000."
    assert refused["errors"]["reason"].startswith("Say why")
    assert await _request(alerted, ENGINEER, "1,500", "Black Friday load tests") == {}
    request = next(
        c.args
        for c in await slack.wait_for("chat.postMessage", 4)
        if c.args["text"].startswith("Budget increase")
    )
    text = _text(request)
    assert "1,000.00 USD → 1,500.00 USD (+500.00 USD)" in text and f"<@{APPROVER}>" in text
    assert "Black Friday load tests" in text and _buttons(request) == ["approval_approve", "approval_reject"]
    async with unit_of_work(engine) as session:
        action = await session.scalar(select(Action))
    assert action is not None and action.requested_by == ENGINEER
    value = f"action:{action.id}"
    await click(alerted, "approval_approve", value, VIEWER)  # no right
    await click(alerted, "approval_approve", value, ENGINEER)  # the requester (an engineer, not an approver)
    notes = [c.args["text"] for c in await slack.wait_for("response_url", 2)]
    assert any(
        "Only the budget approvers (<@U0APPROVER>) or admins can approve budget increases" in n for n in notes
    )
    async with unit_of_work(engine) as session:
        assert (await budgets.named(session, "payments")).amount == Decimal(1000)
    await click(alerted, "approval_approve", value, APPROVER)
    approved = await wait_until(
        lambda: [c.args for c in slack.calls_to("chat.update") if "Approved" in _text(c.args)],
        5,
        "not approved",
    )
    update = approved[0]
    assert f"*Approved* by <@{APPROVER}>" in _text(update) and _buttons(update) == []
    async with unit_of_work(engine) as session:
        budget = await budgets.named(session, "payments")
        history = await budgets.amendments(session, budget.id)
    assert budget.amount == Decimal(1500)
    assert [
        (h.amount_before, h.amount_after, h.requested_by, h.approved_by, h.action_id) for h in history
    ] == [(Decimal(1000), Decimal(1500), ENGINEER, APPROVER, action.id)]
    await wait_until(
        lambda: any("Budget payments is now 1,500.00 USD monthly." in t for t in _thread(slack)),
        5,
        "not told",
    )
    await click(alerted, "approval_approve", value, ADMIN)  # decided already
    assert any(
        "Nothing changed: it was approved" in c.args["text"] for c in await slack.wait_for("response_url", 3)
    )
    assert [a for a in await _audit(engine) if a[1].startswith(("budget.", "approval."))] == [
        (ENGINEER, "budget.create"),
        (ENGINEER, "budget.increase_requested"),
        (APPROVER, "approval.approved"),
        (APPROVER, "budget.amend"),
    ]


async def test_the_requester_cannot_approve_even_as_an_approver(alerted: RunningBot) -> None:
    assert await _request(alerted, APPROVER, "2000", "new region launch") == {}
    await alerted.slack.wait_for("chat.postMessage", 4)
    async with unit_of_work(alerted.engine) as session:
        action = await session.scalar(select(Action))
    assert action is not None
    await click(alerted, "approval_approve", f"action:{action.id}", APPROVER)
    assert "someone else has to approve it" in (await alerted.slack.wait_for("response_url"))[0].args["text"]
    await click(alerted, "approval_approve", f"action:{action.id}", ADMIN)  # admins may approve too

    async def amended() -> bool:
        async with unit_of_work(alerted.engine) as session:
            return (await budgets.named(session, "payments")).amount == Decimal(2000)

    await wait_until_async(amended, 5, "the increase was not applied")


async def test_a_config_budget_refuses_a_slack_increase(
    clean_env: pytest.MonkeyPatch, slack: FakeSlack, engine: AsyncEngine
) -> None:
    declared = [{"name": "platform", "amount": "100", "scope": {"team": "payments"}, "channel": ALERTS}]
    settings = load_settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url, budgets=declared)
    await load(engine, frame(*_days(date(2026, 10, 20))))
    await evaluate(engine, settings, date(2026, 10, 20))
    await deliver(engine, SlackNotifier(web_client(settings)).senders())
    before = asyncio.all_tasks()
    runner, url = await start_bot(slack, engine, budgets=declared)
    try:
        async with aiohttp.ClientSession() as http:
            bot = RunningBot(url, slack, engine, http)
            alert = await _alert(engine, 100)
            await click(bot, "budget_increase", f"budget-alert:{alert.id}", ADMIN)
            note = (await slack.wait_for("response_url"))[0].args["text"]
            assert "declared in the finops-bot config file" in note and "change it in that file" in note
            assert not slack.calls_to("views.open")
    finally:
        await runner.cleanup()
        await settle(before)
