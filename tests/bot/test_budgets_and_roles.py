"""/budget, its modal and buttons, App Home, and role checks, end to end."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import aiohttp
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Roles
from storage import budgets
from storage.budgets import BudgetSpec
from storage.db import unit_of_work
from storage.models import AuditLog, Budget
from tests.bot.conftest import ADMIN, ENGINEER, VIEWER, RunningBot, start_bot
from tests.bot.test_slash_commands import _text, ask
from tests.fakes.slack import FakeSlack, view_problems
from tests.slack_requests import block_action, command, event, view_submission


def form(
    name: str = "payments",
    amount: str = "250000",
    currency: str = "usd",
    period: str = "monthly",
    scope: str = "team=payments",
    thresholds: str = "50, 80,100",
) -> dict[str, Any]:
    def plain(value: str) -> dict[str, Any]:
        return {"value": {"type": "plain_text_input", "value": value}}

    return {
        "name": plain(name),
        "amount": {"value": {"type": "number_input", "value": amount}},
        "currency": plain(currency),
        "period": {"value": {"type": "static_select", "selected_option": {"value": period}}},
        "scope": plain(scope),
        "thresholds": plain(thresholds),
    }


async def submit(bot: RunningBot, values: dict[str, Any], user: str, original: str | None = None) -> Any:
    metadata = json.dumps({"original": original, "channel": "C0FINOPS"})
    reply = await bot.post(view_submission("budget_modal", values, user=user, private_metadata=metadata))
    assert reply.status == 200 and reply.seconds < 10  # the 3 s limit is checked under load in test_runtime
    return json.loads(reply.text) if reply.text else None


async def _budgets(bot: RunningBot) -> list[tuple[str, Decimal, str, dict[str, Any]]]:
    async with unit_of_work(bot.engine) as session:
        rows = await session.scalars(select(Budget).order_by(Budget.name))
        return [(b.name, b.amount, b.currency, b.scope) for b in rows]


async def _audit(bot: RunningBot) -> list[tuple[str, str, str]]:
    async with unit_of_work(bot.engine) as session:
        rows = await session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [(a.actor, a.action, a.subject_type) for a in rows]


async def test_engineer_opens_the_modal_and_creates_a_budget(bot: RunningBot) -> None:
    reply = await bot.post(command("/budget", "new", user=ENGINEER, response_url=bot.slack.response_url()))
    assert reply.status == 200
    opened = (await bot.slack.wait_for("views.open"))[0].args
    assert opened["view"]["callback_id"] == "budget_modal" and not view_problems(opened["view"])
    assert await submit(bot, form(), ENGINEER) is None  # saved: the modal closes
    assert await _budgets(bot) == [("payments", Decimal("250000"), "USD", {"team": ["payments"]})]
    assert await _audit(bot) == [(ENGINEER, "budget.create", "budget")]
    confirmation = (await bot.slack.wait_for("chat.postEphemeral"))[0].args
    assert confirmation["user"] == ENGINEER and "payments" in confirmation["text"]


async def test_invalid_modal_input_is_shown_beside_the_inputs(bot: RunningBot) -> None:
    answer = await submit(
        bot, form(name="", amount="-5", currency="dollars", scope="team", thresholds="x"), ADMIN
    )
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"name", "amount", "currency", "scope", "thresholds"}
    assert all(len(message) <= 150 for message in answer["errors"].values())
    assert await _budgets(bot) == [] and await _audit(bot) == []


async def test_viewer_cannot_create_or_open_the_modal(bot: RunningBot) -> None:
    answer = await ask(bot, "/budget", "new", user=VIEWER)
    assert "Only engineers or admins can create or change budgets; your role is viewer" in _text(answer)
    assert not bot.slack.calls_to("views.open")
    refused = await submit(bot, form(), VIEWER)  # a forged or stale modal changes nothing either
    assert refused["response_action"] == "errors" and "your role is viewer" in refused["errors"]["name"]
    assert await _budgets(bot) == [] and await _audit(bot) == []


async def test_budget_list_show_and_edit(bot: RunningBot) -> None:
    await submit(bot, form(name="aws-all", amount="900000", scope="provider=aws"), ADMIN)
    listing = await ask(bot, "/budget", "list", user=VIEWER)
    assert "*aws-all*" in _text(listing) and "of 900,000.00 USD" in _text(listing)
    assert not any(b["type"] == "actions" for b in listing["blocks"])  # a viewer gets no New button
    shown = await ask(bot, "/budget", "show AWS-ALL", user=ADMIN)
    text = _text(shown)
    assert "Budget: aws-all" in text and "*Forecast*" in text and "*Burn*" in text
    assert any(b["type"] == "image" for b in shown["blocks"])
    edit = next(b for b in shown["blocks"] if b["type"] == "actions")["elements"][0]
    assert (edit["action_id"], edit["value"]) == ("budget_edit", "aws-all")
    # The Edit button opens the modal prefilled; saving it updates the same budget.
    reply = await bot.post(
        block_action("budget_edit", "aws-all", user=ADMIN, response_url=bot.slack.response_url())
    )
    assert reply.status == 200
    view = (await bot.slack.wait_for("views.open"))[0].args["view"]
    assert json.loads(view["private_metadata"])["original"] == "aws-all"
    assert view["blocks"][1]["element"]["initial_value"] == "900000"
    await submit(bot, form(name="aws-all", amount="950000", scope="provider=aws"), ADMIN, original="aws-all")
    assert [b[:2] for b in await _budgets(bot)] == [("aws-all", Decimal("950000"))]
    assert [a[1] for a in await _audit(bot)] == ["budget.create", "budget.update"]


async def test_show_unknown_budget_names_the_ones_there_are(bot: RunningBot) -> None:
    await submit(bot, form(name="data"), ADMIN)
    text = _text(await ask(bot, "/budget", "show nope"))
    assert "There is no budget called 'nope'; the budgets are: data" in text


async def test_app_home_is_published_for_the_user_who_opens_it(bot: RunningBot) -> None:
    reply = await bot.post(
        event(
            {
                "type": "app_home_opened",
                "user": ENGINEER,
                "tab": "home",
                "channel": "D0HOME",
                "event_ts": "1700000000.1",
            }
        ),
        json_body=True,
    )
    assert reply.status == 200
    published = (await bot.slack.wait_for("views.publish"))[0].args
    assert published["user_id"] == ENGINEER and not view_problems(published["view"])
    assert "Your role: *engineer*" in _text(published["view"])
    assert not bot.slack.problems


async def test_without_a_role_nothing_is_shown(slack: FakeSlack, sample: AsyncEngine) -> None:
    runner, url = await start_bot(slack, sample, Roles(admin=[ADMIN], default="none"))
    try:
        async with aiohttp.ClientSession() as http:
            bot = RunningBot(url, slack, sample, http)
            text = _text(await ask(bot, "/cost", "mtd", user=VIEWER))
            assert "Only viewers, engineers or admins can see costs; you have no role" in text
            assert "Total" not in text
            assert "*admin*" in _text(await ask(bot, "/finops", "whoami", user=ADMIN))
    finally:
        await runner.cleanup()


async def test_an_unexpected_failure_is_an_apology_with_a_reference(bot: RunningBot) -> None:
    async with bot.engine.begin() as conn:
        for table in ("budget_alerts", "budget_evaluations", "budget_amendments", "budgets"):
            await conn.execute(text(f"DROP TABLE {table}"))
    answer = _text(await ask(bot, "/budget", "list"))
    assert re.search(r"something went wrong on our side \(reference [0-9a-f]{8}\)", answer)
    assert "Traceback" not in answer and "budgets" not in answer
    _, metrics = await bot.get("/metrics")
    assert re.search(r"^finops_handler_errors_total [1-9]", metrics, re.MULTILINE)


async def test_delete_needs_the_role_and_config_budgets_are_changed_in_the_file(bot: RunningBot) -> None:
    await submit(bot, form(name="data"), ADMIN)
    assert "your role is viewer" in _text(await ask(bot, "/budget", "delete data", user=VIEWER))
    assert (await ask(bot, "/budget", "delete DATA", user=ENGINEER))["text"] == "Budget *data* deleted."
    assert await _budgets(bot) == []
    assert [a[1] for a in await _audit(bot)] == ["budget.create", "budget.delete"]
    # A budget the config declares: the modal refuses to open for it, and a stale modal to save it.
    async with unit_of_work(bot.engine) as session:
        await budgets.save(
            session,
            BudgetSpec("platform", Decimal(5000)),
            actor="config",
            channel="config",
            managed_by="config",
        )
    edit = _text(await ask(bot, "/budget", "edit platform", user=ADMIN))
    assert "declared in the finops-bot config file" in edit and not bot.slack.calls_to("views.open")
    refused = await submit(bot, form(name="platform", amount="9"), ADMIN, original="platform")
    assert "declared in the finops-bot config file" in refused["errors"]["name"]
    assert "declared in the finops-bot config file" in _text(
        await ask(bot, "/budget", "delete platform", user=ADMIN)
    )
    async with unit_of_work(bot.engine) as session:
        assert (await budgets.named(session, "platform")).amount == Decimal(5000)
