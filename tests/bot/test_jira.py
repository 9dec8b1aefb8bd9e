"""Jira follow-up end to end: one issue per anomaly (never two), linked both ways with the Slack
thread, status back from Jira, outages and bad configuration handled, against the fake Jira
that the real `jira` client talks to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import web_client
from bot.jira_client import connect, label
from bot.outbound import outbound
from bot.settings import Jira, Roles, Settings, load_settings
from jobs.jira_sync import sync
from jobs.outbox import Delivered, deliver
from storage.db import unit_of_work
from storage.models import Anomaly, JiraLink, OutboxItem
from storage.types import utcnow
from tests.bot.conftest import ADMIN, ENGINEER, ENGINEERS_GROUP, RunningBot, settle, start_bot
from tests.bot.test_alerts import ALERTS, SPIKE, _days, click
from tests.bot.test_slash_commands import _text
from tests.factories import frame, load
from tests.fakes.jira import FakeJira, jira_time
from tests.fakes.slack import FakeSlack
from tests.slack_requests import BOT_TOKEN

ADMINS = "C0ADMINS"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira() as fake:
        yield fake


def settings_for(slack: FakeSlack, jira: FakeJira, **jira_config: Any) -> Settings:
    return load_settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack.api_url,
        alert_channel=ALERTS,
        channels={"admin": ADMINS},
        jira_url=jira.url,
        jira_user=jira.user,
        jira_api_token=jira.token,
        jira_project="FIN",
        jira=Jira(**({"min_severity": "low"} | jira_config)),
    )


async def run(engine: AsyncEngine, settings: Settings) -> Delivered:
    """Deliver what is due (as the outbox job does); then make everything waiting due at once."""
    senders, on_failure = outbound(settings, web_client(settings))
    done = await deliver(engine, senders, on_failure)
    async with unit_of_work(engine) as session:
        await session.execute(update(OutboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    return done


async def alert(engine: AsyncEngine, settings: Settings) -> str:
    """Detect the spike and plan its Slack and Jira news (as the scheduled job does); its fingerprint."""
    from bot.settings import Detection
    from jobs.detect import detect
    from jobs.notify import plan

    await load(engine, frame(*_days(SPIKE)))
    found = await detect(engine, SPIKE, Detection())
    async with unit_of_work(engine) as session:
        await plan(session, settings, [a["fingerprint"] for a in found.anomalies])
    (fingerprint,) = [a["fingerprint"] for a in found.anomalies]
    return fingerprint


async def labelled_issue(settings: Settings, fingerprint: str, summary: str) -> Any:
    """An issue made in Jira directly (as if a crash came between creating and recording it)."""
    client = await asyncio.to_thread(connect, settings)
    fields = {
        "project": {"key": "FIN"},
        "issuetype": {"name": "Task"},
        "summary": summary,
        "labels": ["finops", label(fingerprint)],
    }
    return await asyncio.to_thread(client.create_issue, fields=fields)


async def _links(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with unit_of_work(engine) as session:
        return [(link.fingerprint, link.issue_key) for link in await session.scalars(select(JiraLink))]


async def test_an_anomaly_gets_one_issue_linked_both_ways(
    engine: AsyncEngine, slack: FakeSlack, jira: FakeJira
) -> None:
    settings = settings_for(slack, jira)
    fingerprint = await alert(engine, settings)
    done = await run(engine, settings)
    assert done.failed == [] and done.retrying == []
    (issue,) = jira.issues.values()
    fields = issue.fields
    assert fields["labels"] == ["finops", label(fingerprint)]
    assert fields["priority"]["name"] in ("Highest", "High", "Medium", "Low")
    assert "Amazon EC2" in fields["summary"] and "[Discussion in Slack|https://" in fields["description"]
    assert await _links(engine) == [(fingerprint, issue.key)]
    await run(engine, settings)  # the thread reply and the root update that the creation enqueued
    reply = slack.calls_to("chat.postMessage")[-1].args
    assert reply["text"] == f"Jira issue <{jira.url}/browse/{issue.key}|{issue.key}> created."
    root = slack.calls_to("chat.update")[-1].args
    assert f"Jira <{jira.url}/browse/{issue.key}|{issue.key}>" in _text(root)
    assert "anomaly_jira" not in str(root["blocks"])
    assert not jira.problems and not slack.problems


async def test_outage_retries_then_creates_exactly_once(
    engine: AsyncEngine, slack: FakeSlack, jira: FakeJira
) -> None:
    settings = settings_for(slack, jira)
    await alert(engine, settings)
    jira.fail("POST", "/rest/api/2/issue", status=503, times=2)
    assert len((await run(engine, settings)).retrying) == 1
    assert len((await run(engine, settings)).retrying) == 1
    assert len((await run(engine, settings)).sent) >= 1
    await run(engine, settings)
    assert len(jira.issues) == 1 and len(jira.calls_to("POST", "/rest/api/2/issue")) == 3
    assert [
        c.args["channel"] for c in slack.calls_to("chat.postMessage") if c.args["channel"] == ADMINS
    ] == []


async def test_an_issue_created_but_not_recorded_is_found_by_its_label(
    engine: AsyncEngine, slack: FakeSlack, jira: FakeJira
) -> None:
    settings = settings_for(slack, jira)
    fingerprint = await alert(engine, settings)
    made = await labelled_issue(settings, fingerprint, "earlier")
    await run(engine, settings)
    assert list(jira.issues) == [made.key] and await _links(engine) == [(fingerprint, made.key)]
    assert "Seen again by finops-bot" in jira.issues[made.key].comments[-1]["body"]


@pytest.mark.parametrize(("closed_days_ago", "reopened"), [(5, True), (60, False)])
async def test_a_recently_closed_issue_is_reopened_an_old_one_followed(
    engine: AsyncEngine, slack: FakeSlack, jira: FakeJira, closed_days_ago: int, reopened: bool
) -> None:
    settings = settings_for(slack, jira, reopen_within_days=30)
    fingerprint = await alert(engine, settings)
    old = await labelled_issue(settings, fingerprint, "last time")
    jira.resolve(old.key)
    jira.issues[old.key].fields["resolutiondate"] = jira_time(
        datetime.now(UTC) - timedelta(days=closed_days_ago)
    )
    await run(engine, settings)
    keys = list(jira.issues)
    if reopened:
        assert keys == [old.key] and jira.issues[old.key].fields["status"]["statusCategory"]["key"] == "new"
    else:
        assert len(keys) == 2 and await _links(engine) == [(fingerprint, keys[1])]


async def test_resolved_in_jira_resolves_the_anomaly_and_tells_the_thread(
    engine: AsyncEngine, slack: FakeSlack, jira: FakeJira
) -> None:
    settings = settings_for(slack, jira)
    await alert(engine, settings)
    await run(engine, settings)
    await run(engine, settings)
    (key,) = list(jira.issues)
    client = await asyncio.to_thread(connect, settings)

    async def search(jql: str) -> list[Any]:
        found: list[Any] = await asyncio.to_thread(client.search_issues, jql, fields="status,resolution")
        return found

    assert (await sync(engine, search)).resolved == []
    jira.resolve(key)
    assert (await sync(engine, search)).resolved == [key]
    assert (await sync(engine, search)).resolved == []  # once
    await run(engine, settings)
    assert f"{key} was resolved in Jira (Done). The anomaly is resolved." in [
        c.args.get("text") for c in slack.calls_to("chat.postMessage")
    ]
    async with unit_of_work(engine) as session:
        status = await session.scalar(select(Anomaly.status).where(Anomaly.slack_ts.is_not(None)))
    assert status == "resolved"
    assert "*Resolved* by jira" in _text(slack.calls_to("chat.update")[-1].args)


async def test_bad_configuration_is_said_once_with_jiras_words(
    engine: AsyncEngine, slack: FakeSlack, jira: FakeJira
) -> None:
    settings = settings_for(
        slack, jira, priorities={"low": "Urgent", "medium": "Urgent", "high": "Urgent", "critical": "Urgent"}
    )
    await alert(engine, settings)
    done = await run(engine, settings)
    assert done.failed == ["jira:" + (await _fingerprints(engine))[0]]
    await run(engine, settings)
    await run(engine, settings)
    texts = [c.args.get("text", "") for c in slack.calls_to("chat.postMessage")]
    thread = [t for t in texts if t.startswith("Could not open the Jira issue")]
    assert len(thread) == 1 and "The priority selected is invalid." in thread[0]
    admins = [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == ADMINS]
    assert len(admins) == 1 and "failed 1 time(s)" in admins[0].args["text"]
    assert jira.issues == {}


async def _fingerprints(engine: AsyncEngine) -> list[str]:
    async with unit_of_work(engine) as session:
        return list(await session.scalars(select(Anomaly.fingerprint).where(Anomaly.slack_ts.is_not(None))))


async def test_a_long_outage_is_told_to_the_admins_once(
    engine: AsyncEngine, slack: FakeSlack, jira: FakeJira
) -> None:
    settings = settings_for(slack, jira, tell_admins_after=2)
    await alert(engine, settings)
    jira.fail("POST", "/rest/api/2/issue", status=503, times=4)
    for _ in range(5):
        await run(engine, settings)
    admins = [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args["channel"] == ADMINS]
    assert len(admins) == 1 and "failed 2 time(s)" in admins[0] and "503" in admins[0]
    assert len(jira.issues) == 1


@pytest.fixture
async def jira_bot(
    clean_env: pytest.MonkeyPatch, slack: FakeSlack, jira: FakeJira, engine: AsyncEngine
) -> AsyncIterator[tuple[RunningBot, Settings]]:
    settings = settings_for(slack, jira, min_severity="none")
    await alert(engine, settings)
    await run(engine, settings)
    before = asyncio.all_tasks()
    runner, url = await start_bot(
        slack,
        engine,
        Roles(admin=[ADMIN], engineer=[ENGINEERS_GROUP]),
        alert_channel=ALERTS,
        jira_url=jira.url,
        jira_user=jira.user,
        jira_api_token=jira.token,
        jira_project="FIN",
    )
    async with aiohttp.ClientSession() as http:
        yield RunningBot(url, slack, engine, http), settings
    await runner.cleanup()
    await settle(before)


async def test_the_button_opens_one_issue_and_slack_actions_comment_in_jira(
    jira_bot: tuple[RunningBot, Settings], jira: FakeJira
) -> None:
    bot, _ = jira_bot
    assert jira.issues == {}  # below min_severity: nothing by itself
    (fingerprint,) = await _fingerprints(bot.engine)
    await click(bot, "anomaly_jira", fingerprint, ENGINEER)
    await click(bot, "anomaly_jira", fingerprint, ADMIN)  # a second click: no second issue
    for _ in range(100):
        if jira.issues:
            break
        await asyncio.sleep(0.05)
    (key,) = list(jira.issues)
    await click(bot, "anomaly_ack", fingerprint, ENGINEER)
    for _ in range(100):
        if jira.issues[key].comments:
            break
        await asyncio.sleep(0.05)
    assert jira.issues[key].comments[-1]["body"] == f"In Slack, {ENGINEER} acknowledged this."
    assert len(jira.issues) == 1 and not jira.problems
