"""Remediation end to end: a dry-run plan (moto's AWS) posted to Slack (the fake Slack) with its
changes and saving; the approver role and a second person required; approval executes it in AWS
with each call's result in the thread, once, even on a double click; reject asks why and nothing
runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import web_client
from bot.notify import SlackNotifier
from bot.settings import Remediation, Roles, Settings, load_settings
from jobs import remediate
from jobs.outbox import deliver
from storage import actions
from storage.db import unit_of_work
from storage.models import Action, AuditLog
from tests import aws_seed
from tests.bot.conftest import ADMIN, ENGINEER, ENGINEERS_GROUP, RunningBot, settle, start_bot
from tests.bot.test_alerts import ADMIN2, _buttons, click
from tests.bot.test_slash_commands import _text
from tests.fakes.slack import FakeSlack
from tests.slack_requests import BOT_TOKEN, view_submission

CHANNEL = "C0REMEDY"
REMEDIATION = Remediation(
    channel=CHANNEL,
    regions=[aws_seed.REGION],
    playbooks={"delete-unattached-volumes": {"min_age_days": 0}},
)


def settings(slack: FakeSlack) -> Settings:
    return load_settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url, remediation=REMEDIATION)


@pytest.fixture
async def planned(
    clean_env: pytest.MonkeyPatch, aws: str, slack: FakeSlack, engine: AsyncEngine
) -> AsyncIterator[tuple[RunningBot, aws_seed.Account, dict[str, Action]]]:
    """The app, and three plans (requested by ADMIN) posted for approval."""
    account = aws_seed.account()
    config = settings(slack)
    found = await remediate.propose(
        engine,
        config,
        playbooks=["stop-idle-instances", "delete-unattached-volumes", "release-unassociated-eips"],
        requested_by=ADMIN,
    )
    await deliver(engine, SlackNotifier(web_client(config)).senders())
    before = asyncio.all_tasks()
    runner, url = await start_bot(
        slack, engine, Roles(admin=[ADMIN, ADMIN2], engineer=[ENGINEERS_GROUP]), remediation=REMEDIATION
    )
    async with aiohttp.ClientSession() as http:
        yield RunningBot(url, slack, engine, http), account, {p.playbook: p.action for p in found if p.action}
    await runner.cleanup()
    await settle(before)


def _message(slack: FakeSlack, action: Action) -> dict[str, Any]:
    posted = [c.args for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]
    return next(m for m in posted if f"Remediation plan #{action.id}:" in m["text"])


async def _thread_until(bot: RunningBot, action_id: int, text: str) -> str:
    """The plan's thread, once a reply containing `text` is in it (10 s at most)."""
    async with unit_of_work(bot.engine) as session:
        found = await session.get(Action, action_id)
    assert found is not None and found.slack_ts
    said = ""
    for _ in range(200):
        replies = bot.slack.calls_to("chat.postMessage")
        said = "\n".join(c.args["text"] for c in replies if c.args.get("thread_ts") == found.slack_ts)
        if text in said:
            break
        await asyncio.sleep(0.05)
    return said


async def _status(engine: AsyncEngine, action_id: int) -> str:
    async with unit_of_work(engine) as session:
        found = await session.get(Action, action_id)
    assert found is not None
    return found.status


