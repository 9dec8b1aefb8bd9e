"""Operability: JSON log lines with ids and no secrets; Slack and Jira calls in the Prometheus registry.

Logging is configured as in production (bot.log.configure, JSON) into a buffer and restored after
each test; metrics are read from the real registry before and after (it is shared by the session).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
import structlog
from jira import JIRAError
from prometheus_client import REGISTRY
from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import UPLOAD, web_client
from bot.jira_client import JiraFollowUp, connect
from bot.log import QUIET_LOGGERS, bound, configure, new_id
from bot.settings import Settings, load_settings
from jobs.outbox import Permanent
from storage.db import unit_of_work
from storage.models import JiraLink
from tests.bot.conftest import VIEWER, RunningBot
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.slack_requests import BOT_TOKEN, SIGNING_SECRET, command

Lines = Callable[[], list[dict[str, Any]]]
# Loggers whose lines during a request belong to it (aiosqlite's come from its own thread).
OURS = ("bot.", "commands.", "jobs.", "finops.", "storage.", "slack_bolt.", "slack_sdk.")


@contextmanager
def json_logs(level: str = "INFO") -> Iterator[Lines]:
    """Logging configured for JSON lines into a buffer; what was configured before is restored."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    was_configured, config = structlog.is_configured(), structlog.get_config()
    buffer, stderr = io.StringIO(), sys.stderr
    sys.stderr = buffer  # configure() logs to sys.stderr as it is when called
    try:
        configure(level, "json")
    finally:
        sys.stderr = stderr
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, quiet_level in quiet.items():
            logging.getLogger(name).setLevel(quiet_level)
        if was_configured:
            structlog.configure(**config)
        else:
            structlog.reset_defaults()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def slack_calls(method: str) -> float:
    return metric("finops_slack_call_seconds_count", method=method)


def slack_errors(method: str, error: str) -> float:
    return metric("finops_slack_call_errors_total", method=method, error=error)


def jira_calls(method: str) -> float:
    return metric("finops_jira_call_seconds_count", method=method)


def jira_errors(method: str, status: str) -> float:
    return metric("finops_jira_call_errors_total", method=method, status=status)


# --- logs ---------------------------------------------------------------------------------------


def test_secrets_never_reach_a_log_line() -> None:
    jira_token = "pat-0123456789abcdef"
    with json_logs() as lines:
        log = structlog.get_logger("bot.test")
        log.info(f"posting with {BOT_TOKEN} to Slack", token=BOT_TOKEN, channel="C0FINOPS")
        log.info("headers", headers={"Authorization": f"Bearer {jira_token}", "Accept": "json"})
        log.info("answer", detail=f"refused app token xapp-1-A0-123 and {BOT_TOKEN}")
        log.info("settings", jira_api_token=jira_token, signing_secret=SIGNING_SECRET, password="hunter2")
        logging.getLogger("slack_sdk.web").warning("sending with token %s", BOT_TOKEN)
        try:
            raise RuntimeError(f"Slack refused {BOT_TOKEN}")
        except RuntimeError:
            log.exception("call failed")
            logging.getLogger("aiohttp.server").exception("handler failed")
        found = lines()
    text = json.dumps(found)
    for secret in (BOT_TOKEN, jira_token, "xapp-1-A0-123", SIGNING_SECRET, "hunter2"):
        assert secret not in text
    events = {line["event"]: line for line in found}
    assert events["posting with [redacted] to Slack"]["token"] == "[redacted]"
    assert events["posting with [redacted] to Slack"]["channel"] == "C0FINOPS"  # the rest is kept
    assert events["headers"]["headers"] == {"Authorization": "[redacted]", "Accept": "json"}
    assert events["settings"]["jira_api_token"] == events["settings"]["password"] == "[redacted]"
    assert events["sending with token [redacted]"]["logger"] == "slack_sdk.web"
    assert "RuntimeError: Slack refused [redacted]" in events["call failed"]["exception"]
    assert "RuntimeError: Slack refused [redacted]" in events["handler failed"]["exception"]


