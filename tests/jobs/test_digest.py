"""The daily digest: yesterday's spend against the usual (checked by hand against the rows
loaded), the open anomalies, the budgets at risk; one message a day, delivered through the outbox."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import web_client
from bot.notify import SlackNotifier
from bot.settings import Channels, Settings, load_settings
from finops.errors import UserError
from jobs.digest import digest
from jobs.outbox import deliver
from storage import budgets
from storage.db import unit_of_work
from storage.models import Anomaly, OutboxItem
from tests.factories import frame, item, load
from tests.fakes.slack import FakeSlack, block_kit_problems
from tests.slack_requests import BOT_TOKEN

TODAY = date(2026, 11, 21)  # a Saturday: "yesterday" is Friday 20 Nov
EC2, S3 = "Amazon EC2", "Amazon S3"
# USD: EC2 at 100.00 a day, but for these days (the digest's Friday, the four Fridays before it,
# and a Thursday and a fifth Friday that must not count); S3 on the digest's day only.
USD_EC2 = {
    date(2026, 11, 20): Decimal("150.00"),
    date(2026, 11, 19): Decimal("999.00"),
    date(2026, 11, 13): Decimal("110.10"),
    date(2026, 11, 6): Decimal("120.20"),
    date(2026, 10, 30): Decimal("90.30"),
    date(2026, 10, 23): Decimal("100.45"),
    date(2026, 10, 16): Decimal("500.00"),
}
USD_S3 = {date(2026, 11, 20): Decimal("30.00")}
# EUR from 5 Nov only: two Fridays before the digest's day.
EUR = {
    date(2026, 11, 20): Decimal("40.00"),
    date(2026, 11, 13): Decimal("60.00"),
    date(2026, 11, 6): Decimal("55.50"),
}
DIGEST, ALERTS = "C0DIGEST", "C0ALERTS"


def _usd(day: date) -> Decimal:
    return USD_EC2.get(day, Decimal("100.00"))


def _eur(day: date) -> Decimal:
    return EUR.get(day, Decimal("50.00"))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def _load_costs(engine: AsyncEngine, last: date = date(2026, 11, 20)) -> None:
    items = [item(d.isoformat(), str(_usd(d)), service=EC2) for d in _days(date(2026, 10, 1), last)]
    items += [item(d.isoformat(), str(c), service=S3) for d, c in USD_S3.items() if d <= last]
    items += [
        item(d.isoformat(), str(_eur(d)), provider="Azure", account="sub-1", currency="EUR", service="VMs")
        for d in _days(date(2026, 11, 5), last)
    ]
    await load(engine, frame(*items))


def _anomaly(fingerprint: str, severity: str, impact: str, status: str = "open", **more: Any) -> Anomaly:
    value = Decimal(impact)
    return Anomaly(
        fingerprint=fingerprint,
        scope={"provider": "AWS", "service": f"svc-{fingerprint}"},
        usage_date=date(2026, 11, 18),
        last_date=date(2026, 11, 20),
        currency="USD",
        actual=value * 2,
        expected=value,
        lower=value / 2,
        upper=value * Decimal("1.5"),
        impact=value,
        pct=100.0,
        severity=severity,
        status=status,
        **more,
    )


async def _add_anomalies(engine: AsyncEngine) -> None:
    async with unit_of_work(engine) as session:
        session.add_all(
            [
                _anomaly("a1", "critical", "900", slack_channel=ALERTS, slack_ts="1700000000.000100"),
                _anomaly("b2", "high", "500", "acknowledged"),
                _anomaly("c3", "high", "800", group_fingerprint="a1"),  # the same event as a1
                _anomaly("d4", "medium", "700", "resolved"),
                _anomaly("e5", "medium", "600", "snoozed"),
                *(_anomaly(f"l{n}", "low", f"{n}0") for n in range(1, 5)),
            ]
        )


def _settings(**changes: Any) -> Settings:
    """Settings for a test that uses `clean_env` (nothing from the shell leaks in)."""
    return load_settings(slack_bot_token=BOT_TOKEN, **changes)


async def _run(engine: AsyncEngine, settings: Settings, today: date = TODAY) -> str | None:
    async with unit_of_work(engine) as session:
        return await digest(session, settings, today)


async def _outbox(engine: AsyncEngine) -> list[OutboxItem]:
    async with unit_of_work(engine) as session:
        return list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def _texts(payload: dict[str, Any]) -> str:
    """Every mrkdwn and plain text of the message's blocks."""
    found = []
    for block in payload["blocks"]:
        for part in [block.get("text"), *block.get("elements", [])]:
            if isinstance(part, dict) and "text" in part:
                found.append(part["text"])
    return "\n".join(found)


