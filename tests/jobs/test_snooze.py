"""Snooze expiry: a snooze that is over opens the anomaly again when it is still anomalous, or
resolves it when it has been quiet; audited, its thread told (and its root message updated) once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import load_settings
from commands import alerts
from jobs.notify import plan
from jobs.snooze import expire
from storage import anomalies, outbox
from storage.db import unit_of_work
from storage.models import Anomaly, AuditLog, OutboxItem

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # RESOLVED_AFTER (2 days): seen on 21 Nov or later is recent


def _snoozed(fingerprint: str, last: date, until: datetime, status: str = "snoozed") -> Anomaly:
    return Anomaly(
        fingerprint=fingerprint,
        scope={"provider": "AWS", "service": "Amazon EC2"},
        usage_date=date(2026, 11, 18),
        last_date=last,
        currency="USD",
        actual=Decimal("2000.00"),
        expected=Decimal("1000.00"),
        lower=Decimal("900.00"),
        upper=Decimal("1100.00"),
        impact=Decimal("1000.00"),
        pct=100.0,
        severity="high",
        status=status,
        status_by="U0ENG",
        status_reason="load test",
        snoozed_until=until,
        slack_channel="C0ALERTS",
        slack_ts=f"1700000000.{len(fingerprint):06d}",
        notified_date=date(2026, 11, 18),
        notified_impact=Decimal("1000.00"),
    )


@pytest.fixture
async def snoozed(engine: AsyncEngine) -> AsyncEngine:
    """Alerted anomalies: snoozes over (still anomalous, on the edge, quiet), one not over yet,
    one acknowledged; the quiet one has a Jira issue."""
    past = NOW - timedelta(minutes=1)
    rows = [
        _snoozed("still", date(2026, 11, 22), past),
        _snoozed("edge", date(2026, 11, 21), NOW),
        _snoozed("quiet", date(2026, 11, 20), past - timedelta(days=2)),
        _snoozed("later", date(2026, 11, 20), NOW + timedelta(hours=1)),
        _snoozed("acked", date(2026, 11, 20), past, status="acknowledged"),
    ]
    async with unit_of_work(engine) as session:
        session.add_all(rows)
        for row in rows:
            await outbox.enqueue(session, alerts.root_key(row.fingerprint), "slack.anomaly.root", {})
        await outbox.enqueue(session, alerts.jira_key("quiet"), "jira.create", {"fingerprint": "quiet"})
    return engine


async def _expire(engine: AsyncEngine, now: datetime = NOW) -> list[str]:
    async with unit_of_work(engine) as session:
        return await expire(session, now)


async def _new_items(engine: AsyncEngine, after: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
    async with unit_of_work(engine) as session:
        rows = await session.scalars(select(OutboxItem).where(OutboxItem.id > after).order_by(OutboxItem.id))
        return [(i.idempotency_key, i.kind, i.payload) for i in rows]


async def _last_item_id(engine: AsyncEngine) -> int:
    async with unit_of_work(engine) as session:
        return max((await session.scalars(select(OutboxItem.id))).all())


async def _anomaly(engine: AsyncEngine, fingerprint: str) -> Anomaly:
    async with unit_of_work(engine) as session:
        found = await anomalies.get(session, fingerprint)
    assert found is not None
    return found


async def _audit(engine: AsyncEngine) -> list[AuditLog]:
    async with unit_of_work(engine) as session:
        return list(await session.scalars(select(AuditLog).order_by(AuditLog.id)))


async def test_snoozes_that_are_over_open_again_or_resolve(snoozed: AsyncEngine) -> None:
    engine = snoozed
    before = await _last_item_id(engine)
    assert await _expire(engine) == ["quiet", "still", "edge"]  # by snooze end

    for fp, status in [("still", "open"), ("edge", "open"), ("quiet", "resolved")]:
        anomaly = await _anomaly(engine, fp)
        assert (anomaly.status, anomaly.status_by, anomaly.snoozed_until) == (status, "finops-bot", None)
    assert (await _anomaly(engine, "later")).status == "snoozed"
    assert (await _anomaly(engine, "acked")).status == "acknowledged"

    rows = await _audit(engine)
    assert [(r.actor, r.channel, r.action, r.subject_type, r.subject_id) for r in rows] == [
        ("finops-bot", "job", "anomaly.resolved", "anomaly", "quiet"),
        ("finops-bot", "job", "anomaly.open", "anomaly", "still"),
        ("finops-bot", "job", "anomaly.open", "anomaly", "edge"),
    ]
    assert rows[1].details == {"snoozed_until": "2026-11-23T08:59:00+00:00", "last_date": "2026-11-22"}
    quiet, still, edge = (r.id for r in rows)

    resolved_text = "Snooze over and back to normal: not anomalous since 20 Nov 2026. Resolved."
    still_text = (
        "Snooze over: still anomalous on {}: 2,000.00 USD vs 1,000.00 USD expected (+100%), "
        "impact +1,000.00 USD."
    )
    assert await _new_items(engine, before) == [
        (f"slack-update:quiet:resolved:{quiet}", "slack.anomaly.update", {"fingerprint": "quiet"}),
        (
            f"slack-thread:quiet:resolved:{quiet}",
            "slack.anomaly.thread",
            {"fingerprint": "quiet", "text": resolved_text},
        ),
        (
            f"jira-comment:quiet:resolved:{quiet}",
            "jira.comment",
            {"fingerprint": "quiet", "text": resolved_text},
        ),
        (f"slack-update:still:open:{still}", "slack.anomaly.update", {"fingerprint": "still"}),
        (
            f"slack-thread:still:open:{still}",
            "slack.anomaly.thread",
            {"fingerprint": "still", "text": still_text.format("22 Nov 2026")},
        ),
        (f"slack-update:edge:open:{edge}", "slack.anomaly.update", {"fingerprint": "edge"}),
        (
            f"slack-thread:edge:open:{edge}",
            "slack.anomaly.thread",
            {"fingerprint": "edge", "text": still_text.format("21 Nov 2026")},
        ),
    ]


async def test_a_second_run_does_nothing(snoozed: AsyncEngine) -> None:
    engine = snoozed
    assert len(await _expire(engine)) == 3
    before, audited = await _last_item_id(engine), len(await _audit(engine))
    assert await _expire(engine) == []
    assert await _expire(engine, NOW + timedelta(minutes=30)) == []  # "later" is not over yet
    assert await _new_items(engine, before) == []
    assert len(await _audit(engine)) == audited


async def test_a_snooze_not_over_yet_is_left_alone(snoozed: AsyncEngine) -> None:
    engine = snoozed
    before = await _last_item_id(engine)
    assert await _expire(engine, datetime(2026, 11, 20, tzinfo=UTC)) == []
    assert await _new_items(engine, before) == [] and await _audit(engine) == []
    assert await _expire(engine, NOW + timedelta(hours=1)) == ["quiet", "still", "edge", "later"]
    assert (await _anomaly(engine, "later")).status == "resolved"  # last seen 20 Nov: quiet by now


async def test_detection_does_not_repeat_what_the_snooze_end_told(
    clean_env: pytest.MonkeyPatch, snoozed: AsyncEngine
) -> None:
    """The thread heard "still anomalous on 22 Nov": news planned later is only what is newer."""
    engine = snoozed
    await _expire(engine)
    assert (await _anomaly(engine, "still")).notified_date == date(2026, 11, 22)
    before = await _last_item_id(engine)
    async with unit_of_work(engine) as session:
        assert await plan(session, load_settings(alert_channel="C0ALERTS"), ["still", "edge"]) == []
    assert await _new_items(engine, before) == []


async def test_a_naive_time_is_refused(snoozed: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await _expire(snoozed, NOW.replace(tzinfo=None))


async def test_quiet_anomalies_are_resolved_several_at_once(engine: AsyncEngine) -> None:
    """`resolve_quiet` shares the bot's move with snooze expiry; a move expires the session's
    objects, so every anomaly is read before the first one moves."""
    from jobs.notify import resolve_quiet

    async with unit_of_work(engine) as session:
        session.add_all([_snoozed(fp, date(2026, 11, 18), NOW, status="open") for fp in ("one", "two")])
    async with unit_of_work(engine) as session:
        assert sorted(await resolve_quiet(session, date(2026, 11, 23))) == ["one", "two"]
    assert sorted((r.action, r.subject_id) for r in await _audit(engine)) == [
        ("anomaly.resolved", "one"),
        ("anomaly.resolved", "two"),
    ]