async def test_a_plan_is_posted_with_its_changes_and_approval_executes_it_once(
    planned: tuple[RunningBot, aws_seed.Account, dict[str, Action]],
) -> None:
    bot, account, plans = planned
    slack, engine = bot.slack, bot.engine
    stop = plans["stop-idle-instances"]
    message = _message(slack, stop)
    text = _text(message)
    assert message["channel"] == CHANNEL and _buttons(message) == ["approval_approve", "approval_reject"]
    assert f"`ec2:StopInstances` on `{account.idle}` (us-east-1): saves 70.08 USD/month" in text
    assert account.busy not in text
    assert "70.08 USD a month" in text and "*Risk*\nmedium" in text and f"<@{ADMIN}>" in text
    assert "dry run passed for every call" in text

    value = f"action:{stop.id}"
    await click(bot, "approval_approve", value, ENGINEER)  # an engineer: not the approver role
    await click(bot, "approval_approve", value, ADMIN)  # the requester
    notes = [c.args["text"] for c in await slack.wait_for("response_url", 2)]
    assert any("Only admins can approve remediation" in n for n in notes)
    assert any("someone else has to approve it" in n for n in notes)
    assert aws_seed.state(account.idle) == "running" and await _status(engine, stop.id) == "proposed"

    await click(bot, "approval_approve", value, ADMIN2)
    said = await _thread_until(bot, stop.id, "Finished:")
    assert await _status(engine, stop.id) == "done"
    assert (
        aws_seed.state(account.idle) in ("stopping", "stopped") and aws_seed.state(account.busy) == "running"
    )
    assert f"<@{ADMIN2}> approved this." in said
    assert f":white_check_mark: `ec2:StopInstances` {account.idle} (us-east-1): done" in said
    assert "Finished: 1 of 1 changes made. Monthly saving from what was made: 70.08 USD." in said
    root = slack.calls_to("chat.update")[-1].args
    assert "*Executed*" in _text(root) and _buttons(root) == []

    # A double click (and Slack's retry of it) runs nothing again.
    await click(bot, "approval_approve", value, ADMIN2)
    await click(bot, "approval_approve", value, ADMIN2, **{"X-Slack-Retry-Num": "1"})
    notes = [c.args["text"] for c in await slack.wait_for("response_url", 4)]
    assert sum("Nothing changed: it was done" in n for n in notes) == 2
    async with unit_of_work(engine) as session:
        attempts = [s.attempts for s in await actions.steps(session, stop.id)]
        trail = [
            (a.actor, a.action)
            for a in await session.scalars(
                select(AuditLog).where(AuditLog.subject_id == str(stop.id)).order_by(AuditLog.id)
            )
        ]
    assert attempts == [1]
    assert trail == [
        (ADMIN, "remediation.proposed"),
        (ADMIN2, "approval.approved"),
        ("finops-bot", "remediation.step_done"),
        ("finops-bot", "remediation.finished"),
    ]
    # The other plans were not touched.
    assert account.volume in aws_seed.volumes() and account.address in aws_seed.addresses()


async def test_reject_asks_why_and_the_plan_never_runs(
    planned: tuple[RunningBot, aws_seed.Account, dict[str, Action]],
) -> None:
    bot, account, plans = planned
    volumes = plans["delete-unattached-volumes"]
    value = f"action:{volumes.id}"
    await click(bot, "approval_reject", value, ADMIN2)
    view = (await bot.slack.wait_for("views.open"))[0].args["view"]
    await bot.post(
        view_submission(
            "approval_reject_modal",
            {"reason": {"value": {"value": "keep it for the audit"}}},
            user=ADMIN2,
            private_metadata=view["private_metadata"],
        )
    )
    update = (await bot.slack.wait_for("chat.update"))[-1].args
    assert "*Rejected* by <@U0ADMIN2>" in _text(update) and '"keep it for the audit"' in _text(update)
    assert await _status(bot.engine, volumes.id) == "rejected"
    await click(bot, "approval_approve", value, ADMIN2)  # too late
    assert "Nothing changed: it was rejected" in (await bot.slack.wait_for("response_url"))[0].args["text"]
    with pytest.raises(remediate.NotRunnable, match="was rejected"):
        await remediate.execute(bot.engine, settings(bot.slack), volumes.id)
    assert await remediate.run_due(bot.engine, settings(bot.slack)) == []
    assert account.volume in aws_seed.volumes() and aws_seed.snapshots_of(account.volume) == []
    assert json.loads(json.dumps(_message(bot.slack, volumes)))  # the posted plan is plain JSON
