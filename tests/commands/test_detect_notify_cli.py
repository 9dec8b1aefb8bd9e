"""`finops-bot detect --notify`: what the scheduled job would post, posted once."""

from __future__ import annotations

import json

import pytest

from tests.bot.test_alerts import ALERTS, SPIKE, _days
from tests.cli_runner import RunCli
from tests.factories import store
from tests.fakes.slack import FakeSlack
from tests.slack_requests import BOT_TOKEN


@pytest.fixture
def slack() -> FakeSlack:
    with FakeSlack(bot_token=BOT_TOKEN) as fake:
        yield fake  # type: ignore[misc]


def test_notify_posts_new_anomalies_once(
    cli: RunCli, database_url: str, slack: FakeSlack, clean_env: pytest.MonkeyPatch
) -> None:
    store(database_url, *_days(SPIKE))
    for name, value in {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "FINOPS_ALERT_CHANNEL": ALERTS,
    }.items():
        clean_env.setenv(name, value)
    first = cli("detect", "--as-of", SPIKE.isoformat(), "--notify", "--json", database_url=database_url)
    assert first.code == 0, first.err
    notified = json.loads(first.out)["notified"]
    assert [k.split(":")[0] for k in notified["sent"]] == ["slack-root"] and notified["failed"] == []
    again = cli("detect", "--as-of", SPIKE.isoformat(), "--notify")
    assert again.code == 0 and "Slack: 0 sent, 0 to retry, 0 failed." in again.out
    roots = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]
    assert len(roots) == 1 and roots[0].args["channel"] == ALERTS and not slack.problems


def test_notify_without_a_channel_says_what_to_set(
    cli: RunCli, database_url: str, slack: FakeSlack, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    result = cli("detect", "--notify", database_url=database_url)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("error: no alert channel: set FINOPS_ALERT_CHANNEL")
    assert not slack.calls