async def test_bound_ids_are_on_every_line_of_the_block_and_of_its_tasks_only() -> None:
    async def in_a_task() -> None:
        structlog.get_logger("jobs.test").info("from a task")

    with json_logs() as lines:
        run = new_id()
        with bound(job="digest", job_id=run):
            structlog.get_logger("jobs.test").info("job line")
            logging.getLogger("jobs.stdlib").info("stdlib line")
            await asyncio.create_task(in_a_task())
        structlog.get_logger("jobs.test").info("after")
        found = {line["event"]: line for line in lines()}
    assert len(run) == 12 and run != new_id()
    for event in ("job line", "stdlib line", "from a task"):
        assert (found[event]["job"], found[event]["job_id"]) == ("digest", run)
    assert "job_id" not in found["after"]


async def test_every_line_of_a_slack_request_carries_its_own_request_id(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    # Bolt's debug lines come from the dispatch (its logger took the root's level when the app was made).
    caplog.set_level(logging.DEBUG, logger="slack_bolt.AsyncApp")
    # The chart upload fails, so the lazy listener (a task of its own) logs a warning of ours.
    bot.slack.fail("files.getUploadURLExternal", error="internal_error", times=2)
    failed_before = slack_errors("files.getUploadURLExternal", "internal_error")
    with json_logs("DEBUG") as lines:
        for n in range(2):
            url = bot.slack.response_url(f"r{n}")
            reply = await bot.post(command("/cost", "last 7 days by service", user=VIEWER, response_url=url))
            assert reply.status == 200
            await bot.slack.wait_for("response_url", n + 1, timeout=15)
        structlog.get_logger("bot.test").info("between requests")
        found = lines()
        raw = json.dumps(found)
    assert BOT_TOKEN not in raw and SIGNING_SECRET not in raw
    ours = [line for line in found if line["logger"].startswith(OURS) and line["event"] != "between requests"]
    assert ours and all("request_id" in line for line in ours), [x for x in ours if "request_id" not in x]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in ours:
        by_id.setdefault(line["request_id"], []).append(line)
    assert len(by_id) == 2  # one id per request, none shared
    for request_lines in by_id.values():
        events = " | ".join(line["event"] for line in request_lines)
        assert "chart upload failed" in events  # ours, from the lazy listener
        assert "files.getUploadURLExternal" in events  # slack_sdk's, from the lazy listener
        assert any(line["logger"].startswith("slack_bolt") for line in request_lines)  # the dispatch
    assert "request_id" not in next(line for line in found if line["event"] == "between requests")
    # The handler's client (Bolt makes one per request) is measured too.
    assert slack_errors("files.getUploadURLExternal", "internal_error") == failed_before + 2


# --- Slack calls --------------------------------------------------------------------------------


def slack_settings(api_url: str) -> Settings:
    return load_settings(slack_bot_token=BOT_TOKEN, slack_api_url=api_url)


async def test_slack_calls_are_timed_and_failures_counted(
    clean_env: pytest.MonkeyPatch, slack: FakeSlack
) -> None:
    client = web_client(slack_settings(slack.api_url))
    posts, not_found = slack_calls("chat.postMessage"), slack_errors("chat.postMessage", "channel_not_found")
    await client.chat_postMessage(channel="C0FINOPS", text="hello")
    slack.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C0GONE", text="hello")
    assert slack_calls("chat.postMessage") == posts + 2
    assert slack_errors("chat.postMessage", "channel_not_found") == not_found + 1


async def test_a_retried_slack_call_is_one_call_and_its_retries_are_counted(
    clean_env: pytest.MonkeyPatch, slack: FakeSlack
) -> None:
    client = web_client(slack_settings(slack.api_url))
    updates = slack_calls("chat.update")
    limited = metric("finops_slack_call_retries_total", method="chat.update", reason="ratelimited")
    failed = metric("finops_slack_call_errors_total", method="chat.update", error="ratelimited")
    posted = await client.chat_postMessage(channel="C0FINOPS", text="v1")
    slack.rate_limit("chat.update", times=1, retry_after=0)
    await client.chat_update(channel="C0FINOPS", ts=posted["ts"], text="v2")
    assert slack_calls("chat.update") == updates + 1
    assert (
        metric("finops_slack_call_retries_total", method="chat.update", reason="ratelimited") == limited + 1
    )
    assert metric("finops_slack_call_errors_total", method="chat.update", error="ratelimited") == failed


async def test_file_uploads_are_measured_step_by_step(
    clean_env: pytest.MonkeyPatch, slack: FakeSlack
) -> None:
    client = web_client(slack_settings(slack.api_url))
    steps = ("files.getUploadURLExternal", UPLOAD, "files.completeUploadExternal")
    before = [slack_calls(step) for step in steps]
    await client.files_upload_v2(content=b"a,b\n1,2\n", filename="costs.csv", title="costs")
    assert [slack_calls(step) for step in steps] == [n + 1 for n in before]


async def test_an_unreachable_slack_counts_the_connection_error(clean_env: pytest.MonkeyPatch) -> None:
    with FakeSlack() as gone:
        api_url = gone.api_url  # a port nobody answers on once stopped
    client = web_client(slack_settings(api_url))
    refused = slack_errors("auth.test", "ClientConnectorError")
    retried = metric("finops_slack_call_retries_total", method="auth.test", reason="ClientConnectorError")
    with pytest.raises(aiohttp.ClientConnectorError):
        await client.auth_test()
    assert slack_errors("auth.test", "ClientConnectorError") == refused + 1
    assert (
        metric("finops_slack_call_retries_total", method="auth.test", reason="ClientConnectorError")
        == retried + 2
    )


# --- Jira calls ---------------------------------------------------------------------------------


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira() as fake:
        yield fake


def jira_settings(jira: FakeJira) -> Settings:
    return load_settings(
        jira_url=jira.url, jira_user=jira.user, jira_api_token=jira.token, jira_project="FIN"
    )


async def link(engine: AsyncEngine, fingerprint: str, key: str) -> None:
    async with unit_of_work(engine) as session:
        session.add(
            JiraLink(fingerprint=fingerprint, issue_key=key, issue_url=f"https://j/{key}", status="new")
        )


async def test_jira_calls_are_timed_and_failures_counted_by_status(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine, jira: FakeJira
) -> None:
    settings = jira_settings(jira)
    client = await asyncio.to_thread(connect, settings)
    fields = {"project": {"key": "FIN"}, "issuetype": {"name": "Task"}, "summary": "spike"}
    issue = await asyncio.to_thread(client.create_issue, fields=fields)
    await link(engine, "fp-ok", issue.key)
    await link(engine, "fp-missing", "FIN-999")
    follow = JiraFollowUp(settings)
    connects, comments = jira_calls("connect"), jira_calls("add_comment")
    missing, outage = jira_errors("add_comment", "404"), jira_errors("add_comment", "503")

    async with unit_of_work(engine) as session:
        await follow.comment(session, {"fingerprint": "fp-ok", "text": "seen again"})
        with pytest.raises(Permanent):  # 404: refused for good
            await follow.comment(session, {"fingerprint": "fp-missing", "text": "seen again"})
        jira.fail("POST", "issue", status=503)
        with pytest.raises(JIRAError):  # a 503: retried later by the outbox
            await follow.comment(session, {"fingerprint": "fp-ok", "text": "seen again"})

    assert jira_calls("connect") == connects + 1  # once, the client is kept
    assert jira_calls("add_comment") == comments + 3
    assert jira_errors("add_comment", "404") == missing + 1
    assert jira_errors("add_comment", "503") == outage + 1