async def test_spend_against_the_usual_matches_a_hand_computation(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    await _load_costs(engine)
    assert await _run(engine, _settings(channels=Channels(digest=DIGEST))) == "digest:2026-11-21"
    [queued] = await _outbox(engine)
    assert (queued.kind, queued.idempotency_key, queued.payload["channel"]) == (
        "slack.post",
        "digest:2026-11-21",
        DIGEST,
    )
    text = _texts(queued.payload)
    assert block_kit_problems(queued.payload["blocks"]) == []

    usd = Decimal("150.00") + Decimal("30.00")  # EC2 and S3 on Friday 20 Nov
    usd_usual = (Decimal("110.10") + Decimal("120.20") + Decimal("90.30") + Decimal("100.45")) / 4
    assert usd_usual == Decimal("105.2625")
    usd_change = ((usd - usd_usual) / usd_usual * 100).quantize(Decimal("0.1"))
    assert usd_change == Decimal("71.0")
    assert "*Spend yesterday, Friday 20 Nov 2026*" in text
    assert "• *180.00 USD*, +71.0% vs usual 105.26 USD\n" in text

    eur_usual = (Decimal("60.00") + Decimal("55.50")) / 2  # only two Fridays since 5 Nov
    eur_change = ((Decimal("40.00") - eur_usual) / eur_usual * 100).quantize(Decimal("0.1"))
    assert (eur_usual, eur_change) == (Decimal("57.75"), Decimal("-30.7"))
    assert "• *40.00 EUR*, -30.7% vs usual 57.75 EUR (from 2 Fridays only)" in text
    assert text.index("USD") < text.index("EUR")  # the biggest first
    assert (
        "average spend of the same weekday over the previous 4 weeks (Fridays 23 Oct 2026 to 13 Nov" in text
    )
    assert queued.payload["text"].startswith(
        "FinOps digest, 21 Nov 2026: spend on 20 Nov 2026: 180.00 USD (+71.0% vs usual 105.26 USD), "
        "40.00 EUR (-30.7% vs usual 57.75 EUR); 0 open anomalies"
    )
    assert "Budgets" not in text and "budgets" not in queued.payload["text"]  # there are none


async def test_late_data_names_the_day_it_is(clean_env: pytest.MonkeyPatch, engine: AsyncEngine) -> None:
    await _load_costs(engine)
    await _run(engine, _settings(alert_channel=ALERTS), date(2026, 11, 23))
    [queued] = await _outbox(engine)
    text = _texts(queued.payload)
    assert queued.payload["channel"] == ALERTS  # no digest channel: the alert channel
    assert "*Spend on Friday 20 Nov 2026*, the latest day with data (22 Nov 2026 is not in yet)" in text
    assert "• *180.00 USD*, +71.0% vs usual 105.26 USD" in text


async def test_no_data_yet_says_so(clean_env: pytest.MonkeyPatch, engine: AsyncEngine) -> None:
    await _run(engine, _settings(alert_channel=ALERTS))
    [queued] = await _outbox(engine)
    assert "*Spend*: no cost data up to 20 Nov 2026 yet." in _texts(queued.payload)
    assert block_kit_problems(queued.payload["blocks"]) == []


async def test_a_rerun_the_same_day_enqueues_nothing(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    await _load_costs(engine)
    settings = _settings(channels=Channels(digest=DIGEST))
    assert await _run(engine, settings) == "digest:2026-11-21"
    assert await _run(engine, settings) is None
    assert [i.idempotency_key for i in await _outbox(engine)] == ["digest:2026-11-21"]
    assert await _run(engine, settings, TODAY + timedelta(days=1)) == "digest:2026-11-22"  # a new day


async def test_without_a_channel_it_says_what_to_set(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    with pytest.raises(UserError, match=r"set digest under \[channels\] in FINOPS_CONFIG"):
        await _run(engine, _settings())
    assert await _outbox(engine) == []


async def test_open_anomalies_and_budgets_at_risk_appear(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    await _load_costs(engine)
    await _add_anomalies(engine)
    november = sum((_usd(d) for d in _days(date(2026, 11, 1), date(2026, 11, 20))), Decimal(0)) + Decimal(
        "30"
    )
    assert november == Decimal("3009.30")
    async with unit_of_work(engine) as session:
        for name, amount in (("over", "2500"), ("tight", "3500"), ("roomy", "100000")):
            spec = budgets.BudgetSpec(name, Decimal(amount))
            await budgets.save(session, spec, actor="U0ENG", channel="test")
    await _run(engine, _settings(channels=Channels(digest=DIGEST)))
    [queued] = await _outbox(engine)
    text = _texts(queued.payload)
    assert block_kit_problems(queued.payload["blocks"]) == []

    # Representatives open or acknowledged: a1, b2 and the four lows; the biggest five listed.
    assert "*Open anomalies*: 1 critical, 1 high, 4 low; the 5 biggest:" in text
    lines = [line for line in text.splitlines() if line.startswith("• :")]
    assert [line.split("svc-")[1][:2] for line in lines] == ["a1", "b2", "l4", "l3", "l2"]
    assert lines[0] == (
        "• :red_circle: Critical cost spike: +900.00 USD on svc-a1 (last seen 20 Nov 2026), thread in <#C0ALERTS>"
    )
    assert lines[1].startswith("• :eyes: High cost spike: +500.00 USD on svc-b2") and "<#" not in lines[1]

    assert "*Budgets at risk or over*" in text
    assert "*over* (over): 3,009.30 USD of 2,500.00 USD (120.4%)" in text
    assert "*tight* (at risk): 3,009.30 USD of 3,500.00 USD (86.0%)" in text
    assert "roomy" not in text
    assert text.index("*over*") < text.index("*tight*")
    assert queued.payload["text"].endswith("; 6 open anomalies; 2 of 3 budgets at risk or over")


async def test_all_budgets_on_track_is_one_line(clean_env: pytest.MonkeyPatch, engine: AsyncEngine) -> None:
    await _load_costs(engine)
    async with unit_of_work(engine) as session:
        await budgets.save(
            session, budgets.BudgetSpec("roomy", Decimal(100000)), actor="U0ENG", channel="test"
        )
    await _run(engine, _settings(alert_channel=ALERTS))
    [queued] = await _outbox(engine)
    assert "*Budgets*: all 1 on track." in _texts(queued.payload)


async def test_delivered_through_the_outbox_to_slack(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    await _load_costs(engine)
    await _add_anomalies(engine)
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        settings = _settings(slack_api_url=slack.api_url, channels=Channels(digest=DIGEST))
        await _run(engine, settings)
        done = await deliver(engine, SlackNotifier(web_client(settings)).senders())
        assert done.sent == ["digest:2026-11-21"]
        [post] = slack.calls_to("chat.postMessage")
        assert slack.problems == []
    [queued] = await _outbox(engine)
    assert post.args["channel"] == DIGEST
    assert post.args["text"] == queued.payload["text"]
    assert post.args["blocks"] == queued.payload["blocks"]
    assert "• *180.00 USD*, +71.0% vs usual 105.26 USD" in _texts(post.args)
    assert (queued.status, queued.result) == ("sent", {"channel": DIGEST, "ts": post_ts(slack, DIGEST)})
    assert (await deliver(engine, SlackNotifier(web_client(settings)).senders())).sent == []  # sent once


def post_ts(slack: FakeSlack, channel: str) -> str:
    [(_, ts)] = [key for key in slack.messages if key[0] == channel]
    return ts


MONDAY = date(2026, 11, 23)
POLICY = {"tags": {"required": ["owner", "cost-center"], "case": {"keys": "insensitive"}}}
FULL = {"owner": "ann", "Cost-Center": "cc1"}  # any case: the policy's keys are case-insensitive
# (day, cost, tags, account, service): the week before last, last week, and days outside both.
TAGGED = (
    (date(2026, 11, 8), "999.00", {}, "A", EC2),
    (date(2026, 11, 10), "100.00", FULL, "A", EC2),
    (date(2026, 11, 11), "100.00", {}, "A", EC2),
    (date(2026, 11, 16), "150.00", FULL, "A", EC2),
    (date(2026, 11, 18), "30.00", {"owner": "bob"}, "B", S3),
    (date(2026, 11, 20), "20.00", {"cost-center": "cc2"}, "A", EC2),
    (date(2026, 11, 23), "999.00", {}, "A", EC2),
)


async def _load_tagged(engine: AsyncEngine) -> None:
    await load(
        engine, frame(*(item(d.isoformat(), c, tags=t, account=a, service=s) for d, c, t, a, s in TAGGED))
    )


def _week(start: date) -> tuple[Decimal, Decimal, dict[str, Decimal]]:
    """Total, compliant cost and untagged cost per account/service of the week from `start`."""
    total, compliant, untagged = Decimal(0), Decimal(0), dict[str, Decimal]()
    for d, c, t, a, s in TAGGED:
        if start <= d < start + timedelta(weeks=1):
            total += Decimal(c)
            if {k.lower() for k, v in t.items() if v} >= {"owner", "cost-center"}:
                compliant += Decimal(c)
            else:
                untagged[f"{a}/{s}"] = untagged.get(f"{a}/{s}", Decimal(0)) + Decimal(c)
    return total, compliant, untagged


async def test_monday_digest_has_the_tags_line(clean_env: pytest.MonkeyPatch, engine: AsyncEngine) -> None:
    await _load_tagged(engine)
    await _run(engine, _settings(channels=Channels(digest=DIGEST), policies=POLICY), MONDAY)
    [queued] = await _outbox(engine)
    assert block_kit_problems(queued.payload["blocks"]) == []

    total, compliant, untagged = _week(date(2026, 11, 16))
    before_total, before_compliant, _ = _week(date(2026, 11, 9))
    score = (compliant / total * 100).quantize(Decimal("0.1"))
    before = (before_compliant / before_total * 100).quantize(Decimal("0.1"))
    most = max(untagged, key=lambda k: untagged[k])
    assert (score, before, most) == (Decimal("75.0"), Decimal("50.0"), "B/Amazon S3")
    line = (
        f"*Tags*: {score}% of last week's cost carries owner, cost-center ({score - before:+} pts on the "
        f"week before); {total - compliant:,.2f} USD untagged, most in {most}"
    )
    assert line in _texts(queued.payload)
    assert queued.payload["text"].endswith("; 75.0% of last week's cost carries the required tags")


async def test_no_tags_line_on_other_days_or_without_required_tags(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    await _load_tagged(engine)
    await _run(
        engine, _settings(channels=Channels(digest=DIGEST), policies=POLICY), MONDAY - timedelta(days=1)
    )
    await _run(engine, _settings(channels=Channels(digest=DIGEST)), MONDAY)
    no_keys = {"tags": {"allowed": {"env": ["prod"]}}}
    await _run(
        engine, _settings(channels=Channels(digest=DIGEST), policies=no_keys), MONDAY + timedelta(weeks=1)
    )
    broken = {"tags": {"required": "owner"}}  # not a list: logged, and the digest goes out without it
    await _run(
        engine, _settings(channels=Channels(digest=DIGEST), policies=broken), MONDAY + timedelta(weeks=2)
    )
    sent = await _outbox(engine)
    assert len(sent) == 4
    for queued in sent:
        assert "Tags" not in _texts(queued.payload) and "tags" not in queued.payload["text"]
    # Idempotent as before: the same Monday again enqueues nothing.
    assert await _run(engine, _settings(channels=Channels(digest=DIGEST), policies=POLICY), MONDAY) is None
