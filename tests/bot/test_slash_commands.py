"""End to end: signed requests to the running app's /slack/events, answers in the fake Slack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from storage.db import unit_of_work
from storage.models import CostDaily
from tests.bot.conftest import ADMIN, ENGINEER, VIEWER, RunningBot, start_bot
from tests.fakes.slack import block_kit_problems
from tests.slack_requests import command


def _text(message: dict[str, Any]) -> str:
    """Every text in a message's blocks, joined: what a person reads."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks", []))
    return "\n".join(found)


async def ask(bot: RunningBot, name: str, text: str, user: str = VIEWER) -> dict[str, Any]:
    """Send a slash command; its ack must be an empty 200; returns the answer it posts.

    The 3-second limit itself is checked under load in test_runtime (timing every request of
    every test on a shared machine would only make them flaky); here an ack must not wait for
    the answer."""
    before = len(bot.slack.responses())
    url_name = f"r{before}"
    reply = await bot.post(command(name, text, user=user, response_url=bot.slack.response_url(url_name)))
    assert reply.status == 200, reply.text
    assert reply.text == ""
    assert reply.seconds < 10
    await bot.slack.wait_for("response_url", before + 1, timeout=15)
    answer = bot.slack.responses(url_name)[-1].args
    assert not block_kit_problems(answer.get("blocks", [])), block_kit_problems(answer.get("blocks", []))
    return answer


async def test_cost_answers_with_table_total_change_and_chart(bot: RunningBot) -> None:
    answer = await ask(bot, "/cost", "last 7 days by service where provider=aws")
    text = _text(answer)
    assert answer["response_type"] == "ephemeral"
    assert "Cost by service, last 7 days" in text
    assert "Amazon Elastic Compute Cloud" in text and "vs previous 7 days" in text
    # The total is what the store holds for those days (data up to yesterday: today is not loaded).
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    async with unit_of_work(bot.engine) as session:
        stored = await session.scalar(
            select(func.sum(CostDaily.billed_cost)).where(
                CostDaily.usage_date.between(yesterday - timedelta(days=5), yesterday),
                CostDaily.provider == "aws",
            )
        )
    assert f"Total *{Decimal(stored).quantize(Decimal('0.01')):,} USD*" in text
    # The chart went through the files upload v2 flow and the image block points at that file.
    completed = bot.slack.calls_to("files.completeUploadExternal")
    assert bot.slack.calls_to("files.getUploadURLExternal") and completed
    file_id = completed[-1].args["files"][0]["id"]
    assert bot.slack.files[file_id].startswith(b"\x89PNG")
    images = [b for b in answer["blocks"] if b["type"] == "image"]
    assert images == [{"type": "image", "slack_file": {"id": file_id}, "alt_text": images[0]["alt_text"]}]
    assert not bot.slack.problems


async def test_unknown_words_get_an_explanation_with_examples(bot: RunningBot) -> None:
    text = _text(await ask(bot, "/cost", "cost for the last fortnight"))
    assert '"fortnight"' in text and "Try:" in text and "/cost help" in text
    assert "Traceback" not in text and "Error" not in text
    text = _text(await ask(bot, "/cost", "last week by servce"))
    assert '"servce"' in text and "service, account" in text
    assert not bot.slack.calls_to("files.getUploadURLExternal")


async def test_cost_help(bot: RunningBot) -> None:
    text = _text(await ask(bot, "/cost", "help"))
    assert "last 7 days by service" in text and "vs last month" in text


async def test_cost_same_day_twice_answers_the_same(bot: RunningBot) -> None:
    first = _text(await ask(bot, "/cost", "last month by team top 3"))
    second = _text(await ask(bot, "/cost", "LAST MONTH by team top 3"))
    assert first.split("\n")[1:3] == second.split("\n")[1:3]
    assert "others" in first


async def test_whoami_shows_the_role_from_config_and_user_groups(bot: RunningBot) -> None:
    assert "*admin*" in _text(await ask(bot, "/finops", "whoami", user=ADMIN))
    assert "*engineer*" in _text(await ask(bot, "/finops", "whoami", user=ENGINEER))  # through S0ENG
    assert "*viewer*" in _text(await ask(bot, "/finops", "whoami", user=VIEWER))  # the default
    assert bot.slack.calls_to("usergroups.users.list")[0].args["usergroup"] == "S0ENG"


async def test_status_shows_freshness_job_runs_and_open_anomalies(bot: RunningBot) -> None:
    from bot.settings import Detection
    from jobs.detect import detect

    await detect(bot.engine, datetime.now(UTC).date(), Detection())
    text = _text(await ask(bot, "/finops", "status"))
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert f"*demo-sample*: data through {yesterday.day} {yesterday:%b %Y}" in text
    assert "*detect*: ok" in text
    assert "Open anomalies" in text


async def test_tags_says_how_to_declare_them_then_reports_last_month(bot: RunningBot) -> None:
    assert "no required tags are declared" in _text(await ask(bot, "/finops", "tags"))
    policy = {"tags": {"required": ["team", "cost-center"], "case": {"keys": "insensitive"}}}
    runner, url = await start_bot(bot.slack, bot.engine, policies=policy)
    try:
        tagged = RunningBot(url, bot.slack, bot.engine, bot.http)
        answer = await ask(tagged, "/finops", "tags by env")
        text = _text(answer)
        last_month = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
        assert f"Tag compliance, {last_month:%B %Y}" in text
        assert "*USD*: *" in text and "• `cost-center`: " in text and "Trend: " in text
        assert "*By environment*, worst score first" in text and "(untagged)" in text
        # The sample's resources, from cost_resources (AWS ARNs, Azure and GCP resource ids).
        assert "*Top untagged resources*\n• `" in text and "missing cost-center" in text
        assert "cannot group by 'colour'" in _text(await ask(tagged, "/finops", "tags by colour"))
    finally:
        await runner.cleanup()


async def test_unknown_finops_verb(bot: RunningBot) -> None:
    assert "/finops help" in _text(await ask(bot, "/finops", "reboot"))


async def test_metrics_count_commands_and_healthz_is_ok(bot: RunningBot) -> None:
    await ask(bot, "/finops", "help")
    status, metrics = await bot.get("/metrics")
    assert status == 200
    assert 'finops_slack_requests_total{kind="command",status="200"}' in metrics
    status, health = await bot.get("/healthz")
    assert status == 200 and json.loads(health)["checks"] == {"slack": "ok", "database": "ok"}
