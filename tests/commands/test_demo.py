"""`finops-bot demo`: the whole pipeline on the sample organisation, shown and never sent."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, make_url, select

from commands import alerts
from commands.cli import blocks
from jobs.demo import REPLAY_DAYS, round_up
from storage.db import connect, unit_of_work
from storage.models import Anomaly, AuditLog, OutboxItem
from tests.cli_runner import RunCli
from tests.fakes.slack import block_kit_problems

END = "2026-10-31"
AS_OF = date(2026, 11, 1)
ARGS = ("demo", "--end", END, "--months", "4")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, database_url: str) -> list[object]:
    """A connection anywhere but the database fails the demo (and is recorded)."""
    attempts: list[object] = []
    url = make_url(database_url)
    database = (url.host, url.port or 5432) if url.host else None
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def allowed(address: Any) -> bool:
        return isinstance(address, tuple) and database is not None and tuple(address[:2]) == database

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if not allowed(address):
            attempts.append(address)
            raise OSError(f"the demo tried to connect to {address}")
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(address):
            attempts.append(address)
            raise OSError(f"the demo tried to connect to {address}")
        return connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    return attempts


def _planted_in_window(document: dict[str, Any]) -> list[str]:
    first = date.fromisoformat(document["detection"]["from"])
    return [p["name"] for p in document["planted_anomalies"] if date.fromisoformat(p["end"]) >= first]


def _count(database_url: str, model: Any) -> int:
    async def count() -> int:
        engine = connect(database_url)
        try:
            async with unit_of_work(engine) as session:
                return int(await session.scalar(select(func.count()).select_from(model)) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


# The terminal rendering and the configured names do not depend on the database: SQLite only
# (the JSON test runs the same pipeline on both).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_demo_finds_the_planted_anomalies_and_shows_what_would_be_sent(
    cli: RunCli, database_url: str, offline: list[object]
) -> None:
    result = cli(*ARGS, database_url=database_url)
    assert result.code == 0, result.err
    out = result.out
    assert "Spend by provider" in out  # the load summary is still there
    assert f"replayed as of 2026-09-21 to {AS_OF} ({REPLAY_DAYS} runs)" in out
    planted = {line.split(":")[0].strip("• "): line for line in out.splitlines() if line.startswith("  • ")}
    for name in ("bigquery-spike-data-prod", "azure-storage-step-web", "sagemaker-new-ml"):
        assert f"planted: {name}" in out  # in the anomaly list
        assert planted[name].endswith(": found")
    assert planted["ec2-spike-data-team"].endswith("before the replayed days (--detect-days 62 finds it)")
    assert "HIGH spike 2026-10-06 (open, new): provider=gcp, service=BigQuery" in out
    # The Slack root messages, rendered for the terminal (mrkdwn converted, buttons as labels).
    assert "Slack: 3 alert message(s) as they would be posted (not sent)" in out
    assert re.search(r"\n  │ High cost spike: \+[\d,]+\.\d\d USD on BigQuery\n", out)
    assert "  │ Scope: provider=gcp · service=BigQuery" in out
    assert "  │ [ Acknowledge ]  [ Snooze ]  [ Mark expected ]" in out
    assert "*Scope*" not in out and ":red_circle:" not in out
    # The Jira issue of the high one (min_severity "high"), in a stand-in project as no Jira is set.
    assert "Jira: 1 issue(s) that would be opened (not sent)" in out
    assert "FINOPS · Task · priority High" in out
    assert re.search(r"\n  Summary: High cost spike: \+[\d,]+\.\d\d USD on BigQuery\n", out)
    assert re.search(r"\n  │ h3. High cost spike: \+[\d,]+\.\d\d USD on BigQuery\n", out)
    # Demo budgets, each with its status.
    for name in ("Data team", "ML team", "Azure Europe"):
        assert f"{name} (created for the demo): " in out
    assert "ON TRACK" in out or "AT RISK" in out or "OVER" in out
    assert not offline
    # Nothing queued for a later `finops-bot run` to send.
    assert _count(database_url, OutboxItem) == 0


def test_demo_json_then_again_on_the_same_database(
    cli: RunCli, database_url: str, offline: list[object]
) -> None:
    first_run = cli(*ARGS, "--json", database_url=database_url)
    assert first_run.code == 0, first_run.err
    first = json.loads(first_run.out)
    for key in ("database", "seed", "period", "line_items", "load", "totals", "planted_anomalies"):
        assert key in first  # what scripts relied on before
    detection = {"from": "2026-09-21", "as_of": str(AS_OF), "runs": REPLAY_DAYS}
    assert first["detection"] == detection | {"new": _count(database_url, Anomaly)}  # related ones too
    found = {a["planted"] for a in first["anomalies"]}
    assert set(_planted_in_window(first)) <= found
    assert len(_planted_in_window(first)) == 3
    for anomaly in first["anomalies"]:
        assert anomaly["new"] and anomaly["status"] == "open"
        for key in ("actual", "expected", "impact"):
            assert isinstance(anomaly[key], str) and Decimal(anomaly[key]) > 0
    # Block Kit as chat.postMessage would get it, within Slack's limits.
    messages = first["slack_messages"]
    assert len(messages) == len(first["anomalies"]) == 3
    for message in messages:
        assert block_kit_problems(message["blocks"]) == []
        assert message["channel"] is None  # no alert channel configured
    # The Jira issue names the anomaly it is about.
    (issue,) = first["jira_issues"]
    bigquery = next(a for a in first["anomalies"] if a["planted"] == "bigquery-spike-data-prod")
    assert issue["fingerprint"] == bigquery["fingerprint"]
    fields = issue["fields"]
    assert fields["summary"] == f"High cost spike: +{Decimal(bigquery['impact']):,.2f} USD on BigQuery"
    assert f"finops-{bigquery['fingerprint']}" in fields["labels"]
    assert "provider=gcp · service=BigQuery" in fields["description"]
    assert bigquery["fingerprint"] in fields["description"]
    assert fields["priority"] == {"name": "High"} and fields["project"] == {"key": "FINOPS"}
    # Budgets: money as decimal strings, created once.
    assert [b["name"] for b in first["budgets"]] == ["Azure Europe", "Data team", "ML team"]
    for budget in first["budgets"]:
        assert budget["created_by_demo"] and budget["state"] in {"on track", "at risk", "over"}
        for key in ("amount", "spent", "forecast"):
            assert isinstance(budget[key], str) and Decimal(budget[key]) >= 0
        assert Decimal(budget["amount"]) % 1000 == 0  # a round figure
    # The budget alerts the budgets job would post this period: the highest threshold each budget
    # crossed, and the forecast alert for one forecast over its amount while spend is under it.
    for budget in first["budgets"]:
        posted = [a["text"] for a in first["budget_alerts"] if a["budget"] == budget["name"]]
        crossed = budget["thresholds_crossed"]
        wanted = [f"{crossed[-1]}% reached"] if crossed else []
        amount, spent = Decimal(budget["amount"]), Decimal(budget["spent"])
        if budget["forecast"] is not None and Decimal(budget["forecast"]) >= amount > spent:
            wanted.insert(0, "forecast")
        assert len(posted) == len(wanted) and all(w in p for w, p in zip(wanted, posted, strict=True)), posted
    assert first["budget_alerts"], "the sample's budgets should have something to say"
    for message in first["budget_alerts"]:
        assert block_kit_problems(message["blocks"]) == [] and message["channel"] is None
    budget_audits = _count(database_url, AuditLog)

    # Again: the load is a no-op, the same anomalies are known (not new) and still shown.
    again_run = cli(*ARGS, "--json", database_url=database_url)
    assert again_run.code == 0, again_run.err
    again = json.loads(again_run.out)
    assert again["load"]["skipped"] and again["detection"]["new"] == 0
    assert [a["fingerprint"] for a in again["anomalies"]] == [a["fingerprint"] for a in first["anomalies"]]
    assert not any(a["new"] for a in again["anomalies"])
    assert len(again["slack_messages"]) == 3 and len(again["jira_issues"]) == 1
    assert [b["created_by_demo"] for b in again["budgets"]] == [False] * 3
    assert _count(database_url, AuditLog) == budget_audits  # no second set of budgets
    assert _count(database_url, OutboxItem) == 0 and not offline
    assert _count(database_url, Anomaly) == first["detection"]["new"]


@SQLITE_ONLY
def test_configured_jira_and_channel_are_used_without_connecting(
    cli: RunCli, database_url: str, offline: list[object], clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("JIRA_URL", "http://127.0.0.1:9")
    clean_env.setenv("JIRA_PROJECT", "OPS")
    clean_env.setenv("FINOPS_ALERT_CHANNEL", "C0123ALERTS")
    clean_env.setenv("FINOPS_JIRA", json.dumps({"min_severity": "medium", "issue_type": "Bug"}))
    result = cli(*ARGS, "--detect-days", "14", "--json", database_url=database_url)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["detection"]["runs"] == 14
    assert {m["channel"] for m in document["slack_messages"]} == {"C0123ALERTS"}
    medium = [a for a in document["anomalies"] if a["severity"] in ("medium", "high", "critical")]
    assert medium and len(document["jira_issues"]) == len(medium)
    for issue in document["jira_issues"]:
        assert issue["fields"]["project"] == {"key": "OPS"}
        assert issue["fields"]["issuetype"] == {"name": "Bug"}
    assert not offline


# --- the terminal rendering of Block Kit ------------------------------------------------------


def _anomaly() -> Anomaly:
    return Anomaly(
        fingerprint="f" * 32,
        scope={"provider": "gcp", "service": "BigQuery"},
        usage_date=date(2026, 10, 6),
        last_date=date(2026, 10, 6),
        currency="USD",
        kind="spike",
        confidence="high",
        actual=Decimal("3659.02"),
        expected=Decimal("1029.51"),
        lower=Decimal("900"),
        upper=Decimal("1200"),
        impact=Decimal("2629.50"),
        pct=255.4,
        severity="high",
        root_cause=[{"scope": {"sub_account": "acme-data-prod"}, "impact": "2640.37", "share": 1.0}],
        status="acknowledged",
        status_by="U0123",
        updated_at=datetime(2026, 10, 7, 9, 30, tzinfo=UTC),
    )


def test_an_anomaly_message_reads_like_slack_shows_it() -> None:
    message = alerts.anomaly_message(_anomaly(), jira=("OPS-7", "https://jira.example.com/browse/OPS-7"))
    assert block_kit_problems(message["blocks"]) == []
    assert blocks.to_plain(message).splitlines() == [
        "High cost spike: +2,629.50 USD on BigQuery",
        "Scope: provider=gcp · service=BigQuery",
        "Actual vs expected: 3,659.02 USD vs 1,029.51 USD expected (+255%)",
        "Impact: +2,629.50 USD on 6 Oct 2026",
        "Since: 6 Oct 2026",
        "Severity: high (high confidence)",
        "Root cause",
        "• sub_account=acme-data-prod: +2,640.37 USD (100%)",
        "👀 Acknowledged by @U0123 at 2026-10-07 09:30 UTC · Jira OPS-7",
        "[ Snooze ]  [ Mark expected ]  [ False positive ]  [ Details in thread ]",
    ]
    lines = blocks.render(message)
    assert lines[0].style == "bold underline"  # the header
    assert [(s.start, s.end, s.style) for s in lines[1].spans] == [(0, 5, "bold")]  # "Scope"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("*Spent* 12 USD", "Spent 12 USD"),
        ("see <https://example.com/x?a=1&amp;b=2|the report>", "see the report"),
        ("<https://example.com>", "https://example.com"),
        ("<@U0123> and <@W0456|dana>", "@U0123 and @dana"),
        ("in <#C0123|finops> or <#C0456>", "in #finops or #C0456"),
        ("<!here> <!channel> <!subteam^S0123|@platform>", "@here @channel @platform"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        (":red_circle: Open :custom_emoji:", "🔴 Open :custom_emoji:"),
        ("_slow_ and `code` and snake_case_name", "slow and code and snake_case_name"),
        ("2 * 3 * 4", "2 * 3 * 4"),
    ],
)
def test_mrkdwn_becomes_readable_text(text: str, shown: str) -> None:
    assert blocks.mrkdwn(text).plain == shown


def test_other_blocks_and_elements() -> None:
    message = {
        "text": "fallback",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Budget* Data"}, "accessory": {
                "type": "button", "text": {"type": "plain_text", "text": "Open"}, "action_id": "a"}},
            {"type": "divider"},
            {"type": "image", "image_url": "https://example.com/c.png", "alt_text": "a chart"},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": "by <@U1>"}, {"type": "plain_text", "text": "today"}]},
            {"type": "actions", "elements": [
                {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Snooze for"},
                 "action_id": "s"},
                {"type": "button", "text": {"type": "plain_text", "text": "Reject"}, "style": "danger",
                 "action_id": "r"}]},
            {"type": "rich_text", "elements": []},
        ],
    }  # fmt: skip
    assert blocks.to_plain(message).splitlines() == [
        "Budget Data",
        "[ Open ]",
        "─" * 40,
        "[image: a chart]",
        "by @U1  ·  today",
        "[ Snooze for ▾ ]  [ Reject ]",
        "[rich_text block]",
    ]
    assert blocks.to_plain({"text": "only *text*"}) == "only text"


@pytest.mark.parametrize(
    ("value", "rounded"),
    [("48312.5", "49000"), ("200000", "200000"), ("200001", "210000"), ("87.2", "88"), ("3.2", "4")],
)
def test_demo_budget_amounts_are_round(value: str, rounded: str) -> None:
    assert round_up(Decimal(value)) == Decimal(rounded)
