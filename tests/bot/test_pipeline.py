"""End to end, unattended: `finops-bot run` (the real app and its scheduler, in its own process)
against the fake Slack and Jira servers. A billing file lands in a watched folder; the alert, the
Jira issue and a click on it follow."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.conftest import ADMIN
from tests.bot.process import (
    ALERTS,
    POLL_SECONDS,
    anomaly_roots,
    bot_env,
    buttons,
    config,
    drop,
    jira_env,
    message_text,
    start_bot_process,
    wait_until,
)
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.slack_requests import block_action


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira() as fake:
        yield fake


async def test_a_spike_dropped_in_the_watched_folder_is_alerted_within_a_minute_and_followed_up(
    slack: FakeSlack, jira: FakeJira, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    env = bot_env(
        slack,
        f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        FINOPS_CONFIG=str(config(tmp_path, folder)),
        **jira_env(jira),
    )
    bot = await start_bot_process(env, tmp_path / "bot.log")
    try:
        health = await bot.health()
        assert health["status"] == "ok" and health["leader"] is True, health
        assert "ingest:focus-drop" in health["jobs"]

        landed, _ = drop(folder, "focus-2026.csv", {"Amazon EC2": 0.25})
        roots = await wait_until(lambda: anomaly_roots(slack), 90, f"no alert came:\n{bot.output()[-4000:]}")
        took = time.perf_counter() - landed
        print(f"\nfile landed -> anomaly alert in Slack: {took:.1f} s (folder polled every {POLL_SECONDS} s)")
        assert took < 60
        (root,) = roots
        assert "Amazon EC2" in message_text(root) and root["channel"] == ALERTS

        await wait_until(lambda: jira.issues, 30, "no Jira issue was created")
        await asyncio.sleep(3)  # several outbox ticks and folder polls later ...
        assert len(jira.issues) == 1 and len(jira.calls_to("POST", "/rest/api/2/issue")) == 1
        assert len(anomaly_roots(slack)) == 1  # ... still one alert and one issue

        body = block_action(
            "anomaly_ack",
            buttons(root)["anomaly_ack"],
            user=ADMIN,
            response_url=slack.response_url("ack"),
            channel=ALERTS,
        )
        assert await bot.post(body) == 200
        updates = await wait_until(
            lambda: [c.args for c in slack.calls_to("chat.update") if "Acknowledged" in message_text(c.args)],
            30,
            f"the root message was not updated: {[c.args for c in slack.calls_to('chat.update')]}\n"
            f"{bot.output()[-3000:]}",
        )
        (root_ts,) = [ts for (channel, ts), sent in slack.messages.items() if "thread_ts" not in sent]
        assert (updates[0]["channel"], updates[0]["ts"]) == (ALERTS, root_ts)

        status = await bot.health()
        assert status["jobs"]["ingest:focus-drop"]["failing"] is False
        metrics = await bot.metrics()
        for line in (
            'finops_ingested_rows_total{source="focus-drop"} 210.0',
            'finops_job_seconds_count{job="outbox"}',
            'finops_slack_call_seconds_count{method="chat.postMessage"}',
            'finops_jira_call_seconds_count{method="create_issue"}',
            'finops_outbox_depth{status="failed"} 0.0',
            "finops_leader 1.0",
        ):
            assert line in metrics, line
    finally:
        code = await bot.stop()
    assert code == 0, bot.output()[-4000:]
    lines = [json.loads(line) for line in bot.output().splitlines() if line.startswith("{")]
    assert any(line.get("job") == "ingest:focus-drop" and line.get("job_id") for line in lines)
    assert not [line for line in lines if line.get("level") == "error"], "errors were logged"
